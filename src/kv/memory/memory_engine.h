// The memory backend: an in-process multi-version ordered map with optimistic, serializable
// transactions (occ::OccTransaction). For unit tests and `hf3fs local` runs that ask for it;
// nothing survives the engine, and each process has its own store.
//
// Every key keeps the versions that a registered reader may still read; a commit validates its
// read set against the ConflictLog and applies its writes as one new version under the commit
// mutex, so a version is visible as soon as it is committed.
#pragma once

#include <cstdint>
#include <memory>

#include "kv/engine.h"

namespace hf3fs::kv {

struct MemoryEngineOptions {
  uint64_t conflict_log_max_bytes = 64ull << 20;  // see occ::ConflictLog
};

std::unique_ptr<Engine> OpenMemoryEngine(const MemoryEngineOptions& options = {});

}  // namespace hf3fs::kv
