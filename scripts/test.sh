#!/usr/bin/env bash
# The whole hf3fs test suite, as CI runs it: install dependencies, build (release preset, ccache),
# fuzz every decoder for a bounded time, then run every ctest test. Exits non-zero on any failure.
#
# Knobs: FUZZ_SECONDS (per fuzz target, default 15), CTEST_JOBS (default 2), SKIP_DEPS=1.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

FUZZ_SECONDS=${FUZZ_SECONDS:-15}
CTEST_JOBS=${CTEST_JOBS:-2}

if [[ "${SKIP_DEPS:-0}" != 1 ]]; then
  bash scripts/install-deps.sh
fi
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
# Paths relative to the checkout, so a fresh clone in another folder reuses the cache.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root}

echo "== build (release)"
cmake --preset release >/dev/null
cmake --build --preset release

echo "== fuzz (${FUZZ_SECONDS}s per target)"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
for target in fuzz_rpc_frame fuzz_config fuzz_meta_ops fuzz_chunk_updates; do
  corpus="$root/build/fuzz/corpus/${target#fuzz_}"
  mkdir -p "$corpus"
  # The checked-in seeds are read-only input; new findings go to the build directory.
  "$root/build/fuzz/tests/fuzz/$target" -max_total_time="$FUZZ_SECONDS" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 "$corpus" "$root/tests/fuzz/corpus/${target#fuzz_}" \
    >"$root/build/fuzz/$target.log" 2>&1 || {
    echo "fuzz target $target failed; its log:"; tail -50 "$root/build/fuzz/$target.log"; exit 1;
  }
  grep -E "^stat::number_of_executed_units" "$root/build/fuzz/$target.log" | sed "s/^/$target: /"
done

echo "== tests"
ctest --preset release -j "$CTEST_JOBS" --timeout 600
