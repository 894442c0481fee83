#include "common/crc32c.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace hf3fs
