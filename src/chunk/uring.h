// io_uring rings for block I/O, one per calling thread.
//
// Rings are created with IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN when the kernel
// accepts them (measured 3x faster than COOP_TASKRUN alone, ARCHITECTURE.md section 8), else with
// no setup flags. SINGLE_ISSUER binds a ring to the thread that created it, so a RingSet hands each
// thread its own ring; the chunk engine is called synchronously from an offload pool, and every
// call submits its I/O and waits for it on the caller's ring.
//
// Thread safety: RingSet is thread-safe; a Ring is used only by the thread that created it.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <unordered_map>
#include <vector>

#include "common/status.h"

namespace hf3fs::chunk {

// One block read or write. `done` is filled by Ring::Run.
struct IoOp {
  enum class Kind : uint8_t { kRead, kWrite };
  Kind kind = Kind::kRead;
  int fd = -1;
  uint64_t offset = 0;
  uint8_t* buf = nullptr;
  size_t len = 0;
};

// What the running kernel accepted when a ring was first created.
struct UringSupport {
  bool available = false;      // io_uring works at all
  bool defer_taskrun = false;  // SINGLE_ISSUER | DEFER_TASKRUN accepted
  int error = 0;               // errno of the failure when !available
};

// Creates and destroys a probe ring to learn what the kernel supports.
UringSupport ProbeUring(uint32_t entries);

class Ring {
 public:
  ~Ring();
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  // kUnavailable when the kernel refuses io_uring.
  static Result<std::unique_ptr<Ring>> Create(uint32_t entries, bool defer_taskrun);

  // Runs every op to completion (resubmitting short transfers), at most `entries` in flight.
  // kIoError / kNoSpace (from the first failed op's errno) on failure; all ops have finished
  // either way, so their buffers may be released.
  Status Run(std::span<IoOp> ops);

 private:
  Ring() = default;
  io_uring ring_{};
  uint32_t entries_ = 0;
};

class RingSet {
 public:
  RingSet(uint32_t entries, bool defer_taskrun);
  ~RingSet();
  RingSet(const RingSet&) = delete;
  RingSet& operator=(const RingSet&) = delete;

  // The calling thread's ring, created on first use and destroyed when the thread exits or the
  // set is destroyed. At most kMaxRings threads hold a ring at a time; beyond that the call
  // returns kResourceExhausted and the caller falls back to pread/pwrite.
  Result<Ring*> ForCurrentThread();

  static constexpr size_t kMaxRings = 256;

  struct State;

 private:
  const uint32_t entries_;
  const bool defer_;
  std::shared_ptr<State> state_;
};

// Maps an errno to a Status: ENOSPC/EDQUOT -> kNoSpace, anything else -> kIoError.
Status ErrnoStatus(int err, std::string_view what);

}  // namespace hf3fs::chunk
