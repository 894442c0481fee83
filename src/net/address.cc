#include "net/address.h"

#include <charconv>

namespace hf3fs::net {

Result<Address> Address::Parse(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return MakeStatus(StatusCode::kRpcBadAddress,
                      "bad address '{}': {}; write host:port, e.g. 127.0.0.1:8000", text, why);
  };
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return bad("no port");
  std::string_view host = text.substr(0, colon);
  std::string_view port = text.substr(colon + 1);
  if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
  if (host.empty()) return bad("no host");
  uint32_t p = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || ptr != port.data() + port.size() || p > 65535) {
    return bad("port is not a number in 0..65535");
  }
  Address a{std::string(host), static_cast<uint16_t>(p)};
  HF3FS_TRY(a.ToEndpoint());
  return a;
}

Address Address::FromEndpoint(const boost::asio::ip::tcp::endpoint& ep) {
  return Address{ep.address().to_string(), ep.port()};
}

Result<boost::asio::ip::tcp::endpoint> Address::ToEndpoint() const {
  std::string h = host == "localhost" ? "127.0.0.1" : host;
  boost::system::error_code ec;
  auto ip = boost::asio::ip::make_address(h, ec);
  if (ec) {
    return MakeStatus(StatusCode::kRpcBadAddress,
                      "'{}' is not a numeric IP address (hf3fs does not resolve host names)", host);
  }
  return boost::asio::ip::tcp::endpoint(ip, port);
}

std::string Address::ToString() const {
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

}  // namespace hf3fs::net
