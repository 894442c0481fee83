// Metadata listing (resync, admin dumps), sync-done, one chunk's metadata, space and targets.
#include "common/logging.h"
#include "storage/service/storage_service.h"

namespace hf3fs::storage {

ChunkMetaInfo ToProto(const chunk::ChunkMeta& meta, std::optional<uint64_t> durable_epoch) {
  ChunkMetaInfo out;
  out.set_target_id(meta.target.value());
  out.set_chunk_id(meta.chunk_id.bytes());
  out.set_chunk_size(meta.chunk_size);
  out.set_chain_version(meta.chain_version.value());
  auto part = [](const chunk::VersionPart& p, ChunkPart* o) {
    o->set_version(p.version);
    o->set_length(p.length);
    o->set_checksum(p.checksum);
    o->set_removal(p.removal);
    o->set_epoch(p.epoch);
  };
  if (meta.committed) part(*meta.committed, out.mutable_committed());
  if (meta.pending) part(*meta.pending, out.mutable_pending());
  if (durable_epoch) {
    out.set_durable((!meta.committed || meta.committed->epoch <= *durable_epoch) &&
                    (!meta.pending || meta.pending->epoch <= *durable_epoch));
  }
  return out;
}

awaitable<Status> StorageService::ListChunkMeta(const ListChunkMetaReq& req,
                                                ListChunkMetaRsp& rsp) {
  HF3FS_CO_TRY_ASSIGN(auto t, targets_.ForTarget(TargetId(req.target_id())));
  if (!t.engine) co_return MakeStatus(StatusCode::kDiskError, "target {} has no disk", t.id);
  uint32_t limit = req.limit() == 0 ? 1024 : std::min(req.limit(), chunk::kMaxRangeLimit);
  chunk::ChunkId begin(req.begin()), end(req.end());
  auto page = co_await Disk([&] { return t.engine->ListMeta(t.id, begin, end, limit); });
  if (!page.ok()) co_return page.status();
  uint64_t durable = t.engine->durable_epoch();
  for (const auto& m : page->metas) *rsp.add_metas() = ToProto(m, durable);
  rsp.set_more(page->more);
  if (page->more) rsp.set_next(page->next.bytes());
  co_return Status::Ok();
}

awaitable<Status> StorageService::SyncDone(const SyncDoneReq& req) {
  HF3FS_CO_TRY(Attached());
  Status st = targets_.SyncDone(TargetId(req.target_id()), ChainVersion(req.chain_version()));
  if (st.code() == StatusCode::kChainVersionMismatch) {
    // This node may be behind: look again before refusing.
    (void)co_await routing_->Refresh();
    st = targets_.SyncDone(TargetId(req.target_id()), ChainVersion(req.chain_version()));
  }
  co_return st;
}

awaitable<Status> StorageService::GetChunkMeta(const GetChunkMetaReq& req, GetChunkMetaRsp& rsp) {
  HF3FS_CO_TRY_ASSIGN(auto t, targets_.ForTarget(TargetId(req.target_id())));
  if (!t.engine) co_return MakeStatus(StatusCode::kDiskError, "target {} has no disk", t.id);
  chunk::ChunkId id(req.chunk_id());
  if (!id.valid()) co_return Status(StatusCode::kInvalidArgument, "bad chunk id");
  auto m = co_await Disk([&] { return t.engine->GetMeta(t.id, id); });
  if (!m.ok()) co_return m.status();
  *rsp.mutable_meta() = ToProto(*m, t.engine->durable_epoch());
  co_return Status::Ok();
}

awaitable<Status> StorageService::SpaceInfo(SpaceInfoRsp& rsp) {
  std::map<uint32_t, std::vector<uint64_t>> targets_of_disk;
  for (const auto& t : targets_.All()) targets_of_disk[t.disk].push_back(t.id.value());
  for (size_t i = 0; i < targets_.disks(); ++i) {
    auto* d = rsp.add_disks();
    d->set_disk_index(i);
    for (uint64_t id : targets_of_disk[i]) d->add_targets(id);
    auto* engine = targets_.engine(i);
    if (!engine) {
      d->set_failed(true);
      d->set_error("disk could not be opened");
      continue;
    }
    d->set_path(engine->info().dir);
    auto s = co_await Disk([&] { return engine->GetSpaceInfo(); });
    Status health = engine->health();
    if (!health.ok()) {
      d->set_failed(true);
      d->set_error(health.ToString());
    }
    if (!s.ok()) {
      d->set_failed(true);
      d->set_error(s.status().ToString());
      continue;
    }
    d->set_capacity_bytes(s->capacity_bytes);
    d->set_free_bytes(s->free_bytes);
    d->set_used_slot_bytes(s->used_slot_bytes);
    d->set_low_space(s->low_space);
  }
  co_return Status::Ok();
}

awaitable<Status> StorageService::TargetInfo(TargetInfoRsp& rsp) {
  rsp.set_node_id(targets_.self().value());
  for (const auto& t : targets_.All()) {
    auto* o = rsp.add_targets();
    o->set_target_id(t.id.value());
    o->set_disk_index(t.disk);
    if (t.chain) {
      o->set_chain_id(t.chain->chain_id());
      o->set_chain_version(t.chain->version());
    }
    o->set_public_state(t.public_state);
    o->set_local_state(t.local_state);
  }
  co_return Status::Ok();
}

}  // namespace hf3fs::storage
