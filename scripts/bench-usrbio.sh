#!/usr/bin/env bash
# USRBIO beside FUSE on the same mount, files and run: fio (libaio, O_DIRECT) through the FUSE
# mount and `hf3fs bench usrbio` through libhf3fs_usrbio, on the same file, plus raw loopback TCP
# (`hf3fs bench rpc`) as the ceiling of a 1 MiB stream. Prints one JSON object with every figure
# and the ratios the USRBIO aims name (docs/benchmarks.md, section USRBIO).
#
#   scripts/bench-usrbio.sh [MOUNT]     (default: start a local cluster in a temporary directory)
# Knobs: RUNTIME (seconds per run, default 8), SIZE (file size, default 1GiB).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${HF3FS_BIN:-build/release/apps/hf3fs}
RUNTIME=${RUNTIME:-8}
SIZE=${SIZE:-1GiB}
mount=${1:-}
dir=""
if [[ -z "$mount" ]]; then
  dir=$(mktemp -d /tmp/hf3fs-bench-usrbio.XXXXXX)
  "$BIN" local up --dir "$dir" --mount "$dir/mnt" --detach >/dev/null
  trap '"$BIN" local down --dir "$dir" >/dev/null; rm -rf "$dir"' EXIT
  mount="$dir/mnt"
fi
mkdir -p "$mount/bench-usrbio"
file="$mount/bench-usrbio/data"
fio --name=layout --filename="$file" --rw=write --bs=1M --size="${SIZE%iB}" --direct=1 \
  --ioengine=libaio --iodepth=8 --output-format=terse >/dev/null

fio_json() {  # rw bs iodepth numjobs
  sync; echo 3 >/proc/sys/vm/drop_caches
  fio --name=t --filename="$file" --rw="$1" --bs="$2" --iodepth="$3" --numjobs="$4" --direct=1 \
    --ioengine=libaio --time_based --runtime="$RUNTIME" --group_reporting --output-format=json
}
usrbio_json() {  # rw bs iodepth numjobs
  sync; echo 3 >/proc/sys/vm/drop_caches
  "$BIN" bench usrbio --file "$file" --rw "$1" --bs "$2" --iodepth "$3" --numjobs "$4" \
    --size "$SIZE" --runtime "$RUNTIME" --json
}
declare -A out
for spec in "randread 4k 32 1" "randread 4k 64 2" "read 1M 8 1" "read 1M 16 1" "randwrite 4k 32 1" \
            "write 1M 8 1"; do
  read -r rw bs depth jobs <<<"$spec"
  key="${rw}_${bs}_qd${depth}_j${jobs}"
  out["fio_$key"]=$(fio_json "$rw" "$bs" "$depth" "$jobs")
  ubs=${bs/k/KiB}
  out["usrbio_$key"]=$(usrbio_json "$rw" "${ubs/M/MiB}" "$depth" "$jobs")
done
rpc=$("$BIN" bench rpc --json --seconds 2)
{
  for k in "${!out[@]}"; do printf '%s\t%s\n' "$k" "$(tr -d '\n' <<<"${out[$k]}")"; done
  printf 'rpc\t%s\n' "$rpc"
} | /usr/bin/python3 -c '
import json, sys
rows = dict(line.rstrip("\n").split("\t", 1) for line in sys.stdin)
res = {"raw_tcp_mib_s": json.loads(rows.pop("rpc"))["raw_tcp_mib_s"]}
for k, v in sorted(rows.items()):
    j = json.loads(v)
    if k.startswith("fio_"):
        job = j["jobs"][0]
        side = job["read"] if job["read"]["io_bytes"] else job["write"]
        pct = side["clat_ns"]["percentile"]
        res[k] = {"mib_s": round(side["bw"] / 1024, 1), "iops": round(side["iops"]),
                  "lat_p50_us": round(pct["50.000000"] / 1000), "lat_p99_us": round(pct["99.000000"] / 1000)}
    else:
        res[k] = {x: (round(j[x], 1) if isinstance(j[x], float) else j[x])
                  for x in ("mib_s", "iops", "lat_p50_us", "lat_p99_us", "errors")}
for k in list(res):
    if k.startswith("usrbio_") and "fio_" + k[7:] in res:
        res["ratio_" + k[7:]] = round(res[k]["iops"] / max(res["fio_" + k[7:]]["iops"], 1), 2)
res["usrbio_read_1M_vs_raw_tcp"] = round(res["usrbio_read_1M_qd16_j1"]["mib_s"] / res["raw_tcp_mib_s"], 2)
print(json.dumps(res, indent=1))
'
