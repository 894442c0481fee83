// StorageService: the RPC methods of `hf3fs storage` (proto/storage.proto, design 0006).
//
// Handlers run on io threads and never block them: chunk engine calls go to the disk pool, waits
// for chunk locks and for successors suspend the coroutine. Every request is checked against the
// node's routing view (chain version fencing, head / predecessor / SERVING checks) before it
// touches a chunk.
#pragma once

#include <atomic>
#include <optional>
#include <span>

#include "client/mgmtd_client.h"
#include "common/metrics.h"
#include "net/offload_pool.h"
#include "net/rpc_client.h"
#include "net/service.h"
#include "storage.pb.h"
#include "storage/craq/channel_cache.h"
#include "storage/craq/chunk_lock.h"
#include "storage/storage_config.h"
#include "storage/target/target_map.h"

namespace hf3fs::storage {

using net::awaitable;

// Conversions shared by the service, resync and admin. With `durable_epoch`, `durable` says
// whether every part's epoch is at most it.
ChunkMetaInfo ToProto(const chunk::ChunkMeta& meta,
                      std::optional<uint64_t> durable_epoch = std::nullopt);

class StorageService {
 public:
  // Everything passed in must outlive the service. Register before the RPC server starts;
  // requests are answered with the retryable kUnavailable until Attach() gave the service its
  // RPC client and routing cache (which need the started io pool).
  StorageService(StorageSection& config, TargetMap& targets, net::OffloadPool& disk_pool);

  void Register(net::ServiceRegistry& registry);
  void Attach(net::RpcClient& rpc, client::RoutingCache& routing);

  // Used by resync: the chunk locks and the disk pool it shares with updates.
  ChunkLocks& locks() { return locks_; }
  net::OffloadPool& disk_pool() { return disk_pool_; }

  // Runs `fn()` (a blocking chunk engine call) on the disk pool.
  template <typename Fn>
  awaitable<std::invoke_result_t<Fn&>> Disk(Fn fn) {
    co_return co_await disk_pool_.Run(std::move(fn));
  }

  // The local target of `chain_id` with the request's chain version checked: a newer version
  // than this node's makes it refresh routing first; an older one is kChainVersionMismatch.
  awaitable<Result<LocalTarget>> CheckChain(uint32_t chain_id, uint32_t chain_version);
  // kUnavailable until Attach().
  Status Attached() const;

 private:
  // service/update.cc
  awaitable<Status> Update(const UpdateReq& req, UpdateRsp& rsp, net::RequestContext& ctx);
  awaitable<Status> HeadUpdate(const UpdateReq& req, std::span<const uint8_t> payload,
                               UpdateRsp& rsp);
  awaitable<Status> ReplicaUpdate(const UpdateReq& req, std::span<const uint8_t> payload,
                                  UpdateRsp& rsp);
  // Applies, forwards and commits one update at `version` while the chunk lock is held.
  awaitable<Result<chunk::ChunkMeta>> ApplyForwardCommit(const LocalTarget& t, const UpdateReq& req,
                                                         std::span<const uint8_t> payload,
                                                         uint64_t version);
  // Forwards to the successor until it acknowledges, the chain leaves no successor, or
  // forward_timeout passes (kForwardFailed). `*acked` gets the successor's answer (cleared when
  // there was no successor).
  awaitable<Status> Forward(const LocalTarget& t, const UpdateReq& req,
                            std::span<const uint8_t> payload, uint64_t version,
                            std::optional<UpdateRsp>* acked = nullptr);
  // A leftover pending part at the head (a forward that failed earlier) is forwarded whole and
  // committed before a new update is applied, so replicas never hold two contents of a version.
  awaitable<Status> ResolvePending(const LocalTarget& t, const UpdateReq& req,
                                   const chunk::ChunkMeta& meta);

  // service/read.cc
  awaitable<Status> BatchRead(const BatchReadReq& req, BatchReadRsp& rsp, net::RequestContext& ctx);
  awaitable<Status> QueryLastChunk(const QueryLastChunkReq& req, QueryLastChunkRsp& rsp);
  awaitable<Status> RemoveChunks(const RemoveChunksReq& req, RemoveChunksRsp& rsp);

  // service/sync.cc
  awaitable<Status> SyncChain(const SyncChainReq& req);
  // Forwards a sync to the successor until it answers, the chain leaves no successor, or
  // forward_timeout passes (kForwardFailed).
  awaitable<Status> ForwardSync(LocalTarget t);

  // service/debug.cc
  awaitable<Status> ListChunkMeta(const ListChunkMetaReq& req, ListChunkMetaRsp& rsp);
  awaitable<Status> SyncDone(const SyncDoneReq& req);
  awaitable<Status> GetChunkMeta(const GetChunkMetaReq& req, GetChunkMetaRsp& rsp);
  awaitable<Status> SpaceInfo(SpaceInfoRsp& rsp);
  awaitable<Status> TargetInfo(TargetInfoRsp& rsp);

  StorageSection& config_;
  TargetMap& targets_;
  // Set once by Attach() before attached_ becomes true; handlers use them only after
  // CheckChain() or Attached() succeeded.
  net::RpcClient* rpc_ = nullptr;
  client::RoutingCache* routing_ = nullptr;
  std::atomic<bool> attached_{false};
  net::OffloadPool& disk_pool_;
  ChunkLocks locks_;
  ChannelCache channels_;

  metrics::Counter* updates_head_;
  metrics::Counter* updates_replica_;
  metrics::Counter* forward_retries_;
  metrics::Counter* duplicates_;
  metrics::Counter* neighbour_mismatches_;
  metrics::Counter* reads_;
  metrics::Counter* read_bytes_;
  metrics::Counter* syncs_;
};

}  // namespace hf3fs::storage
