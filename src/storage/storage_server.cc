#include "storage/storage_server.h"

#include <filesystem>

#include "common/logging.h"

namespace hf3fs::storage {

Result<std::unique_ptr<StorageServer>> StorageServer::Create(StorageConfig& config,
                                                             net::ServerRuntime& runtime) {
  if (config.storage.node_id.Get() == 0) {
    return Status(StatusCode::kConfigInvalid,
                  "storage.node_id is required: set it to the id registered with `hf3fs admin "
                  "register-node <id> storage`");
  }
  if (config.storage.disks.Get().empty()) {
    return Status(StatusCode::kConfigInvalid,
                  "storage.disks is empty: list one directory per disk, e.g. "
                  "--config.storage.disks=/data/disk0,/data/disk1");
  }
  std::vector<net::Address> mgmtds;
  for (const auto& a : config.storage.mgmtd.Get()) {
    auto addr = net::Address::Parse(a);
    if (!addr.ok()) return addr.status().WithContext("storage.mgmtd");
    mgmtds.push_back(*addr);
  }
  std::vector<std::unique_ptr<chunk::ChunkEngine>> engines;
  const auto& disks = config.storage.disks.Get();
  for (size_t i = 0; i < disks.size(); ++i) {
    std::error_code ec;
    std::filesystem::create_directories(disks[i], ec);
    auto opts = config.chunk_engine.ToOptions();
    opts.name = "disk" + std::to_string(i);
    auto engine = chunk::ChunkEngine::Open(disks[i], std::move(opts));
    if (!engine.ok()) {
      // Another engine holding the directory means a second process on the same disks.
      if (engine.status().code() == StatusCode::kUnavailable) {
        return engine.status().WithContext("disk " + disks[i]);
      }
      HF3FS_LOG_ERROR("storage.disk_open_failed disk={} path={} error=\"{}\"", i, disks[i],
                      engine.status());
      engines.push_back(nullptr);
      continue;
    }
    HF3FS_LOG_INFO("storage.disk_opened disk={} path={}", i, disks[i]);
    engines.push_back(std::move(*engine));
  }
  return std::unique_ptr<StorageServer>(
      new StorageServer(config, runtime, std::move(mgmtds), std::move(engines)));
}

StorageServer::StorageServer(StorageConfig& config, net::ServerRuntime& runtime,
                             std::vector<net::Address> mgmtds,
                             std::vector<std::unique_ptr<chunk::ChunkEngine>> engines)
    : config_(config),
      runtime_(runtime),
      disk_pool_(config.storage.io_threads.Get()),
      targets_(NodeId(config.storage.node_id.Get()), std::move(engines)),
      mgmtd_addresses_(std::move(mgmtds)) {
  service_ = std::make_unique<StorageService>(config.storage, targets_, disk_pool_);
  service_->Register(runtime.registry());
  // Low-space thresholds are hot: push changes (e.g. from mgmtd's config store) to every disk.
  auto apply = [this](const auto&) {
    for (size_t i = 0; i < targets_.disks(); ++i) {
      if (auto* e = targets_.engine(i)) {
        e->SetLowSpaceThreshold(config_.chunk_engine.low_space_threshold_bytes.Get(),
                                config_.chunk_engine.low_space_threshold_percent.Get());
      }
    }
    HF3FS_LOG_INFO("storage.low_space_threshold bytes={} percent={}",
                   config_.chunk_engine.low_space_threshold_bytes.Get(),
                   config_.chunk_engine.low_space_threshold_percent.Get());
  };
  config.chunk_engine.low_space_threshold_bytes.OnChange(apply);
  config.chunk_engine.low_space_threshold_percent.OnChange(apply);
}

StorageServer::~StorageServer() { Stop(); }

Status StorageServer::Start() {
  // The io pool exists once the runtime started: build what needs it, then let requests in.
  rpc_ =
      std::make_unique<net::RpcClient>(runtime_.pool(), config_.rpc, config_.storage.node_id.Get());
  mgmtd_ = std::make_unique<client::MgmtdClient>(*rpc_, mgmtd_addresses_);
  routing_ = std::make_unique<client::RoutingCache>(*mgmtd_, runtime_.pool().Get(0),
                                                    config_.storage.routing_refresh_interval.Get());
  routing_->SetListener(
      [this](std::shared_ptr<const client::RoutingView> v) { targets_.OnRouting(std::move(v)); });
  service_->Attach(*rpc_, *routing_);
  resync_ = std::make_unique<ResyncWorker>(config_.storage, targets_, *service_, *rpc_,
                                           runtime_.pool().Get(0));
  client::HeartbeatIdentity id;
  id.node_id = config_.storage.node_id.Get();
  id.type = mgmtd::NODE_STORAGE;
  id.cluster_id = config_.storage.cluster_id.Get();
  id.address = config_.storage.advertise_address.Get().empty()
                   ? runtime_.rpc_address().ToString()
                   : config_.storage.advertise_address.Get();
  id.http_address = runtime_.http_address().ToString();
  heartbeater_ = std::make_unique<client::Heartbeater>(
      *mgmtd_, runtime_.pool().Get(0), id, &config_, config_.storage.heartbeat_interval.Get(),
      [this](mgmtd::HeartbeatReq& req) { FillHeartbeat(req); });
  MaintainOnce();  // the first heartbeat already carries space figures
  maintenance_ = std::thread([this] { MaintenanceLoop(); });
  routing_->Start();
  heartbeater_->Start();
  resync_->Start();
  HF3FS_LOG_INFO("storage.started node={} address={} disks={}", id.node_id, id.address,
                 targets_.disks());
  return Status::Ok();
}

void StorageServer::FillHeartbeat(mgmtd::HeartbeatReq& req) {
  std::vector<DiskSample> samples;
  {
    std::lock_guard lock(mu_);
    samples = samples_;
  }
  for (const auto& t : targets_.All()) {
    auto* th = req.add_targets();
    th->set_target_id(t.id.value());
    th->set_local_state(t.local_state);
    if (t.chain) th->set_chain_version(t.chain->version());
    // Per disk: targets share their disk's free space and slot usage.
    if (t.disk < samples.size()) {
      th->set_free_bytes(samples[t.disk].free_bytes);
      th->set_used_bytes(samples[t.disk].used_slot_bytes);
    }
  }
}

void StorageServer::MaintainOnce() {
  std::vector<DiskSample> samples(targets_.disks());
  for (size_t i = 0; i < targets_.disks(); ++i) {
    auto* engine = targets_.engine(i);
    if (!engine || !engine->health().ok()) continue;
    if (auto s = engine->GetSpaceInfo(); s.ok()) {
      samples[i] = {s->free_bytes, s->used_slot_bytes};
    }
    uint32_t moves = config_.storage.compact_moves.Get();
    if (moves == 0) continue;
    auto c = engine->Compact(moves);
    if (!c.ok()) {
      HF3FS_LOG_WARN("storage.compact_failed disk={} error=\"{}\"", i, c.status());
    } else if (c->moved > 0) {
      HF3FS_LOG_INFO("storage.compacted disk={} moved={} groups_emptied={}", i, c->moved,
                     c->groups_emptied);
    }
  }
  std::lock_guard lock(mu_);
  samples_ = std::move(samples);
}

void StorageServer::MaintenanceLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, config_.storage.maintenance_interval.Get(), [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    MaintainOnce();
    lock.lock();
  }
}

void StorageServer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (maintenance_.joinable()) maintenance_.join();
  if (resync_) resync_->Stop();
  if (heartbeater_) heartbeater_->Stop();
  if (routing_) routing_->Stop();
}

void AddStorageCommand(CLI::App& app, CliContext& ctx) {
  net::ServerCommand command;
  command.name = "storage";
  command.description =
      "run a storage node: chunk engines on local disks, CRAQ replication, reads, resync";
  command.make_config = [] { return std::make_unique<StorageConfig>(); };
  command.setup = [](net::ServerRuntime& rt,
                     net::ServerConfigBase& base) -> Result<std::unique_ptr<net::ServerRole>> {
    auto& cfg = static_cast<StorageConfig&>(base);
    auto server = StorageServer::Create(cfg, rt);
    if (!server.ok()) return server.status();
    return std::unique_ptr<net::ServerRole>(std::move(*server));
  };
  net::AddServerCommand(app, ctx, std::move(command));
}

}  // namespace hf3fs::storage
