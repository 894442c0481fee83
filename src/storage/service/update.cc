// The CRAQ update path (design 0006): head and replica handling, forwarding with retry, commit.
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/crc32c.h"
#include "common/logging.h"
#include "rpc.pb.h"
#include "storage/craq/apply.h"
#include "storage/service/storage_service.h"

namespace hf3fs::storage {

namespace asio = boost::asio;
using client::RoutingView;

namespace {

void FillResponse(const chunk::ChunkMeta& meta, uint64_t version, UpdateRsp& rsp) {
  rsp.set_update_version(version);
  rsp.set_commit_version(meta.commit_version());
  if (meta.committed) {
    rsp.set_length(meta.committed->length);
    rsp.set_checksum(meta.committed->checksum);
  }
}

// Statuses after which a forward is tried again (after refreshing routing): the successor or the
// chain is changing, or the successor's disk failed and mgmtd will move it out of the chain.
bool ForwardRetryable(const Status& st) {
  return st.retryable() || st.code() == StatusCode::kDiskError ||
         st.code() == StatusCode::kShuttingDown;
}

}  // namespace

awaitable<Status> StorageService::Update(const UpdateReq& req, UpdateRsp& rsp,
                                         net::RequestContext& ctx) {
  std::span<const uint8_t> payload(ctx.request_attachment.data(), ctx.request_attachment.size());
  HF3FS_CO_TRY(ValidateUpdate(req, payload.size(), req.from_target() == 0));
  if (req.from_target() != 0) {
    // A chain forward: only a storage server may send one (design 0011); which predecessor it
    // names is checked against routing in ReplicaUpdate.
    if (!net::Allows(net::kServerRole, ctx.role)) {
      co_return MakeStatus(StatusCode::kRpcAuthDenied,
                           "role {} may not forward chain updates (server only)",
                           net::RoleName(ctx.role));
    }
    // Track the client's channel here too, so that this replica, once it is the head, answers a
    // retry of this update as a duplicate instead of applying it again (design 0006).
    bool tracked = req.client_id() != 0 && req.seq() != 0 &&
                   channels_.Observe(req.client_id(), req.channel(), req.seq());
    Status st = co_await ReplicaUpdate(req, payload, rsp);
    if (tracked)
      channels_.Finish(req.client_id(), req.channel(), req.seq(), st.ok() ? &rsp : nullptr);
    co_return st;
  }

  uint64_t client = req.client_id() != 0 ? req.client_id() : ctx.client_id;
  auto begun = channels_.Begin(client, req.channel(), req.seq());
  switch (begun.outcome) {
    case ChannelCache::Outcome::kDuplicate:
      duplicates_->Inc();
      rsp = begun.cached;
      rsp.set_duplicate(true);
      co_return Status::Ok();
    case ChannelCache::Outcome::kBusy:
      co_return MakeStatus(StatusCode::kChannelBusy, "channel {}/{} is still running seq {}",
                           client, req.channel(), req.seq());
    case ChannelCache::Outcome::kStale:
      co_return MakeStatus(StatusCode::kStaleSequence,
                           "seq {} on channel {}/{} is older than the channel's last", req.seq(),
                           client, req.channel());
    case ChannelCache::Outcome::kNew:
      break;
  }
  Status st;
  if (req.client_id() == client) {
    st = co_await HeadUpdate(req, payload, rsp);
  } else {
    UpdateReq tagged = req;  // forwards name the client whose channel they belong to
    tagged.set_client_id(client);
    st = co_await HeadUpdate(tagged, payload, rsp);
  }
  channels_.Finish(client, req.channel(), req.seq(), st.ok() ? &rsp : nullptr);
  co_return st;
}

awaitable<Status> StorageService::HeadUpdate(const UpdateReq& req, std::span<const uint8_t> payload,
                                             UpdateRsp& rsp) {
  HF3FS_CO_TRY_ASSIGN(auto t0, co_await CheckChain(req.chain_id(), req.chain_version()));
  auto guard = co_await locks_.Lock(t0.id, req.chunk_id());
  // Checked again under the lock: the chain may have changed while this update waited.
  HF3FS_CO_TRY_ASSIGN(auto t, co_await CheckChain(req.chain_id(), req.chain_version()));
  if (t.local_state == mgmtd::LOCAL_OFFLINE || t.public_state != mgmtd::SERVING ||
      RoutingView::Head(*t.chain) != t.id) {
    co_return MakeStatus(StatusCode::kStorageNotHead,
                         "target {} is not the head of chain {} (version {}): refresh routing",
                         t.id, req.chain_id(), t.chain->version());
  }
  updates_head_->Inc();
  chunk::ChunkId id(req.chunk_id());
  auto meta = co_await Disk([&] { return t.engine->GetMeta(t.id, id); });
  uint64_t commit_version = 0;
  if (meta.ok()) {
    if (meta->pending) HF3FS_CO_TRY(co_await ResolvePending(t, req, *meta));
    commit_version = meta->pending ? meta->pending->version : meta->commit_version();
    if (meta->pending && meta->pending->removal) commit_version = 0;
  } else if (meta.status().code() != StatusCode::kChunkNotFound) {
    co_return meta.status();
  }
  if (req.type() == UPDATE_REMOVE && commit_version == 0) {
    rsp.set_update_version(0);  // nothing to remove: removing is idempotent
    co_return Status::Ok();
  }
  uint64_t version = commit_version + 1;
  HF3FS_CO_TRY_ASSIGN(auto done, co_await ApplyForwardCommit(t, req, payload, version));
  FillResponse(done, version, rsp);
  co_return Status::Ok();
}

awaitable<Status> StorageService::ResolvePending(const LocalTarget& t, const UpdateReq& req,
                                                 const chunk::ChunkMeta& meta) {
  uint64_t version = meta.pending->version;
  HF3FS_LOG_INFO("storage.resolve_pending target={} chunk={} version={}", t.id, meta.chunk_id,
                 version);
  UpdateReq fwd = req;
  fwd.set_chunk_size(meta.chunk_size);
  // The leftover belongs to an earlier update, not to this request's channel: a replica must not
  // take it for this request and answer a retry of it as done.
  fwd.clear_client_id();
  fwd.clear_channel();
  fwd.clear_seq();
  std::vector<uint8_t> bytes;
  if (meta.pending->removal) {
    fwd.set_type(UPDATE_REMOVE);
    fwd.set_length(0);
  } else {
    auto full = co_await Disk(
        [&] { return t.engine->ReadFull(t.id, meta.chunk_id, chunk::ReadMode::kLatest); });
    if (!full.ok()) co_return full.status();
    bytes = std::move(full->data);
    fwd.set_type(UPDATE_REPLACE);
    fwd.set_commit(false);
    fwd.set_offset(0);
    fwd.set_length(bytes.size());
    fwd.set_checksum(full->checksum);
    fwd.set_before_removal(req.type() == UPDATE_REMOVE);
  }
  HF3FS_CO_TRY(co_await Forward(t, fwd, bytes, version));
  auto committed = co_await Disk([&] {
    return t.engine->Commit(t.id, meta.chunk_id, version, ChainVersion(t.chain->version()));
  });
  co_return committed.status();
}

awaitable<Status> StorageService::ReplicaUpdate(const UpdateReq& req,
                                                std::span<const uint8_t> payload, UpdateRsp& rsp) {
  HF3FS_CO_TRY_ASSIGN(auto t0, co_await CheckChain(req.chain_id(), req.chain_version()));
  auto guard = co_await locks_.Lock(t0.id, req.chunk_id());
  HF3FS_CO_TRY_ASSIGN(auto t, co_await CheckChain(req.chain_id(), req.chain_version()));
  if (t.local_state == mgmtd::LOCAL_OFFLINE ||
      (t.public_state != mgmtd::SERVING && t.public_state != mgmtd::SYNCING)) {
    co_return MakeStatus(StatusCode::kTargetNotServing,
                         "target {} cannot take updates (chain {} version {})", t.id,
                         req.chain_id(), t.chain->version());
  }
  TargetId pred = RoutingView::Predecessor(*t.chain, t.id);
  if (pred.value() != req.from_target()) {
    co_return MakeStatus(StatusCode::kNotPredecessor,
                         "target {} is not the predecessor of target {} in chain {} version {}",
                         req.from_target(), t.id, req.chain_id(), t.chain->version());
  }
  updates_replica_->Inc();
  uint64_t version = req.update_version();
  bool final_step = req.commit() || req.type() == UPDATE_PURGE;
  if (final_step) {
    auto applied = co_await Disk([&] {
      return ApplyLocal(*t.engine, t.id, req, payload, version, ChainVersion(t.chain->version()));
    });
    if (!applied.ok()) co_return applied.status();
    FillResponse(*applied, version, rsp);
    co_return Status::Ok();
  }
  auto done = co_await ApplyForwardCommit(t, req, payload, version);
  if (!done.ok()) {
    auto code = done.status().code();
    // Already committed here (a retried forward), or nothing to remove: the chain has it.
    if (code == StatusCode::kChunkStaleVersion ||
        (code == StatusCode::kChunkNotFound && req.type() == UPDATE_REMOVE)) {
      rsp.set_update_version(version);
      co_return Status::Ok();
    }
    co_return done.status();
  }
  FillResponse(*done, version, rsp);
  co_return Status::Ok();
}

awaitable<Result<chunk::ChunkMeta>> StorageService::ApplyForwardCommit(
    const LocalTarget& t, const UpdateReq& req, std::span<const uint8_t> payload,
    uint64_t version) {
  ChainVersion cv(t.chain->version());
  auto applied =
      co_await Disk([&] { return ApplyLocal(*t.engine, t.id, req, payload, version, cv); });
  if (!applied.ok()) co_return applied.status();
  std::optional<UpdateRsp> acked;
  HF3FS_CO_TRY(co_await Forward(t, req, payload, version, &acked));
  chunk::ChunkId id(req.chunk_id());
  auto committed = co_await Disk([&] { return t.engine->Commit(t.id, id, version, cv); });
  if (!committed.ok()) co_return committed.status();
  // Chain neighbours cross-check: the successor committed the same version, so it must hold the
  // same bytes. (A successor that answered a duplicate forward reports no commit of its own.)
  if (acked && acked->commit_version() == version && committed->committed &&
      (acked->checksum() != committed->committed->checksum ||
       acked->length() != committed->committed->length)) {
    neighbour_mismatches_->Inc();
    HF3FS_LOG_ERROR(
        "storage.neighbour_checksum_mismatch target={} chunk={} version={} length={}/{} "
        "crc={}/{}",
        t.id, id, version, committed->committed->length, acked->length(),
        committed->committed->checksum, acked->checksum());
    co_return MakeStatus(StatusCode::kDataCorruption,
                         "chunk {} version {}: replicas disagree on its checksum", id, version);
  }
  co_return *committed;
}

awaitable<Status> StorageService::Forward(const LocalTarget& t, const UpdateReq& req,
                                          std::span<const uint8_t> payload, uint64_t version,
                                          std::optional<UpdateRsp>* acked) {
  if (acked) acked->reset();
  auto deadline = std::chrono::steady_clock::now() + config_.forward_timeout.Get();
  Duration backoff = config_.forward_retry_min.Get();
  asio::steady_timer timer(co_await asio::this_coro::executor);
  chunk::ChunkId id(req.chunk_id());
  Status last;
  for (int attempt = 0;; ++attempt) {
    if (attempt > 0) {
      forward_retries_->Inc();
      if (std::chrono::steady_clock::now() + backoff > deadline) {
        co_return MakeStatus(
            StatusCode::kForwardFailed,
            "target {} could not forward chunk {} version {} within {} ms: {}", t.id, id, version,
            std::chrono::duration_cast<std::chrono::milliseconds>(config_.forward_timeout.Get())
                .count(),
            last.ToString());
      }
      timer.expires_after(backoff);
      co_await timer.async_wait(asio::use_awaitable);
      backoff = std::min<Duration>(backoff * 2, config_.forward_retry_max.Get());
      (void)co_await routing_->Refresh();
    }
    auto cur = targets_.ForTarget(t.id);
    if (!cur.ok()) co_return cur.status();
    if (!cur->chain || cur->chain->chain_id() != t.chain->chain_id() ||
        (cur->public_state != mgmtd::SERVING && cur->public_state != mgmtd::SYNCING)) {
      co_return MakeStatus(StatusCode::kTargetNotServing,
                           "target {} left the forwarding path of chain {} while forwarding", t.id,
                           t.chain->chain_id());
    }
    auto succ = RoutingView::Successor(*cur->chain, t.id);
    if (!succ) co_return Status::Ok();  // this target is the last one: nothing to forward
    auto addr = cur->view->TargetAddress(TargetId(succ->target_id()));
    if (!addr.ok()) {
      last = addr.status();
      continue;
    }
    UpdateReq fwd = req;
    fwd.set_from_target(t.id.value());
    fwd.set_update_version(version);
    fwd.set_chain_version(cur->chain->version());
    std::vector<uint8_t> full;
    std::span<const uint8_t> body = payload;
    if (succ->state() == mgmtd::SYNCING) {
      // A recovering successor gets the whole chunk, installed as committed (design 0006).
      if (req.type() == UPDATE_REMOVE || req.type() == UPDATE_PURGE) {
        fwd.set_type(UPDATE_PURGE);
        fwd.set_length(0);
        body = {};
      } else {
        auto r =
            co_await Disk([&] { return t.engine->ReadFull(t.id, id, chunk::ReadMode::kLatest); });
        if (!r.ok()) co_return r.status();
        full = std::move(r->data);
        fwd.set_type(UPDATE_REPLACE);
        fwd.set_chunk_size(r->meta.chunk_size);
        fwd.set_offset(0);
        fwd.set_length(full.size());
        fwd.set_checksum(r->checksum);
        body = full;
      }
      fwd.set_commit(true);
    }
    UpdateRsp rsp;
    net::CallOptions opts;
    opts.timeout = config_.forward_rpc_timeout.Get();
    if (!body.empty()) opts.attachment = {body};
    last = co_await rpc_->CallRaw(*addr, rpc::SERVICE_STORAGE, STORAGE_UPDATE, fwd, &rsp, opts);
    if (last.ok()) {
      if (acked) *acked = std::move(rsp);
      co_return Status::Ok();
    }
    HF3FS_LOG_DEBUG(
        "storage.forward_failed target={} successor={} chunk={} version={} error=\"{}\"", t.id,
        succ->target_id(), id, version, last);
    if (!ForwardRetryable(last)) co_return last;
  }
}

}  // namespace hf3fs::storage
