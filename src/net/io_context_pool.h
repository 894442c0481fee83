// A fixed set of single-threaded io_contexts, one thread each.
//
// Connections and servers pin themselves to one context (Next() round-robin), so everything a
// connection does runs on one thread. Start() launches the threads; Stop() lets queued work
// finish, stops the contexts and joins. Not copyable; Stop() is called by the destructor.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace hf3fs::net {

class IoContextPool {
 public:
  // `busy_poll`: after running handlers, a thread keeps polling for this long before it sleeps in
  // epoll. On virtual machines waking a sleeping CPU costs tens of microseconds, which dominates
  // the latency of a small RPC; polling trades CPU for that latency. Zero disables it.
  explicit IoContextPool(size_t threads, std::string name = "io",
                         std::chrono::nanoseconds busy_poll = std::chrono::nanoseconds(0));
  ~IoContextPool();
  IoContextPool(const IoContextPool&) = delete;
  IoContextPool& operator=(const IoContextPool&) = delete;

  void Start();
  void Stop();

  size_t size() const { return contexts_.size(); }
  boost::asio::io_context& Get(size_t i) { return *contexts_[i % contexts_.size()]; }
  boost::asio::io_context& Next();

 private:
  using Guard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  void RunThread(size_t i);

  std::string name_;
  std::chrono::nanoseconds busy_poll_;
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<Guard> guards_;
  std::vector<std::thread> threads_;
  std::atomic<size_t> next_{0};
  bool started_ = false;
};

}  // namespace hf3fs::net
