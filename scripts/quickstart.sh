#!/usr/bin/env bash
# Quick start: install dependencies, build, and run a local hf3fs cluster in the foreground.
#
# `hf3fs local up` starts mgmtd (embedded RocksDB store), three storage nodes with chains of three
# replicas, a meta server (embedded RocksDB) and the FUSE mount under ./local-cluster (created the
# first time, restarted with its data after), prints the mount path and keeps running until Ctrl-C
# (which unmounts and stops everything).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target hf3fs

bin=$(pwd)/build/release/apps/hf3fs
dir=${HF3FS_LOCAL_DIR:-$(pwd)/local-cluster}
cat <<MSG
Starting a local cluster in $dir, mounted at $dir/mnt. In another shell, try:
  cp -r /usr/share/doc $dir/mnt/ && ls $dir/mnt/doc | head
  $bin local status --dir $dir
  export HF3FS_MGMTD=<the mgmtd address printed below>
  export HF3FS_KEY_FILE=$dir/keys/admin.key   # every connection authenticates
  $bin admin list-chains
  $bin admin statfs --meta <the meta address printed below>
MSG
exec "$bin" local up --dir "$dir" --mount "$dir/mnt"
