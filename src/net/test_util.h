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
