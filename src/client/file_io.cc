#include "client/file_io.h"

#include <algorithm>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/this_coro.hpp>

#include "meta/layout.h"

namespace hf3fs::client {

namespace asio = boost::asio;

Result<FileLayout> FileLayout::Make(const meta::Inode& inode, const RoutingView& view) {
  const auto& l = inode.layout();
  if (l.chain_table_id() == 0 || l.stripe_size() == 0) {  // meta's "no layout"
    return MakeStatus(StatusCode::kInvalidArgument,
                      "inode {} has no layout (set a default layout on its directory with "
                      "`hf3fs admin set-layout`)",
                      inode.id());
  }
  if (l.chunk_size() == 0 || l.chunk_size() > (1ull << 32)) {
    return MakeStatus(StatusCode::kInvalidArgument, "inode {} has a bad chunk size {}",
                      inode.id(), l.chunk_size());
  }
  FileLayout out;
  out.layout_ = l;
  if (l.chains_size() == 0) {
    const mgmtd::ChainTableRecord* table = nullptr;
    for (const auto& t : view.info().chain_tables()) {
      if (t.table_id() != l.chain_table_id()) continue;
      if (l.chain_table_version() != 0 ? t.version() == l.chain_table_version()
                                       : (!table || t.version() > table->version())) {
        table = &t;
      }
    }
    if (!table) {
      return MakeStatus(StatusCode::kInvalidArgument,
                        "chain table {} version {} of inode {} is not in routing info",
                        l.chain_table_id(), l.chain_table_version(), inode.id());
    }
    out.table_.assign(table->chain_ids().begin(), table->chain_ids().end());
    if (out.table_.empty()) {
      return MakeStatus(StatusCode::kInvalidArgument, "chain table {} is empty",
                        l.chain_table_id());
    }
  }
  // Chunk i uses stripe slot i mod stripe: resolve every slot once (the shuffle allocates).
  uint32_t stripe = l.stripe_size();
  if (stripe > meta::kMaxStripe) {
    return MakeStatus(StatusCode::kInvalidArgument, "inode {} has stripe {} (max {})", inode.id(),
                      stripe, meta::kMaxStripe);
  }
  out.slots_.reserve(stripe);
  for (uint32_t i = 0; i < stripe; ++i) {
    auto c = meta::ChainOfChunk(l, out.table_, i);
    if (!c.ok()) return c.status();
    out.slots_.push_back(*c);
  }
  return out;
}

ChainId FileLayout::ChainOf(uint64_t chunk_index) const {
  return ChainId(slots_[chunk_index % slots_.size()]);
}

std::vector<ChainId> FileLayout::Chains() const {
  std::vector<ChainId> out;
  for (uint32_t c : slots_) {
    if (std::find(out.begin(), out.end(), ChainId(c)) == out.end()) out.push_back(ChainId(c));
  }
  return out;
}

std::string FileChunkId(uint64_t inode, uint64_t index) {
  std::string id(16, '\0');
  for (int i = 0; i < 8; ++i) {
    id[i] = static_cast<char>(inode >> (56 - 8 * i));
    id[8 + i] = static_cast<char>(index >> (56 - 8 * i));
  }
  return id;
}

awaitable<Result<FileLayout>> FileIo::Layout(const meta::Inode& inode) {
  auto view = routing_.View();
  if (!view) {
    HF3FS_CO_TRY(co_await routing_.Refresh());
    view = routing_.View();
    if (!view) co_return Status(StatusCode::kUnavailable, "no routing info from mgmtd");
  }
  auto same = [](const meta::Layout& a, const meta::Layout& b) {
    return a.chain_table_id() == b.chain_table_id() &&
           a.chain_table_version() == b.chain_table_version() &&
           a.chunk_size() == b.chunk_size() && a.stripe_size() == b.stripe_size() &&
           a.first_chain() == b.first_chain() && a.seed() == b.seed() &&
           std::equal(a.chains().begin(), a.chains().end(), b.chains().begin(), b.chains().end());
  };
  {
    std::lock_guard lock(cache_mu_);
    auto it = cache_.find(inode.id());
    if (it != cache_.end() && it->second.routing_version == view->version() &&
        same(it->second.layout, inode.layout())) {
      co_return it->second.resolved;
    }
  }
  auto layout = FileLayout::Make(inode, *view);
  if (layout.ok()) {
    std::lock_guard lock(cache_mu_);
    if (cache_.size() >= 4096) cache_.clear();
    cache_[inode.id()] = Cached{view->version(), inode.layout(), *layout};
  }
  if (!layout.ok() && inode.layout().chains_size() == 0) {
    // A chain table newer than our routing info: refresh once.
    HF3FS_CO_TRY(co_await routing_.Refresh(view->version() + 1));
    view = routing_.View();
    layout = FileLayout::Make(inode, *view);
  }
  co_return layout;
}

awaitable<Result<size_t>> FileIo::Read(const meta::Inode& inode, uint64_t length, uint64_t offset,
                                       std::span<uint8_t> out) {
  BatchRead one{&inode, length, offset, out};
  co_await ReadMany({&one, 1});
  if (!one.status.ok()) co_return one.status;
  co_return one.bytes;
}

awaitable<void> FileIo::ReadMany(std::span<BatchRead> reads, bool allow_uncommitted) {
  std::vector<ReadOp> ops;
  std::vector<size_t> owner;  // ops[i] belongs to reads[owner[i]]
  for (size_t r = 0; r < reads.size(); ++r) {
    auto& rd = reads[r];
    rd.bytes = 0;
    rd.hole = false;
    rd.status = Status::Ok();
    if (rd.offset >= rd.length || rd.out.empty()) continue;
    size_t n = static_cast<size_t>(std::min<uint64_t>(rd.out.size(), rd.length - rd.offset));
    auto layout = co_await Layout(*rd.inode);
    if (!layout.ok()) {
      rd.status = layout.status();
      continue;
    }
    rd.bytes = n;
    uint64_t cs = layout->chunk_size();
    for (uint64_t pos = rd.offset; pos < rd.offset + n;) {
      uint64_t index = pos / cs;
      uint64_t in_chunk = pos % cs;
      uint64_t len = std::min<uint64_t>(cs - in_chunk, rd.offset + n - pos);
      ReadOp op;
      op.chain = layout->ChainOf(index);
      op.chunk_id = FileChunkId(rd.inode->id(), index);
      op.offset = static_cast<uint32_t>(in_chunk);
      op.out = rd.out.subspan(pos - rd.offset, len);
      ops.push_back(std::move(op));
      owner.push_back(r);
      pos += len;
    }
  }
  if (ops.empty()) co_return;
  co_await storage_.Read(ops, allow_uncommitted);  // per-op statuses below
  for (size_t i = 0; i < ops.size(); ++i) {
    auto& rd = reads[owner[i]];
    if (!ops[i].status.ok()) {
      if (rd.status.ok()) rd.status = ops[i].status;
      rd.bytes = 0;
    } else if (ops[i].bytes < ops[i].out.size()) {
      rd.hole = true;
    }
  }
}

awaitable<Status> FileIo::Write(const meta::Inode& inode, uint64_t offset,
                                std::span<const uint8_t> data, std::vector<ChainId>* chains) {
  if (data.empty()) co_return Status::Ok();
  HF3FS_CO_TRY_ASSIGN(auto layout, co_await Layout(inode));
  uint64_t cs = layout.chunk_size();
  auto ex = co_await asio::this_coro::executor;
  auto one = [this](ChainId chain, std::string id, uint32_t cs, uint32_t off,
                    std::span<const uint8_t> d) -> awaitable<Status> {
    auto r = co_await storage_.Write(chain, id, cs, off, d);
    co_return r.status();
  };
  std::vector<decltype(asio::co_spawn(ex, one({}, {}, 0, 0, {}), asio::deferred))> ops;
  for (uint64_t pos = offset; pos < offset + data.size();) {
    uint64_t index = pos / cs;
    uint64_t in_chunk = pos % cs;
    uint64_t len = std::min<uint64_t>(cs - in_chunk, offset + data.size() - pos);
    if (chains != nullptr) chains->push_back(layout.ChainOf(index));
    ops.push_back(asio::co_spawn(ex,
                                 one(layout.ChainOf(index), FileChunkId(inode.id(), index),
                                     static_cast<uint32_t>(cs), static_cast<uint32_t>(in_chunk),
                                     data.subspan(pos - offset, len)),
                                 asio::deferred));
    pos += len;
  }
  if (ops.size() == 1) {
    // Common case (one chunk): no group bookkeeping.
    auto [e, st] = co_await std::move(ops[0])(asio::as_tuple(asio::use_awaitable));
    if (e) co_return Status(StatusCode::kInternal, "chunk write threw");
    co_return st;
  }
  auto [order, excs, results] =
      co_await asio::experimental::make_parallel_group(std::move(ops))
          .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
  for (size_t i = 0; i < results.size(); ++i) {
    if (excs[i]) co_return Status(StatusCode::kInternal, "chunk write threw");
    if (!results[i].ok()) co_return results[i];
  }
  co_return Status::Ok();
}

awaitable<Status> FileIo::SyncChains(std::vector<ChainId> chains) {
  std::sort(chains.begin(), chains.end());
  chains.erase(std::unique(chains.begin(), chains.end()), chains.end());
  if (chains.empty()) co_return Status::Ok();
  auto ex = co_await asio::this_coro::executor;
  auto one = [this](ChainId c) -> awaitable<Status> { co_return co_await storage_.SyncChain(c); };
  std::vector<decltype(asio::co_spawn(ex, one({}), asio::deferred))> ops;
  for (ChainId c : chains) ops.push_back(asio::co_spawn(ex, one(c), asio::deferred));
  auto [order, excs, results] =
      co_await asio::experimental::make_parallel_group(std::move(ops))
          .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
  for (size_t i = 0; i < results.size(); ++i) {
    if (excs[i]) co_return Status(StatusCode::kInternal, "chain sync threw");
    if (!results[i].ok()) co_return results[i];
  }
  co_return Status::Ok();
}

awaitable<Result<std::vector<ChainId>>> FileIo::AllChains(const meta::Inode& inode) {
  HF3FS_CO_TRY_ASSIGN(auto layout, co_await Layout(inode));
  co_return layout.Chains();
}

awaitable<Status> FileIo::PunchHole(const meta::Inode& inode, uint64_t file_length,
                                    uint64_t offset, uint64_t length) {
  uint64_t end = std::min(offset + length, file_length);
  if (offset >= end) co_return Status::Ok();
  HF3FS_CO_TRY_ASSIGN(auto layout, co_await Layout(inode));
  uint64_t cs = layout.chunk_size();
  std::vector<uint8_t> zeros;
  for (uint64_t pos = offset; pos < end;) {
    uint64_t index = pos / cs;
    uint64_t in_chunk = pos % cs;
    uint64_t len = std::min<uint64_t>(cs - in_chunk, end - pos);
    if (in_chunk == 0 && len == cs) {
      auto r = co_await storage_.Remove(layout.ChainOf(index), FileChunkId(inode.id(), index));
      HF3FS_CO_TRY(r.status());
    } else {
      zeros.assign(len, 0);
      auto r = co_await storage_.Write(layout.ChainOf(index), FileChunkId(inode.id(), index),
                                       static_cast<uint32_t>(cs), static_cast<uint32_t>(in_chunk),
                                       zeros);
      HF3FS_CO_TRY(r.status());
    }
    pos += len;
  }
  co_return Status::Ok();
}

}  // namespace hf3fs::client
