#include "net/address.h"

#include <gtest/gtest.h>

namespace hf3fs::net {
namespace {

TEST(Address, ParsesHostPort) {
  auto a = Address::Parse("127.0.0.1:8000");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->port, 8000);
  EXPECT_EQ(a->ToString(), "127.0.0.1:8000");
  auto b = Address::Parse("[::1]:9");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->ToString(), "[::1]:9");
  EXPECT_TRUE(Address::Parse("localhost:0").ok());
}

TEST(Address, RejectsMalformed) {
  for (auto s : {"", "127.0.0.1", ":80", "1.2.3.4:99999", "1.2.3.4:x", "example.com:80"}) {
    EXPECT_EQ(Address::Parse(s).status().code(), StatusCode::kRpcBadAddress) << s;
  }
}

}  // namespace
}  // namespace hf3fs::net
