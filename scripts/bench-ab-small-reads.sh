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
source scripts/lib-two-mounts.sh
two_mounts new old "$other"
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
