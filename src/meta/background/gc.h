// Garbage collection of removed inodes (docs/design/0005-meta.md, "Garbage collection").
//
// Removal only queues: unlink of a file's last link and a recursive remove write a `GCQ_` entry
// and leave the inode (nlink 0). RunGcOnce processes entries queued at least `delay` ago, each in
// its own transactions:
//   - a file with an open write session is skipped (it stays queued);
//   - a file whose chunks may exist (length > 0 and a layout) needs `remove_chunks`; without one it
//     stays queued, so chunks are never forgotten; with one, every file with a layout has its
//     chunks removed (also at length 0: a writer may have stored chunks it never reported) before
//     its inode is deleted;
//   - otherwise the inode, its xattrs and the entry are deleted;
//   - a removed directory is emptied in batches: each child entry is cleared and the child loses a
//     link (subdirectories and last-link files are queued themselves); when empty, the directory
//     is deleted.
// Safe to run on several meta servers at once: every step re-reads what it changes.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

#include "meta/ops/ops.h"

namespace hf3fs::meta {

struct GcOptions {
  std::chrono::nanoseconds delay = std::chrono::minutes(5);
  uint32_t max_entries = 128;  // GC entries looked at per pass
  uint32_t dir_batch = 256;    // children of a removed directory handled per transaction
  // Deletes every chunk of a file (storage client); null: files with data stay queued.
  std::function<Status(const Inode&)> remove_chunks;
};

struct GcStats {
  uint32_t deleted = 0;  // inodes deleted
  uint32_t skipped = 0;  // entries left queued (open session, or chunks and no remover)
  uint32_t pending = 0;  // entries not yet due
};

Result<GcStats> RunGcOnce(OpContext& ctx, const GcOptions& options);

// Number of inodes queued for GC (for metrics and `gc-status`).
Result<uint64_t> GcQueueLength(OpContext& ctx);

}  // namespace hf3fs::meta
