// Reads from any SERVING replica, range queries, and chunk-range removal (design 0006).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/this_coro.hpp>
#include <cstring>

#include "common/logging.h"
#include "storage/service/storage_service.h"

namespace hf3fs::storage {

namespace asio = boost::asio;

namespace {

Status CheckServing(const LocalTarget& t) {
  if (t.public_state != mgmtd::SERVING || t.local_state != mgmtd::UPTODATE) {
    return MakeStatus(StatusCode::kTargetNotServing,
                      "target {} is not serving reads (chain {} version {}): read another "
                      "replica",
                      t.id, t.chain ? t.chain->chain_id() : 0, t.chain ? t.chain->version() : 0);
  }
  return Status::Ok();
}

}  // namespace

awaitable<Status> StorageService::BatchRead(const BatchReadReq& req, BatchReadRsp& rsp,
                                            net::RequestContext& ctx) {
  if (static_cast<uint32_t>(req.ios_size()) > config_.max_read_batch.Get()) {
    co_return MakeStatus(StatusCode::kInvalidArgument,
                         "batch of {} reads exceeds storage.max_read_batch = {}", req.ios_size(),
                         config_.max_read_batch.Get());
  }
  uint64_t total = 0;
  for (const auto& io : req.ios()) total += io.length();
  if (total > config_.max_read_batch_bytes.Get()) {
    co_return MakeStatus(StatusCode::kInvalidArgument,
                         "batch read of {} bytes exceeds storage.max_read_batch_bytes = {}", total,
                         config_.max_read_batch_bytes.Get());
  }
  ctx.response_buffer.resize(total);
  auto mode = req.allow_uncommitted() ? chunk::ReadMode::kLatest : chunk::ReadMode::kCommitted;
  // The reads of a batch run at once on the disk threads (a batch of N small reads takes about
  // one read's time, not N); each lands at its requested offset and the bytes are packed in
  // request order afterwards.
  const int n = req.ios_size();
  std::vector<Result<chunk::ReadResult>> results(n, Status(StatusCode::kInternal, "not run"));
  std::vector<size_t> at(n);
  auto ex = co_await asio::this_coro::executor;
  auto one = [this, &req, &ctx, &at, &results, mode](int i) -> awaitable<void> {
    const auto& io = req.ios(i);
    auto t = co_await CheckChain(io.chain_id(), io.chain_version());
    Status st = t.ok() ? CheckServing(*t) : t.status();
    chunk::ChunkId id(io.chunk_id());
    if (st.ok() && !id.valid()) st = Status(StatusCode::kInvalidArgument, "bad chunk id");
    if (!st.ok()) {
      results[i] = st;
      co_return;
    }
    std::span<uint8_t> buf(ctx.response_buffer.data() + at[i], io.length());
    auto r = co_await Disk([&] { return t->engine->Read(t->id, id, io.offset(), buf, mode); });
    if (r.ok() && req.verify_checksum() && r->bytes != 0) {
      // A partial read cannot be checked against the whole-chunk CRC; read the chunk whole.
      auto full = co_await Disk([&] { return t->engine->ReadFull(t->id, id, mode); });
      if (!full.ok()) {
        results[i] = full.status();
        co_return;
      }
    }
    results[i] = std::move(r);
  };
  size_t requested = 0;
  for (int i = 0; i < n; ++i) {
    at[i] = requested;
    requested += req.ios(i).length();
  }
  if (n == 1) {
    co_await one(0);
  } else if (n > 1) {
    std::vector<decltype(asio::co_spawn(ex, one(0), asio::deferred))> ops;
    ops.reserve(n);
    for (int i = 0; i < n; ++i) ops.push_back(asio::co_spawn(ex, one(i), asio::deferred));
    co_await asio::experimental::make_parallel_group(std::move(ops))
        .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
  }
  size_t pos = 0;
  for (int i = 0; i < n; ++i) {
    auto* out = rsp.add_results();
    auto& r = results[i];
    if (!r.ok()) {
      out->set_status_code(static_cast<uint32_t>(r.status().code()));
      out->set_status_message(r.status().message());
      continue;
    }
    if (r->bytes != 0 && at[i] != pos) {
      std::memmove(ctx.response_buffer.data() + pos, ctx.response_buffer.data() + at[i], r->bytes);
    }
    reads_->Inc();
    read_bytes_->Inc(r->bytes);
    out->set_length(r->bytes);
    out->set_version(r->version);
    const auto& part =
        r->meta.pending && mode == chunk::ReadMode::kLatest ? *r->meta.pending : *r->meta.committed;
    out->set_chunk_length(part.length);
    out->set_chunk_checksum(part.checksum);
    pos += r->bytes;
  }
  if (pos > 0) {
    ctx.response_attachment.push_back(std::span<const uint8_t>(ctx.response_buffer.data(), pos));
  }
  co_return Status::Ok();
}

awaitable<Status> StorageService::QueryLastChunk(const QueryLastChunkReq& req,
                                                 QueryLastChunkRsp& rsp) {
  HF3FS_CO_TRY_ASSIGN(auto t, co_await CheckChain(req.chain_id(), req.chain_version()));
  HF3FS_CO_TRY(CheckServing(t));
  chunk::ChunkId begin(req.begin()), end(req.end());
  auto r = co_await Disk([&] { return t.engine->QueryLastChunk(t.id, begin, end); });
  if (!r.ok()) co_return r.status();
  if (r->last) *rsp.mutable_last() = ToProto(*r->last);
  rsp.set_chunks(r->chunks);
  rsp.set_total_length(r->total_length);
  rsp.set_pending(r->pending);
  co_return Status::Ok();
}

awaitable<Status> StorageService::RemoveChunks(const RemoveChunksReq& req, RemoveChunksRsp& rsp) {
  uint32_t limit = req.limit() == 0 ? 1024 : req.limit();
  if (limit > chunk::kMaxRangeLimit) {
    co_return MakeStatus(StatusCode::kInvalidArgument, "limit {} exceeds {}", limit,
                         chunk::kMaxRangeLimit);
  }
  HF3FS_CO_TRY_ASSIGN(auto t, co_await CheckChain(req.chain_id(), req.chain_version()));
  if (t.public_state != mgmtd::SERVING || client::RoutingView::Head(*t.chain) != t.id) {
    co_return MakeStatus(StatusCode::kStorageNotHead, "target {} is not the head of chain {}", t.id,
                         req.chain_id());
  }
  chunk::ChunkId begin(req.begin()), end(req.end());
  auto page = co_await Disk([&] { return t.engine->ListMeta(t.id, begin, end, limit); });
  if (!page.ok()) co_return page.status();
  uint32_t removed = 0;
  for (const auto& m : page->metas) {
    UpdateReq one;
    one.set_chain_id(req.chain_id());
    one.set_chain_version(t.chain->version());
    one.set_chunk_id(m.chunk_id.bytes());
    one.set_chunk_size(m.chunk_size);
    one.set_type(UPDATE_REMOVE);
    UpdateRsp one_rsp;
    HF3FS_CO_TRY(co_await HeadUpdate(one, {}, one_rsp));
    if (one_rsp.update_version() != 0) ++removed;
  }
  rsp.set_removed(removed);
  rsp.set_more(page->more);
  if (page->more) rsp.set_next(page->next.bytes());
  co_return Status::Ok();
}

}  // namespace hf3fs::storage
