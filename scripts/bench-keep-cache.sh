#!/usr/bin/env bash
# A second pass over a data set without dropping the page cache (docs/benchmarks.md, "Page cache
# across opens"). One local cluster (R = 3) with two mounts of it: the cluster's own with
# `mount.keep_cache` on (the default) and a second with it off (every open drops the file's
# pages, the behaviour before). A 2 GiB file is written once; then, ROUNDS times and for each
# mount: drop the page cache, read the file three times with 1 MiB requests (fio, buffered,
# `--invalidate=0`: fio itself would otherwise drop the file's pages before each pass).
# Prints one line per round and mount: MiB/s of each pass.
#
#   scripts/bench-keep-cache.sh          (needs root: mounts, drop_caches)
# Knobs: ROUNDS (default 3), SIZE (default 2g).
set -euo pipefail
if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
cd "$(dirname "$0")/.."
BIN=${HF3FS_BIN:-build/release/apps/hf3fs}
ROUNDS=${ROUNDS:-3}
SIZE=${SIZE:-2g}
source scripts/lib-two-mounts.sh
two_mounts on off "$BIN" --config.mount.keep_cache=false
fio --name=prep --directory="$dir/on" --filename=data --size="$SIZE" --rw=write --bs=1m \
  --end_fsync=1 --output-format=json >/dev/null
pass() {
  fio --name=read --filename="$1/data" --size="$SIZE" --rw=read --bs=1m --invalidate=0 \
    --output-format=json | jq '.jobs[0].read.bw_bytes/1048576|floor'
}
for round in $(seq "$ROUNDS"); do
  for m in on off; do
    sync
    echo 3 >/proc/sys/vm/drop_caches
    a=$(pass "$dir/$m")
    b=$(pass "$dir/$m")
    c=$(pass "$dir/$m")
    echo "round $round keep_cache=$m pass1=$a pass2=$b pass3=$c MiB/s"
  done
done
