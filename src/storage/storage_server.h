// The `hf3fs storage` role: chunk engines (one per disk), the node's routing view and targets,
// the storage RPC service, heartbeats to mgmtd, routing refresh and the resync worker.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "client/heartbeater.h"
#include "client/mgmtd_client.h"
#include "common/cli.h"
#include "net/offload_pool.h"
#include "net/rpc_client.h"
#include "net/server_command.h"
#include "storage/resync/resync_worker.h"
#include "storage/service/storage_service.h"
#include "storage/storage_config.h"
#include "storage/target/target_map.h"

namespace hf3fs::storage {

class StorageServer : public net::ServerRole {
 public:
  // Opens every disk's engine (a disk that fails to open is logged and its targets report
  // OFFLINE) and registers the service on `runtime`. kConfigInvalid when node_id or disks are
  // missing or the mgmtd addresses are malformed.
  static Result<std::unique_ptr<StorageServer>> Create(StorageConfig& config,
                                                       net::ServerRuntime& runtime);
  ~StorageServer() override;

  Status Start() override;
  void Stop() override;

 private:
  StorageServer(StorageConfig& config, net::ServerRuntime& runtime,
                std::vector<net::Address> mgmtds,
                std::vector<std::unique_ptr<chunk::ChunkEngine>> engines);
  void FillHeartbeat(mgmtd::HeartbeatReq& req);
  // Samples disk space for heartbeats and compacts sparse groups, every maintenance_interval.
  void MaintenanceLoop();
  void MaintainOnce();

  StorageConfig& config_;
  net::ServerRuntime& runtime_;
  net::OffloadPool disk_pool_;
  TargetMap targets_;
  std::vector<net::Address> mgmtd_addresses_;
  std::unique_ptr<net::RpcClient> rpc_;
  std::unique_ptr<client::MgmtdClient> mgmtd_;
  std::unique_ptr<client::RoutingCache> routing_;
  std::unique_ptr<StorageService> service_;
  std::unique_ptr<client::Heartbeater> heartbeater_;
  std::unique_ptr<ResyncWorker> resync_;
  bool stopped_ = false;

  struct DiskSample {
    uint64_t free_bytes = 0;
    uint64_t used_slot_bytes = 0;
  };
  std::mutex mu_;  // guards samples_ and stopping_
  std::condition_variable cv_;
  std::vector<DiskSample> samples_;
  bool stopping_ = false;
  std::thread maintenance_;
};

// Adds `hf3fs storage`.
void AddStorageCommand(CLI::App& app, CliContext& ctx);

}  // namespace hf3fs::storage
