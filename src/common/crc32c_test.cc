#include "common/crc32c.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace hf3fs {
namespace {

TEST(Crc32c, MatchesKnownVector) {
  // The standard CRC32C check value of "123456789".
  EXPECT_EQ(Crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(Crc32c("", 0), 0u);
}

TEST(Crc32c, ChainsAcrossPieces) {
  std::string s(100000, 'x');
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>(i * 31);
  uint32_t whole = Crc32c(s.data(), s.size());
  uint32_t part = Crc32c(s.data(), 777);
  part = Crc32c(s.data() + 777, s.size() - 777, part);
  EXPECT_EQ(whole, part);
}

TEST(Crc32c, CombineEqualsTheCrcOfTheConcatenation) {
  std::mt19937_64 rng(7);
  for (size_t len_a : {0, 1, 5, 4096, 100001}) {
    for (size_t len_b : {0, 1, 3, 64, 4096, 1 << 20}) {
      std::vector<uint8_t> buf(len_a + len_b);
      for (auto& b : buf) b = static_cast<uint8_t>(rng());
      uint32_t a = Crc32c(buf.data(), len_a);
      uint32_t b = Crc32c(buf.data() + len_a, len_b);
      EXPECT_EQ(Crc32cCombine(a, b, len_b), Crc32c(buf.data(), buf.size()))
          << len_a << " + " << len_b;
    }
  }
}

TEST(Crc32c, AfterOverwriteEqualsARecomputation) {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 200; ++round) {
    size_t len = 1 + rng() % (1 << 20);
    std::vector<uint8_t> buf(len);
    for (auto& b : buf) b = static_cast<uint8_t>(rng());
    uint32_t before = Crc32c(buf.data(), buf.size());
    size_t off = rng() % len;
    size_t n = 1 + rng() % std::min<size_t>(len - off, 65536);
    std::vector<uint8_t> old_bytes(buf.begin() + off, buf.begin() + off + n);
    std::vector<uint8_t> new_bytes(n);
    for (auto& b : new_bytes) b = static_cast<uint8_t>(rng());
    if (round % 10 == 0) new_bytes = old_bytes;  // an overwrite with the same bytes
    std::copy(new_bytes.begin(), new_bytes.end(), buf.begin() + off);
    EXPECT_EQ(Crc32cAfterOverwrite(before, old_bytes, new_bytes, len - off - n),
              Crc32c(buf.data(), buf.size()))
        << "len " << len << " off " << off << " n " << n;
  }
}

}  // namespace
}  // namespace hf3fs
