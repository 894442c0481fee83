// The local step of a chain update (design 0006): checking an update request's fields and applying
// it to this node's chunk engine. Shared by the storage service's head and replica paths and by
// the fuzz target of update bodies (tests/fuzz/fuzz_chunk_updates.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "chunk/chunk_engine.h"
#include "common/status.h"
#include "storage.pb.h"

namespace hf3fs::storage {

// kInvalidArgument unless the request is well formed: a valid chunk id, a type the sender may
// use (`from_client`: the normal ones only), and an attachment of exactly `length` bytes for
// writes and replaces (none for the others).
Status ValidateUpdate(const UpdateReq& req, size_t payload_bytes, bool from_client);

// Applies one update to the local engine at `version` (blocking: run it on the disk pool). The
// engine checks sizes, offsets and versions.
Result<chunk::ChunkMeta> ApplyLocal(chunk::ChunkEngine& engine, TargetId target,
                                    const UpdateReq& req, std::span<const uint8_t> payload,
                                    uint64_t version, ChainVersion chain_version);

}  // namespace hf3fs::storage
