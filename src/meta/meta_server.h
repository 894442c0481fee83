// The `hf3fs meta` role: KV engine, inode allocator, offload pool, the RPC service, a background
// loop (garbage collection, pruning of old idempotency records and, with mgmtd, of write sessions
// of dead clients) and, when mgmtd addresses and a node id are configured, heartbeats to mgmtd as
// a meta node. The namespace root is created at start when the store has none. Stop() joins the
// loop.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "client/heartbeater.h"
#include "common/cli.h"
#include "kv/engine.h"
#include "meta/meta_config.h"
#include "meta/ops/ops.h"
#include "meta/service/meta_service.h"
#include "net/server_command.h"

namespace hf3fs::meta {

class MetaServer : public net::ServerRole {
 public:
  MetaServer(MetaConfig& config, net::ServerRuntime& runtime, std::unique_ptr<kv::Engine> engine);
  ~MetaServer() override;

  Status Start() override;
  void Stop() override;

 private:
  Status StartHeartbeats();
  void Loop();
  void PruneSessions();

  MetaConfig& config_;
  net::ServerRuntime& runtime_;
  std::unique_ptr<kv::Engine> engine_;
  InodeAllocator inodes_;
  ChainAllocator chains_;
  OpContext ctx_;
  net::OffloadPool pool_;
  MetaService service_;
  std::unique_ptr<net::RpcClient> rpc_;
  std::unique_ptr<client::MgmtdClient> mgmtd_;
  std::unique_ptr<client::Heartbeater> heartbeater_;
  std::thread loop_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
};

// Adds `hf3fs meta`.
void AddMetaCommand(CLI::App& app, CliContext& ctx);

}  // namespace hf3fs::meta
