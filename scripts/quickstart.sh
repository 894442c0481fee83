#!/usr/bin/env bash
# Quick start: install dependencies, build, and run a local hf3fs cluster in the foreground.
#
# `hf3fs local up` starts mgmtd (embedded RocksDB store) and three storage nodes with chains of
# three replicas under ./local-cluster (created the first time, restarted with its data after), and
# keeps running until Ctrl-C. The metadata service and the FUSE mount join it with their issues.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target hf3fs

bin=$(pwd)/build/release/apps/hf3fs
dir=${HF3FS_LOCAL_DIR:-$(pwd)/local-cluster}
cat <<MSG
Starting a local cluster in $dir (addresses below). In another shell, try:
  $bin local status --dir $dir
  export HF3FS_MGMTD=<the mgmtd address printed below>
  $bin admin list-chains
  $bin admin target-info --node 101
  $bin bench storage --mgmtd \$HF3FS_MGMTD
MSG
exec "$bin" local up --dir "$dir"
