// The `hf3fs meta` role: KV engine, inode allocator, offload pool, the RPC service, a background
// loop (garbage collection, pruning of old idempotency records and, with mgmtd, of write sessions
// of dead clients) and, when mgmtd addresses and a node id are configured, heartbeats to mgmtd as
// a meta node. With mgmtd addresses it also has storage access: a routing cache and a storage
// client (StorageOps), used by the GC to delete chunks, by the service for truncate, exact
// lengths and statfs, and by session pruning to fix the lengths of files of dead writers. The
// namespace root is created at start when the store has none. Stop() joins the loop.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "client/heartbeater.h"
#include "client/storage_client.h"
#include "common/cli.h"
#include "kv/engine.h"
#include "meta/meta_config.h"
#include "meta/ops/ops.h"
#include "meta/service/meta_service.h"
#include "meta/storage_ops.h"
#include "net/server_command.h"

namespace hf3fs::meta {

class MetaServer : public net::ServerRole {
 public:
  MetaServer(MetaConfig& config, net::ServerRuntime& runtime, std::unique_ptr<kv::Engine> engine);
  ~MetaServer() override;

  Status Start() override;
  void Stop() override;

 private:
  Status StartMgmtdClient();
  void StartStorageAccess();
  void StartHeartbeats();
  void Loop();
  void PruneSessions();
  // Raises the length of file `id` to what storage holds (a dead writer never reported it).
  Status FixLengthFromStorage(InodeId id);
  // Runs a coroutine on an io thread and waits for it (the background loop's thread only).
  template <typename T>
  T WaitFor(std::function<net::awaitable<T>()> make);

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
  std::unique_ptr<client::RoutingCache> routing_;
  std::unique_ptr<client::StorageClient> storage_;
  std::unique_ptr<StorageOps> storage_ops_;
  std::thread loop_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
};

// Adds `hf3fs meta`.
void AddMetaCommand(CLI::App& app, CliContext& ctx);

}  // namespace hf3fs::meta
