#include "common/units.h"

#include <gtest/gtest.h>

namespace hf3fs {
namespace {

TEST(Units, ParsesSizes) {
  EXPECT_EQ(*ParseSize("4096"), 4096u);
  EXPECT_EQ(*ParseSize("64KiB"), 64u << 10);
  EXPECT_EQ(*ParseSize("1MiB"), 1u << 20);
  EXPECT_EQ(*ParseSize("1m"), 1u << 20);
  EXPECT_EQ(*ParseSize("2GiB"), 2ull << 30);
  EXPECT_EQ(*ParseSize("10KB"), 10000u);
  EXPECT_EQ(*ParseSize("1.5KiB"), 1536u);
  EXPECT_EQ(ParseSize("12 parsecs").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseSize("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseSize("0.3B").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseSize("99999999999TiB").status().code(), StatusCode::kOutOfRange);
}

TEST(Units, ParsesLargeWholeSizesExactly) {
  // Above 2^53 a double cannot hold every integer; sizes must still round-trip exactly.
  EXPECT_EQ(*ParseSize("555555555555555525"), 555555555555555525ull);
  EXPECT_EQ(*ParseSize(FormatSize(555555555555555525ull)), 555555555555555525ull);
  EXPECT_EQ(*ParseSize("1.5MiB"), 1572864u);
  EXPECT_EQ(*ParseSize(" 64 KiB"), 65536u);
  EXPECT_EQ(ParseSize("18446744073709551615").value(), UINT64_MAX);
  EXPECT_EQ(ParseSize("17179869184GiB").status().code(), StatusCode::kOutOfRange);
}

TEST(Units, FormatsSizesRoundTrip) {
  for (uint64_t v : {0ull, 1ull, 1000ull, 4096ull, 1ull << 20, 3ull << 30, 5ull << 40}) {
    EXPECT_EQ(*ParseSize(FormatSize(v)), v) << FormatSize(v);
  }
  EXPECT_EQ(FormatSize(64 << 20), "64MiB");
}

TEST(Units, ParsesDurations) {
  using namespace std::chrono_literals;
  EXPECT_EQ(*ParseDuration("250ms"), 250ms);
  EXPECT_EQ(*ParseDuration("5s"), 5s);
  EXPECT_EQ(*ParseDuration("1.5s"), 1500ms);
  EXPECT_EQ(*ParseDuration("2m"), 120s);
  EXPECT_EQ(*ParseDuration("100us"), 100us);
  EXPECT_EQ(*ParseDuration("0"), Duration::zero());
  EXPECT_EQ(ParseDuration("5").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseDuration("5 fortnights").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(FormatDuration(1500ms), "1500ms");
  EXPECT_EQ(FormatDuration(2h), "2h");
  EXPECT_EQ(*ParseDuration(FormatDuration(Duration(123))), Duration(123));
}

}  // namespace
}  // namespace hf3fs
