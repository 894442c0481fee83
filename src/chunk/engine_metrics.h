// Metrics of one ChunkEngine (internal to src/chunk). Names: docs/design/0003-chunk-engine.md.
#pragma once

#include <array>
#include <chrono>
#include <string>
#include <vector>

#include "chunk/chunk_engine.h"
#include "common/metrics.h"

namespace hf3fs::chunk {

enum class EngineOp : uint8_t {
  kWrite,
  kTruncate,
  kRemove,
  kCommit,
  kReplace,
  kPurge,
  kRemoveRange,
  kRead,
  kReadFull,
  kGetMeta,
  kListMeta,
  kQueryLast,
  kCompact,
  kCount,
};

const char* EngineOpName(EngineOp op);

// How an update was applied ("path" label of hf3fs_chunk_updates_total).
enum class UpdatePath : uint8_t {
  kAppend,
  kShrink,
  kCow,
  kRemoval,
  kEmpty,
  kUnchanged,
  kJournal,
  kCount,
};

struct EngineMetrics {
  EngineMetrics(metrics::Registry* registry, std::string disk);

  // Counts one finished call and its latency; non-ok results also count by code.
  void Finish(EngineOp op, std::chrono::steady_clock::time_point start, const Status& status);

  metrics::Registry* registry;
  std::string disk;
  struct PerOp {
    metrics::Counter* total = nullptr;
    metrics::Histogram* latency = nullptr;
  };
  std::array<PerOp, static_cast<size_t>(EngineOp::kCount)> ops;
  std::array<metrics::Counter*, static_cast<size_t>(UpdatePath::kCount)> paths{};
  metrics::Counter* read_bytes = nullptr;
  metrics::Counter* write_bytes = nullptr;
  metrics::Counter* cow_copied_bytes = nullptr;
  metrics::Counter* checksum_failures = nullptr;
  metrics::Counter* compacted_chunks = nullptr;
  std::vector<metrics::CallbackHandle> callbacks;  // gauges computed at scrape time
};

}  // namespace hf3fs::chunk
