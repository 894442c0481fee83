#include "meta/meta_server.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <future>
#include <random>

#include "common/logging.h"
#include "common/metrics.h"
#include "meta/background/gc.h"
#include "meta/background/prune.h"
#include "meta/background/trash_cleaner.h"

namespace hf3fs::meta {

namespace {
using Clock = std::chrono::steady_clock;

Layout RootLayout(const MetaSection& s) {
  Layout l;
  if (s.root_chain_table.Get() == 0) return l;
  l.set_chain_table_id(s.root_chain_table.Get());
  l.set_chunk_size(s.root_chunk_size.Get());
  l.set_stripe_size(s.root_stripe.Get());
  return l;
}

MetaLimits Limits(const MetaSection& s) {
  MetaLimits l;
  l.trash_expiry = std::chrono::duration_cast<std::chrono::nanoseconds>(s.trash_expiry.Get());
  return l;
}
}  // namespace

MetaServer::MetaServer(MetaConfig& config, net::ServerRuntime& runtime,
                       std::unique_ptr<kv::Engine> engine)
    : config_(config),
      runtime_(runtime),
      engine_(std::move(engine)),
      inodes_(*engine_, config.kv.retry.ToOptions()),
      ctx_{*engine_,         config.kv.retry.ToOptions(), inodes_,
           chains_,          Limits(config.meta),         &WallClockNs,
           &RandomSessionId, RootLayout(config.meta)},
      pool_(config.meta.offload_threads.Get()),
      service_(ctx_, pool_) {
  // Requests that need storage wait for it rather than skip it (the RPC server starts first).
  if (!config_.meta.mgmtd.Get().empty()) service_.ExpectStorage();
  // Inline only where a transaction never waits on a disk or a network: the memory store, and
  // RocksDB when commits are not flushed one by one.
  std::string_view backend = engine_->backend();
  bool fast_store = backend == "memory" ||
                    (backend == "rocksdb" && config_.kv.durability.Get() == "window");
  service_.SetInline(config_.meta.inline_ops.Get() && fast_store);
  service_.Register(runtime_.registry());
}

MetaServer::~MetaServer() { Stop(); }

Status MetaServer::Start() {
  HF3FS_TRY(InitNamespace(ctx_));
  if (!config_.meta.mgmtd.Get().empty()) {
    HF3FS_TRY(StartMgmtdClient());
    StartStorageAccess();
    if (config_.meta.node_id.Get() != 0) StartHeartbeats();
  }
  loop_ = std::thread([this] { Loop(); });
  HF3FS_LOG_INFO("meta.started address={} kv={}", runtime_.rpc_address().ToString(),
                 engine_->backend());
  return Status::Ok();
}

Status MetaServer::StartMgmtdClient() {
  std::vector<net::Address> mgmtds;
  for (const auto& a : config_.meta.mgmtd.Get()) {
    auto addr = net::Address::Parse(a);
    if (!addr.ok()) return addr.status().WithContext("meta.mgmtd");
    mgmtds.push_back(*addr);
  }
  rpc_ = std::make_unique<net::RpcClient>(runtime_.pool(), config_.rpc, config_.meta.node_id.Get());
  mgmtd_ = std::make_unique<client::MgmtdClient>(*rpc_, std::move(mgmtds));
  return Status::Ok();
}

void MetaServer::StartStorageAccess() {
  routing_ = std::make_unique<client::RoutingCache>(*mgmtd_, runtime_.pool().Get(0),
                                                    config_.meta.routing_refresh_interval.Get());
  // The storage client id names this process's update channels at the chain heads, which answer
  // a repeated (client, channel, sequence) from their cache. A restarted server starts its
  // sequences again, so the id is drawn at random for every start (never the node id), nonzero.
  std::random_device rd;
  uint64_t client_id = 0;
  while (client_id == 0) client_id = (uint64_t{rd()} << 32) | rd();
  storage_ = std::make_unique<client::StorageClient>(*rpc_, *routing_, client_id);
  storage_ops_ = std::make_unique<StorageOps>(*storage_, *routing_);
  routing_->Start();
  service_.SetStorage(storage_ops_.get());
  HF3FS_LOG_INFO("meta.storage_access storage_client_id={:016x}", client_id);
}

template <typename T>
T MetaServer::WaitFor(std::function<net::awaitable<T>()> make) {
  std::promise<T> promise;
  auto fut = promise.get_future();
  boost::asio::co_spawn(
      runtime_.pool().Get(0),
      [&]() -> net::awaitable<void> { promise.set_value(co_await make()); },
      boost::asio::detached);
  return fut.get();
}

void MetaServer::StartHeartbeats() {
  client::HeartbeatIdentity id;
  id.node_id = config_.meta.node_id.Get();
  id.type = mgmtd::NODE_META;
  id.cluster_id = config_.meta.cluster_id.Get();
  id.address = config_.meta.advertise_address.Get().empty() ? runtime_.rpc_address().ToString()
                                                            : config_.meta.advertise_address.Get();
  id.http_address = runtime_.http_address().ToString();
  heartbeater_ = std::make_unique<client::Heartbeater>(
      *mgmtd_, runtime_.pool().Get(0), id, &config_, config_.meta.heartbeat_interval.Get());
  heartbeater_->Start();
}

void MetaServer::Loop() {
  auto& reg = metrics::Registry::Global();
  auto* gc_deleted =
      reg.GetCounter("hf3fs_meta_gc_deleted_total", "inodes deleted by the garbage collector");
  auto* trash_expired =
      reg.GetCounter("hf3fs_meta_trash_expired_total", "trash entries removed after their expiry");
  auto next_idem = Clock::now() + std::chrono::minutes(1);
  auto next_sessions = Clock::now() + config_.meta.session_prune_interval.Get();
  std::unique_lock lock(mu_);
  while (!stopped_) {
    lock.unlock();
    GcOptions gc;
    gc.delay = config_.meta.gc_delay.Get();
    if (storage_ops_) {
      gc.remove_chunks = [this](const Inode& inode) {
        return WaitFor<Status>([&] { return storage_ops_->RemoveFileChunks(inode); });
      };
    }
    auto r = RunGcOnce(ctx_, gc);
    if (!r.ok()) HF3FS_LOG_WARN("meta.gc_failed error=\"{}\"", r.status());
    if (r.ok()) gc_deleted->Inc(r->deleted);
    auto t = CleanTrash(ctx_);
    if (!t.ok()) HF3FS_LOG_WARN("meta.trash_clean_failed error=\"{}\"", t.status());
    if (t.ok()) trash_expired->Inc(*t);
    auto now = Clock::now();
    if (now >= next_idem) {
      auto ttl =
          std::chrono::duration_cast<std::chrono::nanoseconds>(config_.meta.idempotency_ttl.Get());
      auto p = PruneIdempotencyRecords(ctx_, ctx_.now_ns() - ttl.count());
      if (!p.ok()) HF3FS_LOG_WARN("meta.idempotency_prune_failed error=\"{}\"", p.status());
      next_idem = now + std::chrono::minutes(1);
    }
    if (mgmtd_ && now >= next_sessions) {
      PruneSessions();
      next_sessions = now + config_.meta.session_prune_interval.Get();
    }
    lock.lock();
    cv_.wait_for(lock, config_.meta.gc_interval.Get(), [this] { return stopped_; });
  }
}

void MetaServer::PruneSessions() {
  int64_t taken_ns = ctx_.now_ns();
  std::promise<Result<mgmtd::ListClientSessionsRsp>> promise;
  auto fut = promise.get_future();
  boost::asio::co_spawn(
      runtime_.pool().Get(0),
      [this, &promise]() -> net::awaitable<void> {
        promise.set_value(co_await mgmtd_->Call<mgmtd::ListClientSessionsRsp>(
            mgmtd::MGMTD_LIST_CLIENT_SESSIONS, mgmtd::ListClientSessionsReq()));
      },
      boost::asio::detached);
  auto sessions = fut.get();
  if (!sessions.ok()) {
    HF3FS_LOG_WARN("meta.list_client_sessions_failed error=\"{}\"", sessions.status());
    return;  // without a complete list of live clients nothing may be pruned
  }
  std::set<uint64_t> live;
  for (const auto& s : sessions->sessions()) live.insert(s.client_id());
  // flock records of dead mounts (docs/design/0012-cluster-locks.md), so their waiters get them.
  auto locks = PruneLocks(ctx_, live, taken_ns);
  if (!locks.ok()) HF3FS_LOG_WARN("meta.lock_prune_failed error=\"{}\"", locks.status());
  if (locks.ok() && *locks > 0) HF3FS_LOG_INFO("meta.locks_pruned count={}", *locks);
  if (storage_ops_) {
    // Lengths first: once the sessions are gone nothing would remind us of these files.
    auto stale = FindStaleWriteSessions(ctx_, live, taken_ns);
    if (!stale.ok()) {
      HF3FS_LOG_WARN("meta.stale_sessions_failed error=\"{}\"", stale.status());
      return;
    }
    for (InodeId id : *stale) {
      Status st = FixLengthFromStorage(id);
      if (!st.ok()) {
        HF3FS_LOG_WARN("meta.fix_length_failed inode={} error=\"{}\"", id.value(), st);
        return;  // keep the sessions; the next pass tries again
      }
    }
  }
  auto n = PruneWriteSessions(ctx_, live, taken_ns);
  if (!n.ok()) HF3FS_LOG_WARN("meta.session_prune_failed error=\"{}\"", n.status());
  if (n.ok() && *n > 0) HF3FS_LOG_INFO("meta.sessions_pruned count={}", *n);
}

Status MetaServer::FixLengthFromStorage(InodeId id) {
  HF3FS_TRY_ASSIGN(auto inode, LoadInode(ctx_, id));
  if (!inode || inode->type() != INODE_FILE || inode->layout().chain_table_id() == 0) {
    return Status::Ok();
  }
  HF3FS_TRY_ASSIGN(uint64_t length, WaitFor<Result<uint64_t>>([&] {
                     return storage_ops_->QueryFileLength(*inode);
                   }));
  if (length <= inode->length()) return Status::Ok();
  // A sync without a session: raises the length only, and only if no truncate came meanwhile.
  CloseReq req;
  req.set_inode_id(id.value());
  req.set_has_length_hint(true);
  req.set_length_hint(length);
  req.set_truncate_version(inode->truncate_version());
  req.set_query_length(true);  // the hint is what storage holds, not a writer's report
  HF3FS_TRY(Sync(ctx_, req));
  HF3FS_LOG_INFO("meta.length_from_storage inode={} length={}", id.value(), length);
  return Status::Ok();
}

void MetaServer::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  cv_.notify_all();
  if (loop_.joinable()) loop_.join();
  if (heartbeater_) heartbeater_->Stop();
  if (routing_) routing_->Stop();
  pool_.Stop();
}

void AddMetaCommand(CLI::App& app, CliContext& ctx) {
  net::ServerCommand command;
  command.name = "meta";
  command.description =
      "run a metadata server: the POSIX namespace over the KV store (stateless; several may "
      "share one PostgreSQL store)";
  command.make_config = [] { return std::make_unique<MetaConfig>(); };
  command.setup = [](net::ServerRuntime& rt,
                     net::ServerConfigBase& base) -> Result<std::unique_ptr<net::ServerRole>> {
    auto& cfg = static_cast<MetaConfig&>(base);
    auto engine = kv::OpenEngine(cfg.kv);
    if (!engine.ok()) return engine.status().WithContext("open the KV store ([kv] section)");
    return std::unique_ptr<net::ServerRole>(
        std::make_unique<MetaServer>(cfg, rt, std::move(*engine)));
  };
  net::AddServerCommand(app, ctx, std::move(command));
}

}  // namespace hf3fs::meta
