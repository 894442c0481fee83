#include "storage/craq/apply.h"

namespace hf3fs::storage {

namespace {

// Whether a client may send this update type (write, truncate, remove); the others are replicas'.
bool IsNormalUpdate(UpdateType t) {
  return t == UPDATE_WRITE || t == UPDATE_TRUNCATE || t == UPDATE_REMOVE;
}

}  // namespace

Status ValidateUpdate(const UpdateReq& req, size_t payload_bytes, bool from_client) {
  chunk::ChunkId id(req.chunk_id());
  if (!id.valid()) {
    return MakeStatus(StatusCode::kInvalidArgument, "chunk id of {} bytes (1..{} allowed)",
                      req.chunk_id().size(), chunk::kMaxChunkIdBytes);
  }
  if (from_client && !IsNormalUpdate(req.type())) {
    return MakeStatus(StatusCode::kInvalidArgument,
                      "update type {} is for replicas only (clients write, truncate, remove)",
                      static_cast<int>(req.type()));
  }
  bool carries_data = req.type() == UPDATE_WRITE || req.type() == UPDATE_REPLACE;
  if (carries_data && payload_bytes != req.length()) {
    return MakeStatus(StatusCode::kInvalidArgument,
                      "update says {} bytes but its attachment has {}", req.length(),
                      payload_bytes);
  }
  if (!carries_data && payload_bytes != 0) {
    return Status(StatusCode::kInvalidArgument, "only writes and replaces carry data");
  }
  return Status::Ok();
}

Result<chunk::ChunkMeta> ApplyLocal(chunk::ChunkEngine& engine, TargetId target,
                                    const UpdateReq& req, std::span<const uint8_t> payload,
                                    uint64_t version, ChainVersion chain_version) {
  chunk::ChunkId id(req.chunk_id());
  chunk::UpdateOptions opts;
  opts.update_version = version;
  opts.chain_version = chain_version;
  switch (req.type()) {
    case UPDATE_WRITE:
      opts.expected_checksum = req.checksum();
      return engine.Write(target, id, req.chunk_size(), req.offset(), payload, opts);
    case UPDATE_TRUNCATE:
      return engine.Truncate(target, id, req.chunk_size(), req.length(), opts);
    case UPDATE_REMOVE:
      return engine.Remove(target, id, opts);
    case UPDATE_REPLACE: {
      chunk::ReplaceOptions r;
      r.chunk_size = req.chunk_size();
      r.version = version;
      r.commit = req.commit();
      r.chain_version = chain_version;
      r.expected_checksum = req.checksum();
      r.ignore_low_space = req.before_removal();
      return engine.ReplaceFull(target, id, payload, r);
    }
    case UPDATE_PURGE: {
      HF3FS_TRY(engine.Purge(target, id).status());
      chunk::ChunkMeta gone;
      gone.target = target;
      gone.chunk_id = id;
      return gone;
    }
    default:
      return MakeStatus(StatusCode::kInvalidArgument, "unknown update type {}",
                        static_cast<int>(req.type()));
  }
}

}  // namespace hf3fs::storage
