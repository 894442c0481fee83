# Sourced by the A/B benchmark scripts: a local cluster in a temporary directory with its own mount
# at $dir/$1, plus a second mount of it at $dir/$2 run by another binary or with other settings.
# Needs BIN (the hf3fs binary that runs the cluster). Sets `dir`; everything goes at exit.
#   two_mounts FIRST SECOND SECOND_BIN [extra `hf3fs mount` arguments...]
two_mounts() {
  local first=$1 second=$2 second_bin=$3
  shift 3
  dir=$(mktemp -d /var/tmp/hf3fs-bench.XXXXXX)
  trap '_two_mounts_cleanup' EXIT
  "$BIN" local up --dir "$dir" --mount "$dir/$first" --detach >/dev/null
  local mgmtd
  mgmtd=$("$BIN" local status --dir "$dir" --json | jq -r '.processes[]|select(.name=="mgmtd")|.ports[0]')
  mkdir -p "$dir/$second"
  "$second_bin" mount "$dir/$second" --mgmtd "127.0.0.1:$mgmtd" \
    --config.rpc.key_file="$dir/keys/client.key" --config.server.listen=127.0.0.1:0 \
    --config.server.http_listen=127.0.0.1:0 "$@" >"$dir/$second.log" 2>&1 &
  _second_pid=$!
  for _ in $(seq 100); do grep -q " $dir/$second " /proc/mounts && return 0; sleep 0.2; done
  echo "the second mount did not come up: $(cat "$dir/$second.log")" >&2
  exit 1
}

_two_mounts_cleanup() {
  if [[ -n "${_second_pid:-}" ]]; then
    kill "$_second_pid" 2>/dev/null || true
    wait "$_second_pid" 2>/dev/null || true
  fi
  "$BIN" local down --dir "$dir" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
