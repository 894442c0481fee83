#include "storage/resync/resync_worker.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <thread>

#include "common/logging.h"
#include "rpc.pb.h"

namespace hf3fs::storage {

namespace asio = boost::asio;
using client::RoutingView;

namespace {

constexpr uint32_t kPage = 1024;

// Walks one target's chunk metadata in chunk id order, a page at a time.
class MetaCursor {
 public:
  using Fetch = std::function<awaitable<Result<ListChunkMetaRsp>>(const std::string& from)>;
  explicit MetaCursor(Fetch fetch) : fetch_(std::move(fetch)) {}

  // The current record, or null at the end.
  awaitable<Result<const ChunkMetaInfo*>> Peek() {
    while (pos_ >= page_.metas_size() && more_) {
      auto r = co_await fetch_(next_);
      if (!r.ok()) co_return r.status();
      page_ = std::move(*r);
      pos_ = 0;
      more_ = page_.more();
      next_ = page_.next();
    }
    if (pos_ >= page_.metas_size()) co_return static_cast<const ChunkMetaInfo*>(nullptr);
    co_return &page_.metas(pos_);
  }
  void Next() { ++pos_; }

 private:
  Fetch fetch_;
  ListChunkMetaRsp page_;
  int pos_ = 0;
  bool more_ = true;
  std::string next_;
};

bool SameCommitted(const ChunkMetaInfo& a, const ChunkMetaInfo& b) {
  if (a.has_committed() != b.has_committed()) return false;
  if (!a.has_committed()) return true;
  return a.committed().version() == b.committed().version() &&
         a.committed().length() == b.committed().length() &&
         a.committed().checksum() == b.committed().checksum() && a.chunk_size() == b.chunk_size();
}

}  // namespace

ResyncWorker::ResyncWorker(StorageSection& config, TargetMap& targets, StorageService& service,
                           net::RpcClient& rpc, asio::io_context& ctx)
    : config_(config), targets_(targets), service_(service), rpc_(rpc), ctx_(ctx), timer_(ctx) {
  auto& reg = metrics::Registry::Global();
  completed_ = reg.GetCounter("hf3fs_storage_resyncs_completed_total",
                              "resyncs of a successor finished with sync-done");
  chunks_copied_ = reg.GetCounter("hf3fs_storage_resync_chunks_total",
                                  "chunks sent or removed by resync", {{"action", "copy"}});
  chunks_purged_ = reg.GetCounter("hf3fs_storage_resync_chunks_total",
                                  "chunks sent or removed by resync", {{"action", "purge"}});
}

ResyncWorker::~ResyncWorker() { Stop(); }

void ResyncWorker::Start() {
  active_.fetch_add(1);
  asio::co_spawn(
      ctx_, [this] { return Loop(); }, [this](std::exception_ptr) { active_--; });
}

void ResyncWorker::Stop() {
  if (stopping_.exchange(true)) return;
  asio::post(ctx_, [this] { timer_.cancel(); });
  while (active_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
}

awaitable<void> ResyncWorker::Loop() {
  while (!stopping_) {
    for (const auto& t : targets_.All()) MaybeStart(t);
    timer_.expires_after(config_.resync_interval.Get());
    co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

void ResyncWorker::MaybeStart(const LocalTarget& t) {
  if (!t.chain || t.public_state != mgmtd::SERVING || t.local_state != mgmtd::UPTODATE) return;
  auto succ = RoutingView::Successor(*t.chain, t.id);
  if (!succ || succ->state() != mgmtd::SYNCING) return;
  {
    std::lock_guard lock(mu_);
    if (running_.count(succ->target_id()) ||
        running_.size() >= config_.max_concurrent_resyncs.Get()) {
      return;
    }
    running_.insert(succ->target_id());
  }
  active_.fetch_add(1);
  TargetId s(succ->target_id());
  asio::co_spawn(ctx_, Resync(t, s), [this, s](std::exception_ptr e, Status st) {
    if (e) st = Status(StatusCode::kInternal, "resync threw");
    if (!st.ok()) {
      HF3FS_LOG_WARN("storage.resync_failed successor={} error=\"{}\"", s, st);
    }
    {
      std::lock_guard lock(mu_);
      running_.erase(s.value());
    }
    active_--;
  });
}

awaitable<Status> ResyncWorker::Resync(LocalTarget t, TargetId successor) {
  uint32_t chain_id = t.chain->chain_id();
  uint32_t version = t.chain->version();
  HF3FS_CO_TRY_ASSIGN(auto addr, t.view->TargetAddress(successor));
  HF3FS_LOG_INFO("storage.resync_start target={} successor={} chain={} chain_version={}", t.id,
                 successor, chain_id, version);
  auto t0 = std::chrono::steady_clock::now();
  MetaCursor local([this, &t](const std::string& from) -> awaitable<Result<ListChunkMetaRsp>> {
    chunk::ChunkId begin(from), end;
    auto page = co_await service_.Disk([&] { return t.engine->ListMeta(t.id, begin, end, kPage); });
    if (!page.ok()) co_return page.status();
    ListChunkMetaRsp out;
    for (const auto& m : page->metas) *out.add_metas() = ToProto(m);
    out.set_more(page->more);
    if (page->more) out.set_next(page->next.bytes());
    co_return out;
  });
  MetaCursor remote(
      [this, &addr, successor](const std::string& from) -> awaitable<Result<ListChunkMetaRsp>> {
        ListChunkMetaReq req;
        req.set_target_id(successor.value());
        req.set_begin(from);
        req.set_limit(kPage);
        co_return co_await rpc_.Call<ListChunkMetaRsp>(addr, rpc::SERVICE_STORAGE,
                                                       STORAGE_LIST_CHUNK_META, req);
      });
  uint64_t copied = 0, purged = 0, compared = 0;
  while (!stopping_) {
    HF3FS_CO_TRY_ASSIGN(const ChunkMetaInfo* l, co_await local.Peek());
    HF3FS_CO_TRY_ASSIGN(const ChunkMetaInfo* r, co_await remote.Peek());
    if (!l && !r) break;
    if (++compared % kPage == 0) {
      auto now = targets_.ForTarget(t.id);
      if (!now.ok() || !now->chain || now->chain->version() != version) {
        co_return MakeStatus(StatusCode::kChainVersionMismatch,
                             "chain {} changed during resync; starting over", chain_id);
      }
    }
    std::string id;
    bool differ = true;
    if (l && (!r || l->chunk_id() < r->chunk_id())) {
      id = l->chunk_id();
      local.Next();
    } else if (r && (!l || r->chunk_id() < l->chunk_id())) {
      id = r->chunk_id();
      remote.Next();
    } else {
      id = l->chunk_id();
      differ = !SameCommitted(*l, *r) || r->has_pending();
      local.Next();
      remote.Next();
    }
    if (differ) HF3FS_CO_TRY(co_await SyncChunk(t, successor, addr, id, &copied, &purged));
  }
  if (stopping_) co_return Status(StatusCode::kShuttingDown, "node is stopping");
  SyncDoneReq done;
  done.set_target_id(successor.value());
  done.set_chain_id(chain_id);
  done.set_chain_version(version);
  done.set_from_target(t.id.value());
  HF3FS_CO_TRY(
      (co_await rpc_.Call<SyncDoneRsp>(addr, rpc::SERVICE_STORAGE, STORAGE_SYNC_DONE, done))
          .status());
  completed_->Inc();
  HF3FS_LOG_INFO(
      "storage.resync_done target={} successor={} chain={} chain_version={} compared={} "
      "copied={} purged={} ms={}",
      t.id, successor, chain_id, version, compared, copied, purged,
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count());
  co_return Status::Ok();
}

awaitable<Status> ResyncWorker::SyncChunk(const LocalTarget& t, TargetId successor,
                                          const net::Address& addr, const std::string& chunk_id,
                                          uint64_t* copied, uint64_t* purged) {
  auto guard = co_await service_.locks().Lock(t.id, chunk_id);
  // Decided again under the lock: a write may have changed the chunk since it was listed.
  chunk::ChunkId id(chunk_id);
  auto full = co_await service_.Disk(
      [&] { return t.engine->ReadFull(t.id, id, chunk::ReadMode::kLastCommitted); });
  UpdateReq req;
  req.set_chain_id(t.chain->chain_id());
  req.set_chain_version(t.chain->version());
  req.set_chunk_id(chunk_id);
  req.set_from_target(t.id.value());
  req.set_commit(true);
  std::vector<std::span<const uint8_t>> attachment;
  if (full.ok()) {
    req.set_type(UPDATE_REPLACE);
    req.set_chunk_size(full->meta.chunk_size);
    req.set_length(full->data.size());
    req.set_checksum(full->checksum);
    req.set_update_version(full->version);
    if (!full->data.empty()) attachment.emplace_back(full->data.data(), full->data.size());
  } else if (full.status().code() == StatusCode::kChunkNotFound ||
             full.status().code() == StatusCode::kChunkNotCommitted) {
    req.set_type(UPDATE_PURGE);
  } else {
    co_return full.status();
  }
  net::CallOptions opts;
  opts.timeout = config_.forward_rpc_timeout.Get();
  opts.attachment = std::move(attachment);
  UpdateRsp rsp;
  HF3FS_CO_TRY(co_await rpc_.CallRaw(addr, rpc::SERVICE_STORAGE, STORAGE_UPDATE, req, &rsp, opts));
  if (req.type() == UPDATE_PURGE) {
    ++*purged;
    chunks_purged_->Inc();
  } else {
    ++*copied;
    chunks_copied_->Inc();
  }
  (void)successor;
  co_return Status::Ok();
}

}  // namespace hf3fs::storage
