// File layouts (docs/design/0005-meta.md, "Layouts"): validation, the deterministic shuffle, and
// where chunk i of a file lives.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "common/status.h"
#include "meta.pb.h"

namespace hf3fs::meta {

inline constexpr uint64_t kMinChunkSize = 64ull << 10;
inline constexpr uint64_t kMaxChunkSize = 64ull << 20;
inline constexpr uint32_t kMaxStripe = 1024;

// kMetaInvalid unless the layout is empty (chain_table_id 0) or has a power-of-two chunk size in
// [64 KiB, 64 MiB] and a stripe of 1..kMaxStripe (equal to the chain list's length when explicit).
Status ValidateLayout(const Layout& layout);

// SplitMix64: the project's own generator, identical on every platform and standard library.
uint64_t SplitMix64(uint64_t& state);

// A permutation of 0..n-1: Fisher-Yates driven by SplitMix64(seed), with rejection sampling so
// every draw is uniform. The same (seed, n) gives the same permutation everywhere.
std::vector<uint32_t> ShufflePermutation(uint64_t seed, uint32_t n);

// The chain of chunk `chunk_index`: from the explicit list, or from `table` (the chain ids of
// the layout's chain table, in order) at (first_chain + perm[chunk mod stripe]) mod table size.
// kMetaInvalid for an empty layout or an empty table.
Result<uint32_t> ChainOfChunk(const Layout& layout, const std::vector<uint32_t>& table,
                              uint64_t chunk_index);

// Hands out the chain ranges of new files round-robin: each file's first chain is the cursor,
// which then advances by the file's stripe. Starts at a random offset so several meta servers do
// not all start at chain 0. Thread-safe; state is process-local on purpose (no KV key per create).
class ChainAllocator {
 public:
  ChainAllocator();
  // A new file's layout from its directory's default: fresh first chain and seed. An empty
  // template gives an empty layout; an explicit chain list is copied as is.
  Layout Instantiate(const Layout& tmpl);

 private:
  std::atomic<uint64_t> cursor_;
  std::atomic<uint64_t> seed_state_;
};

}  // namespace hf3fs::meta
