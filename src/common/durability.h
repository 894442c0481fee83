// The vocabulary of the durability contract (docs/design/0009-durability.md) shared by every
// store that keeps acknowledged state (the KV backends, the chunk engine), and SharedSync, the
// device flush that concurrent callers share.
//
// Contract, per store:
//   - kWindow (default): an operation is acknowledged once its bytes reached the kernel (a WAL
//     write(2), a completed O_DIRECT write), so it survives kill -9 of any process. A background
//     flush runs at least every durability window, so a power loss loses at most that window of
//     acknowledged changes; Sync() makes everything acknowledged so far power-safe at once.
//   - kStrict: every operation is power-safe before it is acknowledged (a flush per operation,
//     shared by concurrent ones); Sync() has nothing left to do.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string_view>
#include <thread>

#include "common/status.h"

namespace hf3fs {

enum class Durability : uint8_t {
  kWindow,
  kStrict,
};

// "window" or "strict"; kInvalidArgument otherwise.
Result<Durability> ParseDurability(std::string_view name);
std::string_view ToString(Durability d);

// A flush shared by concurrent callers. Sync() returns once a flush that *started after* the
// call finished, so everything the caller wrote before calling is covered; callers that arrive
// while a flush runs share the next one (one flush serves any number of them). Flushes never
// overlap. Optionally a background thread flushes every interval while `dirty()` is true.
//
// Thread-safe. The flush function runs on the calling (or the background) thread and must not
// call Sync() itself.
class SharedSync {
 public:
  explicit SharedSync(std::function<Status()> flush) : flush_(std::move(flush)) {}
  ~SharedSync() { StopPeriodic(); }
  SharedSync(const SharedSync&) = delete;
  SharedSync& operator=(const SharedSync&) = delete;

  // The status of the newest flush that finished once this call's flush did (a later success
  // covers an earlier failure: the bytes are durable either way).
  Status Sync();

  // Starts the background thread (at most once). `dirty` is asked every interval.
  void StartPeriodic(std::chrono::milliseconds interval, std::function<bool()> dirty);
  // Stops and joins the background thread; idempotent. Does not flush.
  void StopPeriodic();

  uint64_t flushes() const;

 private:
  const std::function<Status()> flush_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t started_ = 0;   // flushes started
  uint64_t finished_ = 0;  // flushes finished (they finish in order)
  bool running_ = false;
  Status last_;            // status of flush number finished_

  std::mutex periodic_mu_;
  std::condition_variable periodic_cv_;
  bool stop_ = false;
  std::thread periodic_;
};

}  // namespace hf3fs
