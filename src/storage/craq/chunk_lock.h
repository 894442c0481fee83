// ChunkLocks: asynchronous per-chunk mutual exclusion for the CRAQ update path.
//
// A head holds a chunk's lock from applying an update locally until its successor acknowledged and
// it committed, so the updates of one chunk are totally ordered at the head (ARCHITECTURE.md 3.2
// step 2). Resync takes the same lock while it copies a chunk. Waiting suspends the coroutine,
// never the io thread; waiters are woken in FIFO order on their own executors.
//
// Thread-safe. Memory: one entry per locked chunk (entries are erased when the last holder and
// waiter are gone). Every Guard must be released (destroyed) before the ChunkLocks.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/ids.h"

namespace hf3fs::storage {

class ChunkLocks {
 public:
  class Guard {
   public:
    Guard() = default;
    Guard(ChunkLocks* owner, std::string key) : owner_(owner), key_(std::move(key)) {}
    Guard(Guard&& o) noexcept : owner_(o.owner_), key_(std::move(o.key_)) { o.owner_ = nullptr; }
    Guard& operator=(Guard&& o) noexcept;
    ~Guard() { Release(); }
    void Release();

   private:
    ChunkLocks* owner_ = nullptr;
    std::string key_;
  };

  // Suspends until the lock of (target, chunk id bytes) is held.
  boost::asio::awaitable<Guard> Lock(TargetId target, const std::string& chunk_id);

  // Chunks currently locked (tests, metrics).
  size_t locked() const;

 private:
  // A type-erased, move-only "resume the waiter" callback.
  struct Waiter {
    virtual ~Waiter() = default;
    virtual void Wake() = 0;
  };
  template <typename Handler>
  struct HandlerWaiter;
  struct Entry {
    std::deque<std::unique_ptr<Waiter>> waiters;
  };

  void Unlock(const std::string& key);
  static std::string Key(TargetId target, const std::string& chunk_id);

  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> locked_;  // present = held
};

}  // namespace hf3fs::storage
