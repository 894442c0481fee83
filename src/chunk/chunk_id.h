// ChunkId: the opaque name of a chunk inside one target.
//
// The engine treats a chunk id as bytes (1..kMaxChunkIdBytes) ordered bytewise, which is also the
// order of chunk records in the metadata store. MakeChunkId builds the id the storage service
// uses for file data: inode id and chunk index, both big-endian, so that all chunks of one file
// form one contiguous key range (ARCHITECTURE.md section 3.1).
#pragma once

#include <fmt/format.h>

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/ids.h"

namespace hf3fs::chunk {

// Bound on the size of a chunk id, so that a record key never exceeds 1 + 8 + 64 bytes.
inline constexpr size_t kMaxChunkIdBytes = 64;

class ChunkId {
 public:
  ChunkId() = default;  // empty: "no id", used as an unbounded range end
  explicit ChunkId(std::string bytes) : bytes_(std::move(bytes)) {}

  const std::string& bytes() const { return bytes_; }
  bool empty() const { return bytes_.empty(); }
  size_t size() const { return bytes_.size(); }
  // A usable id: 1..kMaxChunkIdBytes bytes.
  bool valid() const { return !bytes_.empty() && bytes_.size() <= kMaxChunkIdBytes; }

  // "inode:index" for ids made by MakeChunkId, else lowercase hex.
  std::string ToString() const;

  auto operator<=>(const ChunkId&) const = default;
  bool operator==(const ChunkId&) const = default;

 private:
  std::string bytes_;
};

// 16 bytes: inode id (8 B big-endian) followed by the chunk index (8 B big-endian).
ChunkId MakeChunkId(InodeId inode, uint64_t index);

// The (inode, index) of an id made by MakeChunkId; nullopt for any other shape.
std::optional<std::pair<InodeId, uint64_t>> ParseChunkId(const ChunkId& id);

// [begin, end) covering chunks of `inode` with index >= from_index. For the largest inode id the
// end is empty, meaning "to the end of the target".
std::pair<ChunkId, ChunkId> FileChunkRange(InodeId inode, uint64_t from_index = 0);

}  // namespace hf3fs::chunk

template <>
struct fmt::formatter<hf3fs::chunk::ChunkId> : fmt::formatter<std::string_view> {
  auto format(const hf3fs::chunk::ChunkId& id, format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(id.ToString(), ctx);
  }
};
