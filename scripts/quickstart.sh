#!/usr/bin/env bash
# Quick start: install dependencies, build, and run what hf3fs has so far.
#
# Today that is the RPC layer every hf3fs service is built on: this script starts an RPC server
# process (Core service, /metrics and /healthz over HTTP), measures it against raw TCP from a
# second process, prints the figures and keeps the server running in the foreground until you
# press Ctrl-C. When the cluster roles land, this becomes `hf3fs local up` with a mounted file
# system.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target hf3fs

bin=build/release/apps/hf3fs
rpc_port=${RPC_PORT:-8590}
http_port=${HTTP_PORT:-8591}

"$bin" bench rpc-server --config.server.listen=127.0.0.1:$rpc_port \
  --config.server.http_listen=127.0.0.1:$http_port &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$http_port/healthz" >/dev/null 2>&1 && break
  kill -0 $server 2>/dev/null || { echo "the server did not start (see its log above)"; exit 1; }
  sleep 0.1
done

echo
echo "== RPC figures against the server on 127.0.0.1:$rpc_port"
"$bin" bench rpc --connect 127.0.0.1:$rpc_port --seconds 2
echo "== in-process, with raw TCP measured in the same run"
"$bin" bench rpc --seconds 2
echo
echo "The server is still running: metrics at http://127.0.0.1:$http_port/metrics,"
echo "health at http://127.0.0.1:$http_port/healthz. Press Ctrl-C to stop it."
wait $server
