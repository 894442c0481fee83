#include "common/crc32c.h"

#include <isa-l/crc.h>

#include <algorithm>

namespace hf3fs {

uint32_t Crc32c(const void* data, size_t size, uint32_t seed) {
  // ISA-L's crc32_iscsi works on the raw register value; the standard CRC32C pre- and
  // post-inverts, which the two `~` supply (and which makes chaining through `seed` work).
  // Its length is an int, so huge buffers go through in 1 GiB pieces.
  auto* p = static_cast<unsigned char*>(const_cast<void*>(data));
  uint32_t crc = seed;
  do {
    size_t n = std::min<size_t>(size, size_t{1} << 30);
    crc = ~crc32_iscsi(p, static_cast<int>(n), ~crc);
    p += n;
    size -= n;
  } while (size > 0);
  return crc;
}

}  // namespace hf3fs
