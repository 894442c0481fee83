#include "client/storage_client.h"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>
#include <map>
#include <random>

#include "common/crc32c.h"
#include "common/logging.h"
#include "rpc.pb.h"

namespace hf3fs::client {

namespace asio = boost::asio;
using storage::UpdateReq;
using storage::UpdateRsp;

namespace {

// Bounds of one batch read request (see Read).
constexpr size_t kMaxBatchReads = 1024;
constexpr size_t kMaxBatchBytes = 32u << 20;

// Errors after which a call is worth repeating once routing was refreshed: the chain or the
// target's role changed, a node is unreachable, or a disk failed and mgmtd will move its targets.
bool Retryable(const Status& st) { return st.retryable() || st.code() == StatusCode::kDiskError; }

bool NeedsRouting(const Status& st) {
  switch (st.code()) {
    case StatusCode::kChainVersionMismatch:
    case StatusCode::kStorageNotHead:
    case StatusCode::kTargetNotServing:
    case StatusCode::kTargetNotFound:
    case StatusCode::kRpcConnectFailed:
    case StatusCode::kRpcConnectionLost:
    case StatusCode::kRpcTimeout:
    case StatusCode::kDiskError:
    case StatusCode::kUnavailable:
      return true;
    default:
      return false;
  }
}

}  // namespace

StorageClient::StorageClient(net::RpcClient& rpc, RoutingCache& routing, uint64_t client_id,
                             StorageClientOptions options)
    : rpc_(rpc), routing_(routing), client_id_(client_id), options_(options) {}

StorageClient::Channel StorageClient::AcquireChannel() {
  std::lock_guard lock(mu_);
  if (free_channels_.empty()) return Channel{next_channel_++, 0};
  Channel c = free_channels_.back();
  free_channels_.pop_back();
  return c;
}

void StorageClient::ReleaseChannel(Channel c) {
  std::lock_guard lock(mu_);
  free_channels_.push_back(c);
}

awaitable<void> StorageClient::Backoff(Duration& delay) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(delay);
  co_await timer.async_wait(asio::use_awaitable);
  delay = std::min<Duration>(delay * 2, options_.retry_max);
}

template <typename Rsp, typename Req>
awaitable<Result<Rsp>> StorageClient::CallHead(ChainId chain, uint32_t method, Req req,
                                               std::span<const uint8_t> data) {
  auto deadline = std::chrono::steady_clock::now() + options_.timeout;
  Duration delay = options_.retry_min;
  Status last(StatusCode::kUnavailable, "no routing info");
  for (int attempt = 0;; ++attempt) {
    if (attempt > 0) {
      if (std::chrono::steady_clock::now() + delay > deadline) {
        co_return last.WithContext(
            fmt::format("chain {}: gave up after {} attempts", chain, attempt));
      }
      co_await Backoff(delay);
      if (NeedsRouting(last)) (void)co_await routing_.Refresh();
    }
    auto view = routing_.View();
    if (!view) {
      (void)co_await routing_.Refresh();
      view = routing_.View();
      if (!view) continue;
    }
    const auto* c = view->Chain(chain);
    if (!c) co_return MakeStatus(StatusCode::kInvalidArgument, "chain {} does not exist", chain);
    TargetId head = RoutingView::Head(*c);
    if (!head.valid()) {
      last = MakeStatus(StatusCode::kTargetNotServing, "chain {} has no serving target", chain);
      continue;
    }
    auto addr = view->TargetAddress(head);
    if (!addr.ok()) {
      last = addr.status();
      continue;
    }
    req.set_chain_version(c->version());
    Rsp rsp;
    net::CallOptions opts;
    opts.timeout = options_.rpc_timeout;
    if (!data.empty()) opts.attachment = {data};
    last = co_await rpc_.CallRaw(*addr, rpc::SERVICE_STORAGE, method, req, &rsp, opts);
    if (last.ok()) co_return rsp;
    if (!Retryable(last)) co_return last;
  }
}

awaitable<Result<UpdateRsp>> StorageClient::Update(UpdateReq req, std::span<const uint8_t> data) {
  Channel ch = AcquireChannel();
  ch.seq++;
  req.set_client_id(client_id_);
  req.set_channel(ch.id);
  req.set_seq(ch.seq);
  auto r =
      co_await CallHead<UpdateRsp>(ChainId(req.chain_id()), storage::STORAGE_UPDATE, req, data);
  ReleaseChannel(ch);
  co_return r;
}

awaitable<Result<UpdateRsp>> StorageClient::Write(ChainId chain, const std::string& chunk_id,
                                                  uint32_t chunk_size, uint32_t offset,
                                                  std::span<const uint8_t> data) {
  UpdateReq req;
  req.set_chain_id(chain.value());
  req.set_chunk_id(chunk_id);
  req.set_chunk_size(chunk_size);
  req.set_type(storage::UPDATE_WRITE);
  req.set_offset(offset);
  req.set_length(data.size());
  req.set_checksum(Crc32c(data));
  co_return co_await Update(std::move(req), data);
}

awaitable<Result<UpdateRsp>> StorageClient::Truncate(ChainId chain, const std::string& chunk_id,
                                                     uint32_t chunk_size, uint32_t length) {
  UpdateReq req;
  req.set_chain_id(chain.value());
  req.set_chunk_id(chunk_id);
  req.set_chunk_size(chunk_size);
  req.set_type(storage::UPDATE_TRUNCATE);
  req.set_length(length);
  co_return co_await Update(std::move(req), {});
}

awaitable<Result<UpdateRsp>> StorageClient::Remove(ChainId chain, const std::string& chunk_id) {
  UpdateReq req;
  req.set_chain_id(chain.value());
  req.set_chunk_id(chunk_id);
  req.set_type(storage::UPDATE_REMOVE);
  co_return co_await Update(std::move(req), {});
}

awaitable<Result<UpdateRsp>> StorageClient::SendUpdateOnce(const net::Address& addr,
                                                           const UpdateReq& req,
                                                           std::span<const uint8_t> data) {
  net::CallOptions opts;
  opts.timeout = options_.rpc_timeout;
  if (!data.empty()) opts.attachment = {data};
  UpdateRsp rsp;
  HF3FS_CO_TRY(
      co_await rpc_.CallRaw(addr, rpc::SERVICE_STORAGE, storage::STORAGE_UPDATE, req, &rsp, opts));
  co_return rsp;
}

TargetId StorageClient::Pick(const mgmtd::ChainRecord& chain, uint32_t attempt) {
  auto serving = RoutingView::Serving(chain);
  if (serving.empty()) return TargetId();
  switch (options_.selection) {
    case ReplicaSelection::kHead:
      return serving[attempt % serving.size()];
    case ReplicaSelection::kTail:
      return serving[serving.size() - 1 - attempt % serving.size()];
    case ReplicaSelection::kRandom: {
      thread_local std::mt19937_64 rng(std::random_device{}());
      return serving[rng() % serving.size()];
    }
    case ReplicaSelection::kRoundRobin:
    default:
      return serving[(rr_.fetch_add(1) + attempt) % serving.size()];
  }
}

awaitable<Status> StorageClient::Read(std::span<ReadOp> ops, bool allow_uncommitted) {
  auto deadline = std::chrono::steady_clock::now() + options_.timeout;
  Duration delay = options_.retry_min;
  std::vector<size_t> todo(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) todo[i] = i;
  Status last;
  for (uint32_t attempt = 0; !todo.empty(); ++attempt) {
    if (attempt > 0) {
      if (std::chrono::steady_clock::now() + delay > deadline) {
        for (size_t i : todo) ops[i].status = last;
        co_return last.WithContext(fmt::format("{} chunk reads gave up", todo.size()));
      }
      co_await Backoff(delay);
      if (NeedsRouting(last)) (void)co_await routing_.Refresh();
    }
    auto view = routing_.View();
    if (!view) {
      (void)co_await routing_.Refresh();
      last = Status(StatusCode::kUnavailable, "no routing info");
      continue;
    }
    // Group by node address.
    std::map<std::string, std::pair<net::Address, std::vector<size_t>>> groups;
    std::vector<size_t> retry;
    for (size_t i : todo) {
      const auto* c = view->Chain(ops[i].chain);
      if (!c) {
        ops[i].status =
            MakeStatus(StatusCode::kInvalidArgument, "chain {} does not exist", ops[i].chain);
        continue;
      }
      TargetId t = Pick(*c, attempt);
      auto addr =
          t.valid()
              ? view->TargetAddress(t)
              : Result<net::Address>(MakeStatus(StatusCode::kTargetNotServing,
                                                "chain {} has no serving target", ops[i].chain));
      if (!addr.ok()) {
        last = addr.status();
        retry.push_back(i);
        continue;
      }
      auto& g = groups[addr->ToString()];
      g.first = *addr;
      g.second.push_back(i);
    }
    // One request per node, split so that no answer outgrows an RPC frame or the server's batch
    // limits: at most kMaxBatchReads reads and kMaxBatchBytes bytes each (a larger single read,
    // up to a 64 MiB chunk, goes alone).
    std::vector<std::pair<net::Address, std::vector<size_t>>> batches;
    for (auto& [name, group] : groups) {
      size_t bytes = 0;
      bool fresh = true;
      for (size_t i : group.second) {
        size_t n = ops[i].out.size();
        if (fresh || batches.back().second.size() >= kMaxBatchReads || bytes + n > kMaxBatchBytes) {
          batches.emplace_back(group.first, std::vector<size_t>{});
          bytes = 0;
          fresh = false;
        }
        batches.back().second.push_back(i);
        bytes += n;
      }
    }
    for (auto& group : batches) {
      storage::BatchReadReq req;
      req.set_allow_uncommitted(allow_uncommitted);
      req.set_verify_checksum(options_.verify_checksum);
      size_t total = 0;
      for (size_t i : group.second) {
        auto* io = req.add_ios();
        const auto* c = view->Chain(ops[i].chain);
        io->set_chain_id(ops[i].chain.value());
        io->set_chain_version(c->version());
        io->set_chunk_id(ops[i].chunk_id);
        io->set_offset(ops[i].offset);
        io->set_length(ops[i].out.size());
        total += ops[i].out.size();
      }
      storage::BatchReadRsp rsp;
      net::CallOptions opts;
      opts.timeout = options_.rpc_timeout;
      std::vector<uint8_t> buffer;
      size_t got = 0;
      bool single = group.second.size() == 1;
      if (single) {
        opts.recv_buffer = ops[group.second[0]].out;  // straight into the caller's buffer
      } else {
        opts.attachment_out = &buffer;
      }
      opts.attachment_bytes = &got;
      Status st = co_await rpc_.CallRaw(group.first, rpc::SERVICE_STORAGE,
                                        storage::STORAGE_BATCH_READ, req, &rsp, opts);
      if (st.ok() && rsp.results_size() != static_cast<int>(group.second.size())) {
        st = Status(StatusCode::kRpcBadMessage, "batch read answered a different count");
      }
      if (!st.ok()) {
        last = st;
        if (!Retryable(st)) {
          for (size_t i : group.second) ops[i].status = st;
          co_return st;
        }
        retry.insert(retry.end(), group.second.begin(), group.second.end());
        continue;
      }
      size_t pos = 0;
      for (int k = 0; k < rsp.results_size(); ++k) {
        ReadOp& op = ops[group.second[k]];
        const auto& res = rsp.results(k);
        Status rs = res.status_code() == 0
                        ? Status::Ok()
                        : Status(StatusCodeFromNumber(res.status_code()), res.status_message());
        if (rs.code() == StatusCode::kChunkNotFound) {
          std::memset(op.out.data(), 0, op.out.size());
          op.status = Status::Ok();
          op.bytes = op.version = op.chunk_length = op.chunk_checksum = 0;
          continue;
        }
        if (!rs.ok()) {
          last = rs;
          if (Retryable(rs)) {
            retry.push_back(group.second[k]);
          } else {
            op.status = rs;
          }
          continue;
        }
        if (pos + res.length() > got || res.length() > op.out.size()) {
          last = Status(StatusCode::kRpcBadMessage, "batch read result exceeds its attachment");
          retry.push_back(group.second[k]);
          continue;
        }
        if (!single) std::memcpy(op.out.data(), buffer.data() + pos, res.length());
        std::memset(op.out.data() + res.length(), 0, op.out.size() - res.length());
        pos += res.length();
        op.status = Status::Ok();
        op.bytes = res.length();
        op.version = res.version();
        op.chunk_length = res.chunk_length();
        op.chunk_checksum = res.chunk_checksum();
      }
      (void)total;
    }
    todo = std::move(retry);
  }
  for (const auto& op : ops) {
    if (!op.status.ok()) co_return op.status;
  }
  co_return Status::Ok();
}

template <typename Rsp, typename Req>
awaitable<Result<Rsp>> StorageClient::CallServing(ChainId chain, uint32_t method, Req req) {
  auto deadline = std::chrono::steady_clock::now() + options_.timeout;
  Duration delay = options_.retry_min;
  Status last(StatusCode::kUnavailable, "no routing info");
  for (uint32_t attempt = 0;; ++attempt) {
    if (attempt > 0) {
      if (std::chrono::steady_clock::now() + delay > deadline) co_return last;
      co_await Backoff(delay);
      if (NeedsRouting(last)) (void)co_await routing_.Refresh();
    }
    auto view = routing_.View();
    if (!view) {
      (void)co_await routing_.Refresh();
      continue;
    }
    const auto* c = view->Chain(chain);
    if (!c) co_return MakeStatus(StatusCode::kInvalidArgument, "chain {} does not exist", chain);
    TargetId t = Pick(*c, attempt);
    if (!t.valid()) {
      last = MakeStatus(StatusCode::kTargetNotServing, "chain {} has no serving target", chain);
      continue;
    }
    auto addr = view->TargetAddress(t);
    if (!addr.ok()) {
      last = addr.status();
      continue;
    }
    req.set_chain_version(c->version());
    net::CallOptions opts;
    opts.timeout = options_.rpc_timeout;
    Rsp rsp;
    last = co_await rpc_.CallRaw(*addr, rpc::SERVICE_STORAGE, method, req, &rsp, opts);
    if (last.ok()) co_return rsp;
    if (!Retryable(last)) co_return last;
  }
}

awaitable<Result<storage::QueryLastChunkRsp>> StorageClient::QueryLastChunk(
    ChainId chain, const std::string& begin, const std::string& end) {
  storage::QueryLastChunkReq req;
  req.set_chain_id(chain.value());
  req.set_begin(begin);
  req.set_end(end);
  co_return co_await CallServing<storage::QueryLastChunkRsp>(
      chain, storage::STORAGE_QUERY_LAST_CHUNK, req);
}

awaitable<Result<storage::RemoveChunksRsp>> StorageClient::RemoveChunks(ChainId chain,
                                                                        const std::string& begin,
                                                                        const std::string& end,
                                                                        uint32_t limit) {
  storage::RemoveChunksReq req;
  req.set_chain_id(chain.value());
  req.set_begin(begin);
  req.set_end(end);
  req.set_limit(limit);
  co_return co_await CallHead<storage::RemoveChunksRsp>(chain, storage::STORAGE_REMOVE_CHUNKS, req,
                                                        {});
}

awaitable<Status> StorageClient::SyncChain(ChainId chain) {
  storage::SyncChainReq req;
  req.set_chain_id(chain.value());
  auto r = co_await CallHead<storage::SyncChainRsp>(chain, storage::STORAGE_SYNC_CHAIN, req, {});
  co_return r.status();
}

}  // namespace hf3fs::client
