// The pipe protocol between chunk_kill9_test (parent) and chunk_kill9_writer (child).
//
// For every update the writer sends an intent record (the state the chunk will have once the
// update is committed) before starting it, and an ack record after its commit returned ok. A record
// is 32 bytes, written with one write(2) (atomic on a pipe).
#pragma once

#include <cstdint>

namespace hf3fs::chunk::testing {

struct Kill9Record {
  static constexpr uint32_t kMagic = 0x4b494c4c;  // "KILL"
  enum Kind : uint8_t { kIntent = 1, kAck = 2 };

  uint32_t magic = kMagic;
  uint8_t kind = 0;
  uint8_t exists = 0;     // the chunk has a committed part in this state
  uint16_t chunk = 0;     // index of the chunk (MakeChunkId(kKill9Inode, chunk))
  uint64_t version = 0;   // commit version in this state
  uint32_t checksum = 0;  // committed checksum in this state
  uint32_t length = 0;    // committed length in this state
  uint64_t seq = 0;       // per-writer sequence number, for diagnostics
};
static_assert(sizeof(Kill9Record) == 32);

inline constexpr uint64_t kKill9Inode = 777;
inline constexpr int kKill9Chunks = 8;
inline constexpr uint32_t kKill9ChunkSizes[] = {64u << 10, 256u << 10, 1u << 20, 4u << 20};
inline constexpr uint64_t kKill9GroupBytes = 4u << 20;

}  // namespace hf3fs::chunk::testing
