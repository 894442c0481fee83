#include "storage/service/storage_service.h"

#include "common/logging.h"
#include "rpc.pb.h"

namespace hf3fs::storage {

StorageService::StorageService(StorageSection& config, TargetMap& targets,
                               net::OffloadPool& disk_pool)
    : config_(config),
      targets_(targets),
      disk_pool_(disk_pool),
      channels_(config.max_channels.Get()) {
  auto& reg = metrics::Registry::Global();
  const char* help = "chunk updates applied, by this target's role in the chain";
  updates_head_ = reg.GetCounter("hf3fs_storage_updates_total", help, {{"role", "head"}});
  updates_replica_ = reg.GetCounter("hf3fs_storage_updates_total", help, {{"role", "replica"}});
  forward_retries_ =
      reg.GetCounter("hf3fs_storage_forward_retries_total", "forward attempts after a failed one");
  duplicates_ = reg.GetCounter("hf3fs_storage_duplicate_updates_total",
                               "client updates answered from the channel cache");
  neighbour_mismatches_ =
      reg.GetCounter("hf3fs_storage_neighbour_checksum_mismatches_total",
                     "updates whose committed chunk checksum differed from the successor's");
  reads_ = reg.GetCounter("hf3fs_storage_reads_total", "chunk reads served");
  read_bytes_ = reg.GetCounter("hf3fs_storage_read_bytes_total", "bytes of chunk reads served");
  syncs_ = reg.GetCounter("hf3fs_storage_syncs_total",
                          "chain syncs served (each flushed this node's disk of the chain)");
}

void StorageService::Attach(net::RpcClient& rpc, client::RoutingCache& routing) {
  rpc_ = &rpc;
  routing_ = &routing;
  attached_.store(true, std::memory_order_release);
}

Status StorageService::Attached() const {
  if (!attached_.load(std::memory_order_acquire)) {
    return Status(StatusCode::kUnavailable, "storage node is starting");
  }
  return Status::Ok();
}

awaitable<Result<LocalTarget>> StorageService::CheckChain(uint32_t chain_id,
                                                          uint32_t chain_version) {
  HF3FS_CO_TRY(Attached());
  auto t = targets_.ForChain(ChainId(chain_id));
  bool behind = !t.ok() || t->chain->version() < chain_version;
  if (behind) {
    // The caller has seen a newer chain than this node: catch up before judging.
    (void)co_await routing_->Refresh();
    t = targets_.ForChain(ChainId(chain_id));
  }
  if (!t.ok()) co_return t.status();
  if (t->chain->version() != chain_version) {
    co_return MakeStatus(StatusCode::kChainVersionMismatch,
                         "chain {}: request has version {}, target {} has {}: refresh routing",
                         chain_id, chain_version, t->id, t->chain->version());
  }
  if (!t->engine) {
    co_return MakeStatus(StatusCode::kDiskError, "target {}: disk {} is not available", t->id,
                         t->disk);
  }
  co_return *t;
}

void StorageService::Register(net::ServiceRegistry& r) {
  using net::RequestContext;
  constexpr uint32_t kSvc = rpc::SERVICE_STORAGE;
  r.RegisterMethod<UpdateReq, UpdateRsp>(
      kSvc, STORAGE_UPDATE, "storage", "update",
      [this](const UpdateReq& q, UpdateRsp& p, RequestContext& c) { return Update(q, p, c); });
  r.RegisterMethod<BatchReadReq, BatchReadRsp>(
      kSvc, STORAGE_BATCH_READ, "storage", "batch_read",
      [this](const BatchReadReq& q, BatchReadRsp& p, RequestContext& c) {
        return BatchRead(q, p, c);
      });
  r.RegisterMethod<QueryLastChunkReq, QueryLastChunkRsp>(
      kSvc, STORAGE_QUERY_LAST_CHUNK, "storage", "query_last_chunk",
      [this](const QueryLastChunkReq& q, QueryLastChunkRsp& p, RequestContext&) {
        return QueryLastChunk(q, p);
      });
  r.RegisterMethod<RemoveChunksReq, RemoveChunksRsp>(
      kSvc, STORAGE_REMOVE_CHUNKS, "storage", "remove_chunks",
      [this](const RemoveChunksReq& q, RemoveChunksRsp& p, RequestContext&) {
        return RemoveChunks(q, p);
      },
      net::kServersAndAdmins);
  r.RegisterMethod<ListChunkMetaReq, ListChunkMetaRsp>(
      kSvc, STORAGE_LIST_CHUNK_META, "storage", "list_chunk_meta",
      [this](const ListChunkMetaReq& q, ListChunkMetaRsp& p, RequestContext&) {
        return ListChunkMeta(q, p);
      },
      net::kServersAndAdmins);
  r.RegisterMethod<SyncDoneReq, SyncDoneRsp>(
      kSvc, STORAGE_SYNC_DONE, "storage", "sync_done",
      [this](const SyncDoneReq& q, SyncDoneRsp&, RequestContext&) { return SyncDone(q); },
      net::kServersAndAdmins);
  r.RegisterMethod<GetChunkMetaReq, GetChunkMetaRsp>(
      kSvc, STORAGE_GET_CHUNK_META, "storage", "get_chunk_meta",
      [this](const GetChunkMetaReq& q, GetChunkMetaRsp& p, RequestContext&) {
        return GetChunkMeta(q, p);
      },
      net::kServersAndAdmins);
  r.RegisterMethod<SpaceInfoReq, SpaceInfoRsp>(
      kSvc, STORAGE_SPACE_INFO, "storage", "space_info",
      [this](const SpaceInfoReq&, SpaceInfoRsp& p, RequestContext&) { return SpaceInfo(p); });
  r.RegisterMethod<SyncChainReq, SyncChainRsp>(
      kSvc, STORAGE_SYNC_CHAIN, "storage", "sync_chain",
      [this](const SyncChainReq& q, SyncChainRsp&, RequestContext&) { return SyncChain(q); });
  r.RegisterMethod<TargetInfoReq, TargetInfoRsp>(
      kSvc, STORAGE_TARGET_INFO, "storage", "target_info",
      [this](const TargetInfoReq&, TargetInfoRsp& p, RequestContext&) { return TargetInfo(p); });
}

}  // namespace hf3fs::storage
