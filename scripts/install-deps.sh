#!/usr/bin/env bash
# Installs every Debian 12 package hf3fs needs to build, test and run. Idempotent: packages already
# present are skipped, so a second run costs one dpkg query.
#
# Why each group is here:
#   toolchain      g++ 12 (C++20), clang 14 + its runtime (libFuzzer, sanitizers), CMake, Ninja, ccache
#   network/http   Boost 1.81 (Asio + Beast; never libboost-all-dev, which pulls 1.74)
#   security       OpenSSL (HMAC-SHA256 and random keys for connection authentication, later TLS)
#   messages       protobuf (RPC message schemas in proto/)
#   common         spdlog + fmt (logging), toml++ (config), CLI11 (command line), nlohmann-json (JSON
#                  output), ISA-L (CRC32C), zstd, xxhash, jemalloc
#   storage        liburing (O_DIRECT disk I/O), RocksDB 7.8 (embedded KV, chunk metadata)
#   metadata       libpq + PostgreSQL 15 server (shared KV store; tests start throwaway servers)
#   client         libfuse3 + fuse3 (mount)
#   tests          GoogleTest/GoogleMock, Google Benchmark, prometheus (promtool checks /metrics),
#                  python3-pytest, fio, curl (quickstart health checks)
set -euo pipefail

PACKAGES=(
  build-essential g++ clang-14 libclang-rt-14-dev cmake ninja-build ccache pkg-config git
  libboost1.81-dev
  libssl-dev
  protobuf-compiler libprotobuf-dev
  libspdlog-dev libfmt-dev libtomlplusplus-dev libcli11-dev nlohmann-json3-dev
  libisal-dev libzstd-dev libxxhash-dev libjemalloc-dev
  liburing-dev librocksdb-dev
  libpq-dev postgresql postgresql-contrib
  libfuse3-dev fuse3
  libgtest-dev libgmock-dev libbenchmark-dev
  prometheus python3 python3-pytest fio procps iproute2 util-linux curl
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# --no-install-recommends keeps prometheus from dragging in a web UI stack we never start.
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
# The postgresql package starts a cluster-wide server on install; hf3fs tests run their own
# throwaway servers, so the system one is left as Debian configured it.
