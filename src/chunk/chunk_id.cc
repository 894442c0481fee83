#include "chunk/chunk_id.h"

#include <limits>

namespace hf3fs::chunk {
namespace {

void AppendBigEndian64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xff));
}

uint64_t ReadBigEndian64(std::string_view in) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

}  // namespace

std::string ChunkId::ToString() const {
  if (auto parsed = ParseChunkId(*this)) return fmt::format("{}:{}", parsed->first, parsed->second);
  std::string out;
  out.reserve(bytes_.size() * 2);
  for (char c : bytes_) out += fmt::format("{:02x}", static_cast<uint8_t>(c));
  return out;
}

ChunkId MakeChunkId(InodeId inode, uint64_t index) {
  std::string bytes;
  bytes.reserve(16);
  AppendBigEndian64(bytes, inode.value());
  AppendBigEndian64(bytes, index);
  return ChunkId(std::move(bytes));
}

std::optional<std::pair<InodeId, uint64_t>> ParseChunkId(const ChunkId& id) {
  if (id.size() != 16) return std::nullopt;
  std::string_view b = id.bytes();
  return std::make_pair(InodeId(ReadBigEndian64(b.substr(0, 8))), ReadBigEndian64(b.substr(8)));
}

std::pair<ChunkId, ChunkId> FileChunkRange(InodeId inode, uint64_t from_index) {
  ChunkId begin = MakeChunkId(inode, from_index);
  if (inode.value() == std::numeric_limits<uint64_t>::max()) return {begin, ChunkId()};
  return {begin, MakeChunkId(InodeId(inode.value() + 1), 0)};
}

}  // namespace hf3fs::chunk
