#include "common/crc32c.h"

#include <isa-l/crc.h>

#include <algorithm>
#include <array>
#include <cassert>

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

namespace {

// Polynomials over GF(2) modulo the CRC32C polynomial, in the CRC's bit-reflected order: bit 31
// is the coefficient of x^0, bit 0 that of x^31.
constexpr uint32_t kReflectedPoly = 0x82F63B78u;
constexpr uint32_t kOne = 1u << 31;  // x^0

// a(x) · b(x) mod P(x).
uint32_t MulModP(uint32_t a, uint32_t b) {
  uint32_t product = 0;
  for (uint32_t bit = kOne; bit != 0; bit >>= 1) {
    if (a & bit) product ^= b;
    b = (b & 1) ? (b >> 1) ^ kReflectedPoly : b >> 1;  // b · x
  }
  return product;
}

// kPow2[k] = x^(2^k) mod P.
const std::array<uint32_t, 64> kPow2 = [] {
  std::array<uint32_t, 64> t{};
  t[0] = kOne >> 1;  // x^1
  for (size_t k = 1; k < t.size(); ++k) t[k] = MulModP(t[k - 1], t[k - 1]);
  return t;
}();

// x^(8 · bytes) mod P: what feeding `bytes` zero bytes does to a CRC register.
uint32_t ZeroBytesOperator(uint64_t bytes) {
  uint32_t p = kOne;
  for (size_t k = 3; bytes != 0; bytes >>= 1, ++k) {
    if (bytes & 1) p = MulModP(kPow2[k % kPow2.size()], p);
  }
  return p;
}

}  // namespace

uint32_t Crc32cCombine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b) {
  // Crc32c(a ‖ b) = crc_a shifted over len_b zero bytes, xor crc_b (the pre- and
  // post-inversions cancel between the three standard CRCs).
  return MulModP(ZeroBytesOperator(len_b), crc_a) ^ crc_b;
}

uint32_t Crc32cAfterOverwrite(uint32_t crc_old, std::span<const uint8_t> old_bytes,
                              std::span<const uint8_t> new_bytes, uint64_t bytes_after) {
  assert(old_bytes.size() == new_bytes.size());
  // For equal-length buffers, Crc32c(A) ⊕ Crc32c(B) is the raw CRC (zero initial register, no
  // final inversion) of A ⊕ B, which, the raw CRC being linear, is raw(A) ⊕ raw(B); the equal
  // bytes before the change contribute nothing.
  auto raw = [](std::span<const uint8_t> b) {
    uint32_t r = 0;
    for (size_t done = 0; done < b.size();) {
      size_t n = std::min<size_t>(b.size() - done, size_t{1} << 30);
      r = crc32_iscsi(const_cast<uint8_t*>(b.data() + done), static_cast<int>(n), r);
      done += n;
    }
    return r;
  };
  uint32_t delta = raw(old_bytes) ^ raw(new_bytes);
  return crc_old ^ MulModP(ZeroBytesOperator(bytes_after), delta);
}

}  // namespace hf3fs
