#!/usr/bin/env bash
# Quick start: install dependencies, build, and run what hf3fs has so far in the foreground.
#
# Today that is the cluster manager: this script starts `hf3fs mgmtd` with its embedded RocksDB
# store under ./local-cluster, initializes the cluster the first time, shows it with the admin CLI
# and keeps running until Ctrl-C (state survives restarts). Storage, metadata and the FUSE mount
# arrive with their issues; then this becomes `hf3fs local up` with a mounted file system.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target hf3fs

bin=$(pwd)/build/release/apps/hf3fs
dir=${HF3FS_LOCAL_DIR:-$(pwd)/local-cluster}
rpc=${MGMTD_ADDRESS:-127.0.0.1:8000}
http=${MGMTD_HTTP_ADDRESS:-127.0.0.1:8001}
mkdir -p "$dir"

"$bin" mgmtd --config.server.listen="$rpc" --config.server.http_listen="$http" \
  --config.kv.rocksdb.path="$dir/mgmtd-kv" --config.log.file="$dir/mgmtd.log" &
mgmtd=$!
trap 'kill -TERM $mgmtd 2>/dev/null; wait $mgmtd 2>/dev/null' EXIT
export HF3FS_MGMTD=$rpc
for _ in $(seq 100); do
  "$bin" admin who-is-primary --json 2>/dev/null | grep -q '"is_primary":true' && break
  kill -0 $mgmtd 2>/dev/null || { echo "mgmtd did not start; see $dir/mgmtd.log"; exit 1; }
  sleep 0.1
done
"$bin" admin init-cluster local >/dev/null

cat <<MSG

hf3fs mgmtd is running at $rpc (state in $dir, log in $dir/mgmtd.log).
  metrics:  curl http://$http/metrics
  try:      export HF3FS_MGMTD=$rpc
            $bin admin register-node 10001 storage
            $bin admin list-nodes
            $bin admin gen-placement --nodes 3 --replicas 3 --out $dir/placement
            $bin bench rpc
Press Ctrl-C to stop.
MSG
wait $mgmtd
