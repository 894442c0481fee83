// CRC32C (Castagnoli) through ISA-L, the checksum of RPC frames and chunks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace hf3fs {

// CRC32C of `data`, continuing from `seed` (the CRC of the bytes before; 0 to start), so that
// Crc32c(b, Crc32c(a)) == Crc32c(a + b).
uint32_t Crc32c(const void* data, size_t size, uint32_t seed = 0);
inline uint32_t Crc32c(std::span<const uint8_t> data, uint32_t seed = 0) {
  return Crc32c(data.data(), data.size(), seed);
}

// CRC32C of a ‖ b from the CRCs of a and b and b's length: Crc32cCombine(Crc32c(a), Crc32c(b),
// b.size()) == Crc32c(a + b). O(log len_b), no data touched.
uint32_t Crc32cCombine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

// CRC32C of a buffer after bytes `old_bytes` in it were replaced by `new_bytes` (same length),
// with `bytes_after` bytes following them to the end of the buffer; `crc_old` is the CRC before.
// Reads only the replaced bytes: CRC32C is affine, so the change of the CRC depends only on
// old ⊕ new and on its distance from the end (docs/design/0010-small-overwrites.md).
uint32_t Crc32cAfterOverwrite(uint32_t crc_old, std::span<const uint8_t> old_bytes,
                              std::span<const uint8_t> new_bytes, uint64_t bytes_after);

}  // namespace hf3fs
