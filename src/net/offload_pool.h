// A pool of threads for blocking work (KV transactions, fsync, ...) that coroutines on io threads
// await without blocking their thread:
//
//   Result<NodeRecord> r = co_await offload.Run([&] { return store.LoadNode(id); });
//
// The callable runs on a pool thread; the awaiting coroutine resumes on its own executor. The
// queue of waiting calls is bounded by the callers: RPC handlers, themselves bounded by
// rpc.max_inflight_per_connection per connection. Stop() waits for queued and running calls.
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <optional>
#include <type_traits>

namespace hf3fs::net {

class OffloadPool {
 public:
  explicit OffloadPool(size_t threads) : pool_(threads) {}
  ~OffloadPool() { Stop(); }
  OffloadPool(const OffloadPool&) = delete;
  OffloadPool& operator=(const OffloadPool&) = delete;

  // Runs `fn()` on a pool thread and returns its result to the awaiting coroutine. `fn` and what
  // it references must stay valid until the co_await returns (they do when captured by reference
  // from the awaiting coroutine's frame).
  template <typename Fn>
  boost::asio::awaitable<std::invoke_result_t<Fn&>> Run(Fn fn) {
    using R = std::invoke_result_t<Fn&>;
    std::optional<R> result;
    co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void()>(
        [this, &fn, &result](auto handler) {
          boost::asio::post(pool_, [&fn, &result, h = std::move(handler)]() mutable {
            result.emplace(fn());
            auto ex = boost::asio::get_associated_executor(h);
            boost::asio::post(ex, std::move(h));
          });
        },
        boost::asio::use_awaitable);
    co_return std::move(*result);
  }

  void Stop() {
    pool_.join();
  }

 private:
  boost::asio::thread_pool pool_;
};

}  // namespace hf3fs::net
