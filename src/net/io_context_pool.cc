#include "net/io_context_pool.h"

#include <pthread.h>

#include "common/check.h"
#include "common/logging.h"

namespace hf3fs::net {

IoContextPool::IoContextPool(size_t threads, std::string name, std::chrono::nanoseconds busy_poll)
    : name_(std::move(name)), busy_poll_(busy_poll) {
  HF3FS_CHECK(threads > 0);
  for (size_t i = 0; i < threads; ++i) {
    // Concurrency hint 1: each context is run by exactly one thread, so Asio can skip locking.
    contexts_.push_back(std::make_unique<boost::asio::io_context>(1));
  }
}

IoContextPool::~IoContextPool() { Stop(); }

void IoContextPool::Start() {
  if (started_) return;
  started_ = true;
  for (size_t i = 0; i < contexts_.size(); ++i) {
    guards_.emplace_back(contexts_[i]->get_executor());
    threads_.emplace_back([this, i] {
      auto tname = fmt::format("{}-{}", name_, i).substr(0, 15);
      pthread_setname_np(pthread_self(), tname.c_str());
      for (;;) {
        try {
          RunThread(i);
          break;
        } catch (const std::exception& e) {
          // A handler let an exception escape: log it and keep the thread serving.
          HF3FS_LOG_ERROR("io.unhandled_exception thread={} what={}", i, e.what());
        }
      }
    });
  }
}

void IoContextPool::RunThread(size_t i) {
  auto& ctx = *contexts_[i];
  if (busy_poll_.count() == 0) {
    ctx.run();
    return;
  }
  using Clock = std::chrono::steady_clock;
  auto last_work = Clock::now();
  while (!ctx.stopped()) {
    if (ctx.poll() > 0) {
      last_work = Clock::now();
    } else if (Clock::now() - last_work >= busy_poll_) {
      ctx.run_one();  // sleeps in epoll until something happens
      last_work = Clock::now();
    } else {
      __builtin_ia32_pause();
    }
  }
}

void IoContextPool::Stop() {
  if (!started_) return;
  started_ = false;
  guards_.clear();
  for (auto& c : contexts_) c->stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
  for (auto& c : contexts_) c->restart();
}

boost::asio::io_context& IoContextPool::Next() {
  return *contexts_[next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size()];
}

}  // namespace hf3fs::net
