// Network addresses as "host:port" strings ("127.0.0.1:8000", "[::1]:8000", "localhost:0").
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace hf3fs::net {

struct Address {
  std::string host;
  uint16_t port = 0;

  // kRpcBadAddress with a hint when the text is not "host:port".
  static Result<Address> Parse(std::string_view text);
  static Address FromEndpoint(const boost::asio::ip::tcp::endpoint& ep);
  // Numeric IPs and "localhost" only: servers and tests never depend on DNS.
  Result<boost::asio::ip::tcp::endpoint> ToEndpoint() const;
  std::string ToString() const;

  auto operator<=>(const Address&) const = default;
};

}  // namespace hf3fs::net
