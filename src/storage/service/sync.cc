// SYNC_CHAIN (docs/design/0009-durability.md): every replica on a chain's forwarding path flushes
// its disk, the head first receiving the request from a client. A replica flushes while it
// forwards to its successor and answers once both are done, so the head's answer means every
// replica that holds the chain's acknowledged updates made them power-safe.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/logging.h"
#include "rpc.pb.h"
#include "storage/service/storage_service.h"

namespace hf3fs::storage {

namespace asio = boost::asio;
using client::RoutingView;
using namespace boost::asio::experimental::awaitable_operators;

awaitable<Status> StorageService::SyncChain(const SyncChainReq& req) {
  HF3FS_CO_TRY_ASSIGN(auto t, co_await CheckChain(req.chain_id(), req.chain_version()));
  if (req.from_target() == 0) {
    if (t.local_state == mgmtd::LOCAL_OFFLINE || t.public_state != mgmtd::SERVING ||
        RoutingView::Head(*t.chain) != t.id) {
      co_return MakeStatus(StatusCode::kStorageNotHead,
                           "target {} is not the head of chain {} (version {}): refresh routing",
                           t.id, req.chain_id(), t.chain->version());
    }
  } else {
    if (t.local_state == mgmtd::LOCAL_OFFLINE ||
        (t.public_state != mgmtd::SERVING && t.public_state != mgmtd::SYNCING)) {
      co_return MakeStatus(StatusCode::kTargetNotServing, "target {} is not on chain {}'s path",
                           t.id, req.chain_id());
    }
    if (RoutingView::Predecessor(*t.chain, t.id).value() != req.from_target()) {
      co_return MakeStatus(StatusCode::kNotPredecessor,
                           "target {} is not the predecessor of target {} in chain {}",
                           req.from_target(), t.id, req.chain_id());
    }
  }
  syncs_->Inc();
  chunk::ChunkEngine* engine = t.engine;
  auto ex = co_await asio::this_coro::executor;
  auto flush = [this, engine]() -> awaitable<Status> {
    co_return co_await Disk([engine] { return engine->Sync(); });
  };
  auto [local, forwarded] = co_await (asio::co_spawn(ex, flush(), asio::use_awaitable) &&
                                      asio::co_spawn(ex, ForwardSync(t), asio::use_awaitable));
  HF3FS_CO_TRY(local);
  co_return forwarded;
}

awaitable<Status> StorageService::ForwardSync(LocalTarget t) {
  auto deadline = std::chrono::steady_clock::now() + config_.forward_timeout.Get();
  Duration backoff = config_.forward_retry_min.Get();
  asio::steady_timer timer(co_await asio::this_coro::executor);
  Status last;
  for (int attempt = 0;; ++attempt) {
    if (attempt > 0) {
      if (std::chrono::steady_clock::now() + backoff > deadline) {
        co_return MakeStatus(StatusCode::kForwardFailed,
                             "target {} could not forward a sync of chain {}: {}", t.id,
                             t.chain->chain_id(), last.ToString());
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
                           "target {} left the path of chain {} while syncing", t.id,
                           t.chain->chain_id());
    }
    auto succ = RoutingView::Successor(*cur->chain, t.id);
    if (!succ) co_return Status::Ok();  // the tail: nothing to forward
    auto addr = cur->view->TargetAddress(TargetId(succ->target_id()));
    if (!addr.ok()) {
      last = addr.status();
      continue;
    }
    SyncChainReq fwd;
    fwd.set_chain_id(cur->chain->chain_id());
    fwd.set_chain_version(cur->chain->version());
    fwd.set_from_target(t.id.value());
    SyncChainRsp rsp;
    net::CallOptions opts;
    opts.timeout = config_.forward_rpc_timeout.Get();
    last = co_await rpc_->CallRaw(*addr, rpc::SERVICE_STORAGE, STORAGE_SYNC_CHAIN, fwd, &rsp, opts);
    if (last.ok()) co_return Status::Ok();
    HF3FS_LOG_DEBUG("storage.sync_forward_failed target={} successor={} error=\"{}\"", t.id,
                    succ->target_id(), last);
    if (!(last.retryable() || last.code() == StatusCode::kShuttingDown ||
          last.code() == StatusCode::kDiskError)) {
      co_return last;
    }
  }
}

}  // namespace hf3fs::storage
