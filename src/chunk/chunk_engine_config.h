// ChunkEngineConfig: the [chunk_engine] config section of a storage server, one per process and
// applied to every disk's engine.
//
// group_bytes and groups_per_file only shape directories created after the change (a directory
// keeps the layout it was created with). The low-space thresholds are hot: the storage service
// forwards changes to ChunkEngine::SetLowSpaceThreshold.
#pragma once

#include "chunk/chunk_engine.h"
#include "common/config.h"

namespace hf3fs::chunk {

struct ChunkEngineConfig : config::Section {
  using Section::Section;

  config::Item<uint64_t> group_bytes{
      this,
      "group_bytes",
      256ull << 20,
      "bytes of slots allocated on disk at a time, per size class (new directories only)",
      {.min = 64ull << 10, .max = 16ull << 30, .size = true}};
  config::Item<uint32_t> groups_per_file{this,
                                         "groups_per_file",
                                         16,
                                         "groups per data file (new directories only)",
                                         {.min = 1, .max = 65536}};
  config::Item<std::string> io_mode{
      this,
      "io_mode",
      "auto",
      "auto: O_DIRECT unless the file system refuses it; direct: require it; buffered: never",
      {.one_of = {"auto", "direct", "buffered"}}};
  config::Item<bool> use_io_uring{this, "use_io_uring", true,
                                  "block I/O through io_uring (else pread/pwrite)"};
  config::Item<uint32_t> io_uring_entries{this,
                                          "io_uring_entries",
                                          64,
                                          "ring depth per thread: the bound on I/Os in flight",
                                          {.min = 4, .max = 4096}};
  config::Item<std::string> durability{
      this,
      "durability",
      "window",
      "window: an update survives a crash of any process at once and a power loss after at most "
      "durability_window (or the next sync request); strict: every update is flushed before it "
      "is acknowledged (docs/design/0009-durability.md)",
      {.one_of = {"window", "strict"}}};
  config::Item<Duration> durability_window{
      this,
      "durability_window",
      std::chrono::seconds(1),
      "window durability: updates are flushed to stable storage at least this often",
      {.min = Duration(std::chrono::milliseconds(1)), .max = Duration(std::chrono::seconds(60))}};
  config::Item<std::string> sync_mode{
      this,
      "sync_mode",
      "fdatasync",
      "how strict durability makes data durable before its metadata: fdatasync per update, or "
      "O_DSYNC files",
      {.one_of = {"fdatasync", "dsync"}}};
  config::Item<uint64_t> io_piece_bytes{this,
                                        "io_piece_bytes",
                                        4ull << 20,
                                        "bytes per I/O step of an update (one pooled buffer)",
                                        {.min = 64ull << 10, .max = 64ull << 20, .size = true}};
  config::Item<uint32_t> max_pooled_buffers{
      this, "max_pooled_buffers", 16, "idle I/O buffers kept for reuse", {.min = 0, .max = 1024}};
  config::Item<uint64_t> low_space_threshold_bytes{
      this,
      "low_space_threshold_bytes",
      1ull << 30,
      "refuse new chunks while the disk has less free space (0: off)",
      {.hot = true, .size = true}};
  config::Item<double> low_space_threshold_percent{
      this,
      "low_space_threshold_percent",
      2.0,
      "refuse new chunks while free space is below this percentage of capacity (0: off)",
      {.min = 0.0, .max = 100.0, .hot = true}};
  config::Item<bool> punch_empty_groups{this, "punch_empty_groups", true,
                                        "return the space of groups whose last chunk is gone"};
  config::Item<uint64_t> journal_max_bytes{
      this,
      "journal_max_bytes",
      64ull << 10,
      "window durability: an overwrite inside a chunk's bytes touching at most this many bytes "
      "of whole 4 KiB blocks is journaled instead of copying the chunk (0: always copy; "
      "docs/design/0010-small-overwrites.md)",
      {.max = 1ull << 20, .size = true}};
  config::Item<uint64_t> journal_max_memory_bytes{
      this,
      "journal_max_memory_bytes",
      64ull << 20,
      "journaled bytes each disk holds in memory until its next flush writes them in place",
      {.min = 1ull << 20, .max = 4ull << 30, .size = true}};

  // Engine options from the current values (name, file layer, hooks and metrics stay default).
  ChunkEngineOptions ToOptions() const;
};

}  // namespace hf3fs::chunk
