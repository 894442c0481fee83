#include "chunk/chunk_engine_config.h"

namespace hf3fs::chunk {

ChunkEngineOptions ChunkEngineConfig::ToOptions() const {
  ChunkEngineOptions o;
  o.group_bytes = group_bytes.Get();
  o.groups_per_file = groups_per_file.Get();
  std::string mode = io_mode.Get();
  o.io.io_mode = mode == "direct"     ? IoMode::kDirect
                 : mode == "buffered" ? IoMode::kBuffered
                                      : IoMode::kAuto;
  o.io.use_io_uring = use_io_uring.Get();
  o.io.io_uring_entries = io_uring_entries.Get();
  o.io.dsync = sync_mode.Get() == "dsync";
  o.io_piece_bytes = io_piece_bytes.Get();
  o.max_pooled_buffers = max_pooled_buffers.Get();
  o.low_space_threshold_bytes = low_space_threshold_bytes.Get();
  o.low_space_threshold_percent = low_space_threshold_percent.Get();
  o.punch_empty_groups = punch_empty_groups.Get();
  o.durability = durability.Get() == "strict" ? Durability::kStrict : Durability::kWindow;
  o.journal_max_bytes = static_cast<uint32_t>(journal_max_bytes.Get());
  o.journal_max_bytes_total = journal_max_memory_bytes.Get();
  o.sync_interval =
      std::chrono::duration_cast<std::chrono::milliseconds>(durability_window.Get());
  return o;
}

}  // namespace hf3fs::chunk
