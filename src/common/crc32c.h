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

}  // namespace hf3fs
