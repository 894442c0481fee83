// Helpers for net tests: run a coroutine to completion from a plain thread.
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <future>

namespace hf3fs::net::testing {

// Runs `make()` (a callable returning awaitable<T>) on `ctx` and waits for its result.
template <typename Make>
auto RunSync(boost::asio::io_context& ctx, Make make) {
  using T = typename decltype(make())::value_type;
  std::promise<T> promise;
  auto fut = promise.get_future();
  boost::asio::co_spawn(
      ctx, [&]() -> boost::asio::awaitable<void> { promise.set_value(co_await make()); },
      boost::asio::detached);
  return fut.get();
}

}  // namespace hf3fs::net::testing

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <string>

#include "net/address.h"

namespace hf3fs::net::testing {

// A blocking HTTP/1.1 exchange on a fresh connection: sends `request_line` (e.g.
// "GET /metrics HTTP/1.1") and returns the whole response text (status line, headers, body).
inline std::string HttpExchange(const Address& addr, const std::string& request_line,
                                const std::string& extra = "") {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket s(io);
  s.connect(*addr.ToEndpoint());
  std::string req = request_line + "\r\nHost: test\r\nConnection: close\r\n" + extra + "\r\n";
  boost::asio::write(s, boost::asio::buffer(req));
  std::string out;
  boost::system::error_code ec;
  boost::asio::read(s, boost::asio::dynamic_buffer(out), ec);
  return out;
}

inline std::string HttpBody(const std::string& response) {
  auto p = response.find("\r\n\r\n");
  return p == std::string::npos ? "" : response.substr(p + 4);
}

}  // namespace hf3fs::net::testing
