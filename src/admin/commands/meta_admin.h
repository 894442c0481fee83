// Plumbing of the namespace admin commands: they talk to a meta server (--meta, $HF3FS_META)
// rather than to mgmtd, as root unless --uid/--gid say otherwise.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "meta.pb.h"
#include "net/rpc_client.h"
#include "rpc.pb.h"

namespace hf3fs::admin {

struct MetaOptions {
  std::string meta;  // host:port
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::string key_file;  // docs/design/0011-authentication.md
  bool json = false;
  meta::UserInfo User() const {
    meta::UserInfo u;
    u.set_uid(uid);
    u.set_gid(gid);
    return u;
  }
};

// One meta server reached through an RPC client.
struct MetaCaller {
  net::RpcClient& rpc;
  net::Address addr;
  template <typename Rsp, typename Req>
  net::awaitable<Result<Rsp>> Call(uint32_t method, const Req& req) {
    co_return co_await rpc.Call<Rsp>(addr, rpc::SERVICE_META, method, req);
  }
};

using MetaFn = std::function<net::awaitable<Result<nlohmann::json>>(MetaCaller&)>;

void AddMetaOptions(CLI::App* cmd, MetaOptions& o);
// Runs `fn` against the meta server and prints its JSON (--json) or print(json). Exit code 1 on
// failure (message on stderr, or {"error": ...} with --json).
int RunMetaAdmin(const MetaOptions& o, const MetaFn& fn,
                 const std::function<void(const nlohmann::json&)>& print);

meta::PathAt MetaPath(const std::string& path);

// An inode as JSON with its byte fields (name, symlink target) as text rather than base64.
nlohmann::json InodeJson(const meta::Inode& inode);

}  // namespace hf3fs::admin
