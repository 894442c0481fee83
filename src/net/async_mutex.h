// AsyncMutex: mutual exclusion for coroutines. Lock() suspends the coroutine (never the thread)
// until the mutex is free; waiters get it in FIFO order, each resumed on its own executor.
// Unlock() may be called from any thread. Executors must be single-threaded io_contexts (as the
// IoContextPool's are), so a hand-over posted to a waiter runs after it has suspended.
#pragma once

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <memory>
#include <mutex>

namespace hf3fs::net {

class AsyncMutex {
 public:
  boost::asio::awaitable<void> Lock() {
    std::shared_ptr<boost::asio::steady_timer> timer;
    {
      std::lock_guard lock(mu_);
      if (!locked_) {
        locked_ = true;
        co_return;
      }
      timer = std::make_shared<boost::asio::steady_timer>(
          co_await boost::asio::this_coro::executor, boost::asio::steady_timer::time_point::max());
      waiters_.push_back(timer);
    }
    boost::system::error_code ec;
    // Woken by Unlock's cancel: the mutex is ours (handed over, never released in between).
    co_await timer->async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
  }

  void Unlock() {
    std::shared_ptr<boost::asio::steady_timer> next;
    {
      std::lock_guard lock(mu_);
      if (waiters_.empty()) {
        locked_ = false;
        return;
      }
      next = std::move(waiters_.front());
      waiters_.pop_front();
    }
    boost::asio::post(next->get_executor(), [next] { next->cancel(); });
  }

  // RAII holder for use inside a coroutine: `auto g = co_await m.Scoped();`.
  class Guard {
   public:
    explicit Guard(AsyncMutex* m) : m_(m) {}
    Guard(Guard&& o) noexcept : m_(o.m_) { o.m_ = nullptr; }
    Guard& operator=(Guard&&) = delete;
    ~Guard() { Release(); }
    // Unlocks before the end of the scope (idempotent).
    void Release() {
      if (m_) m_->Unlock();
      m_ = nullptr;
    }

   private:
    AsyncMutex* m_;
  };
  boost::asio::awaitable<Guard> Scoped() {
    co_await Lock();
    co_return Guard(this);
  }

 private:
  std::mutex mu_;
  bool locked_ = false;
  std::deque<std::shared_ptr<boost::asio::steady_timer>> waiters_;
};

}  // namespace hf3fs::net
