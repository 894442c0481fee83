#!/usr/bin/env bash
# A/B of two mount binaries on small-file reads (docs/benchmarks.md, "Small files read").
# One local cluster started with this tree's binary, whose mount is "new"; a second mount of the
# same cluster run by OTHER_BIN (e.g. a build of an earlier commit) is "old". FILES files of
# 4 KiB are written once; then each mount reads all of them once to warm up and ROUNDS times in
# alternating order (open, read, close per file, one at a time). Prints files/s per round.
#
#   scripts/bench-ab-small-reads.sh OTHER_BIN      (needs root: mounts)
# Knobs: FILES (default 5000), ROUNDS (default 4).
set -euo pipefail
if [[ $# -ne 1 || "$1" == "--help" || "$1" == "-h" ]]; then
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
  [[ $# -eq 1 ]] && exit 0 || exit 2
fi
other=$(realpath "$1")
cd "$(dirname "$0")/.."
BIN=${HF3FS_BIN:-build/release/apps/hf3fs}
dir=$(mktemp -d /var/tmp/hf3fs-bench-ab.XXXXXX)
other_pid=""
cleanup() {
  if [[ -n "$other_pid" ]]; then kill "$other_pid" 2>/dev/null || true; wait "$other_pid" 2>/dev/null || true; fi
  "$BIN" local down --dir "$dir" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
"$BIN" local up --dir "$dir" --mount "$dir/new" --detach >/dev/null
mgmtd=$("$BIN" local status --dir "$dir" --json | jq -r '.processes[]|select(.name=="mgmtd")|.ports[0]')
mkdir -p "$dir/old"
"$other" mount "$dir/old" --mgmtd "127.0.0.1:$mgmtd" --config.rpc.key_file="$dir/keys/client.key" \
  --config.server.listen=127.0.0.1:0 --config.server.http_listen=127.0.0.1:0 >"$dir/old.log" 2>&1 &
other_pid=$!
for _ in $(seq 100); do grep -q " $dir/old " /proc/mounts && break; sleep 0.2; done
grep -q " $dir/old " /proc/mounts || { echo "second mount did not come up: $(cat "$dir/old.log")" >&2; exit 1; }
/usr/bin/python3 - "$dir" "${FILES:-5000}" "${ROUNDS:-4}" <<'PY'
import os, sys, time
d, files, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(f"{d}/new/s")
data = os.urandom(4096)
names = [f"s/f{i:06d}" for i in range(files)]
for n in names:
    with open(f"{d}/new/{n}", "wb") as f:
        f.write(data)
def run(m):
    t = time.time()
    for n in names:
        fd = os.open(f"{d}/{m}/{n}", os.O_RDONLY)
        os.read(fd, 8192)
        os.close(fd)
    return len(names) / (time.time() - t)
for m in ("new", "old"):
    run(m)
for r in range(rounds):
    for m in (("new", "old") if r % 2 == 0 else ("old", "new")):
        print(f"round {r + 1} {m}: {run(m):.0f} files/s", flush=True)
PY
