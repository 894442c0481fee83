// StorageClient: chunk-level I/O against the storage service (ARCHITECTURE.md 3.2-3.3).
//
// Updates go to the head of the chain from the routing cache, each on an update channel with a
// fresh sequence number, and are retried (same channel and sequence, so the head applies each at
// most once while it lives) on retryable errors and routing changes until `timeout`.
// Reads pick a SERVING replica per chunk (round-robin, random, head or tail), batch the chunks
// that go to one node into one request, and retry a chunk on another replica when the answer is
// retryable ("not committed", not serving, stale chain version, connection lost). A chunk that does
// not exist reads as zeros.
//
// Thread-safe; calls may run concurrently from coroutines on any executor.
#pragma once

#include <atomic>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "client/mgmtd_client.h"
#include "net/rpc_client.h"
#include "storage.pb.h"

namespace hf3fs::client {

enum class ReplicaSelection { kRoundRobin, kRandom, kHead, kTail };

struct StorageClientOptions {
  Duration timeout = std::chrono::seconds(60);  // per call, across retries
  Duration retry_min = std::chrono::milliseconds(10);
  Duration retry_max = std::chrono::milliseconds(500);
  Duration rpc_timeout = std::chrono::seconds(20);  // one attempt
  ReplicaSelection selection = ReplicaSelection::kRoundRobin;
  bool verify_checksum = false;  // ask servers to verify whole-chunk CRCs on partial reads
};

struct ReadOp {
  ChainId chain;
  std::string chunk_id;
  uint32_t offset = 0;
  std::span<uint8_t> out;  // filled with the chunk's bytes, zeros past its end or for holes
  // Results:
  Status status;
  uint32_t bytes = 0;    // bytes that came from the chunk (the rest of `out` is zeros)
  uint64_t version = 0;  // 0 for a missing chunk
  uint32_t chunk_length = 0;
  uint32_t chunk_checksum = 0;
};

class StorageClient {
 public:
  // `rpc` and `routing` must outlive the client. `client_id` names this client's update channels
  // at the heads (unique per process: e.g. its mgmtd client session id).
  StorageClient(net::RpcClient& rpc, RoutingCache& routing, uint64_t client_id,
                StorageClientOptions options = {});

  // Writes `data` at `offset` of the chunk (created with `chunk_size` if missing).
  awaitable<Result<storage::UpdateRsp>> Write(ChainId chain, const std::string& chunk_id,
                                              uint32_t chunk_size, uint32_t offset,
                                              std::span<const uint8_t> data);
  awaitable<Result<storage::UpdateRsp>> Truncate(ChainId chain, const std::string& chunk_id,
                                                 uint32_t chunk_size, uint32_t length);
  // Removing a missing chunk succeeds (update_version 0).
  awaitable<Result<storage::UpdateRsp>> Remove(ChainId chain, const std::string& chunk_id);

  // Runs every op; returns the first op failure (each op has its own status too).
  awaitable<Status> Read(std::span<ReadOp> ops, bool allow_uncommitted = false);

  awaitable<Result<storage::QueryLastChunkRsp>> QueryLastChunk(ChainId chain,
                                                               const std::string& begin,
                                                               const std::string& end);
  // Removes up to `limit` chunks of [begin, end) along the chain; call again from `next` while
  // `more`.
  awaitable<Result<storage::RemoveChunksRsp>> RemoveChunks(ChainId chain, const std::string& begin,
                                                           const std::string& end,
                                                           uint32_t limit = 1024);

  // Makes every update acknowledged on the chain so far power-safe on all its replicas
  // (STORAGE_SYNC_CHAIN at the head, which flushes and forwards along the chain).
  awaitable<Status> SyncChain(ChainId chain);

  // Sends one update with explicit fields to the current head without retrying (tests and
  // tools that check the service's answers to stale versions or duplicate sequences).
  awaitable<Result<storage::UpdateRsp>> SendUpdateOnce(const net::Address& addr,
                                                       const storage::UpdateReq& req,
                                                       std::span<const uint8_t> data);

  uint64_t client_id() const { return client_id_; }

 private:
  struct Channel {
    uint32_t id;
    uint64_t seq;
  };
  Channel AcquireChannel();
  void ReleaseChannel(Channel c);
  awaitable<Result<storage::UpdateRsp>> Update(storage::UpdateReq req,
                                               std::span<const uint8_t> data);
  // Calls the head of the chain (refreshing routing as needed), with retries.
  template <typename Rsp, typename Req>
  awaitable<Result<Rsp>> CallHead(ChainId chain, uint32_t method, Req req,
                                  std::span<const uint8_t> data);
  template <typename Rsp, typename Req>
  awaitable<Result<Rsp>> CallServing(ChainId chain, uint32_t method, Req req);
  TargetId Pick(const mgmtd::ChainRecord& chain, uint32_t attempt);
  awaitable<void> Backoff(Duration& delay);

  net::RpcClient& rpc_;
  RoutingCache& routing_;
  const uint64_t client_id_;
  const StorageClientOptions options_;
  std::mutex mu_;
  std::vector<Channel> free_channels_;
  uint32_t next_channel_ = 1;
  std::atomic<uint64_t> rr_{0};
};

}  // namespace hf3fs::client
