#include "mgmtd/mgmtd_server.h"

#include "common/logging.h"
#include "common/version.h"
#include "kv/kv_config.h"

namespace hf3fs::mgmtd {

MgmtdServer::MgmtdServer(MgmtdConfig& config, net::ServerRuntime& runtime,
                         std::unique_ptr<kv::Engine> engine)
    : config_(config),
      runtime_(runtime),
      engine_(std::move(engine)),
      ctx_{*engine_, config.mgmtd, state_, config.kv.retry.ToOptions(), "", &WallClockMs},
      pool_(config.mgmtd.offload_threads.Get()),
      service_(ctx_, pool_) {
  service_.Register(runtime_.registry());
}

MgmtdServer::~MgmtdServer() { Stop(); }

Status MgmtdServer::Start() {
  ctx_.self_address = config_.mgmtd.advertise_address.Get().empty()
                          ? runtime_.rpc_address().ToString()
                          : config_.mgmtd.advertise_address.Get();
  auto& reg = metrics::Registry::Global();
  gauges_.push_back(reg.AddCallback("hf3fs_mgmtd_is_primary", "1 while this mgmtd holds the lease",
                                    metrics::Type::kGauge, {},
                                    [this] { return state_.IsPrimary() ? 1.0 : 0.0; }));
  loop_ = std::thread([this] { Loop(); });
  return Status::Ok();
}

void MgmtdServer::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (loop_.joinable()) loop_.join();
  pool_.Stop();
  gauges_.clear();
}

void MgmtdServer::Loop() {
  NodeId self(config_.mgmtd.node_id.Get());
  auto next_lease = Clock::now();
  auto next_chains = Clock::now();
  auto next_sessions = Clock::now() + std::chrono::seconds(5);
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    auto now = Clock::now();
    if (now >= next_lease) {
      auto r = RenewLease(ctx_, self, kVersion);
      if (!r.ok()) HF3FS_LOG_WARN("mgmtd.lease_renew_failed error=\"{}\"", r.status());
      next_lease = now + config_.mgmtd.lease_renew_interval.Get();
    }
    if (now >= next_chains) {
      auto r = UpdateChains(ctx_);
      if (!r.ok() && r.status().code() != StatusCode::kMgmtdNotPrimary) {
        HF3FS_LOG_WARN("mgmtd.chain_update_failed error=\"{}\"", r.status());
      }
      next_chains = now + config_.mgmtd.chain_update_interval.Get();
    }
    if (now >= next_sessions) {
      auto r = ExpireClientSessions(ctx_);
      if (!r.ok()) HF3FS_LOG_WARN("mgmtd.session_expiry_failed error=\"{}\"", r.status());
      next_sessions = now + std::chrono::seconds(5);
    }
    lock.lock();
    cv_.wait_until(lock, std::min({next_lease, next_chains, next_sessions}),
                   [this] { return stopping_; });
  }
}

void AddMgmtdCommand(CLI::App& app, CliContext& ctx) {
  net::ServerCommand command;
  command.name = "mgmtd";
  command.description =
      "run the cluster manager: membership, chains, routing info, config store, client sessions";
  command.make_config = [] { return std::make_unique<MgmtdConfig>(); };
  command.setup = [](net::ServerRuntime& rt,
                     net::ServerConfigBase& base) -> Result<std::unique_ptr<net::ServerRole>> {
    auto& cfg = static_cast<MgmtdConfig&>(base);
    auto engine = kv::OpenEngine(cfg.kv);
    if (!engine.ok()) return engine.status().WithContext("open the KV store ([kv] section)");
    return std::unique_ptr<net::ServerRole>(
        std::make_unique<MgmtdServer>(cfg, rt, std::move(*engine)));
  };
  net::AddServerCommand(app, ctx, std::move(command));
}

}  // namespace hf3fs::mgmtd
