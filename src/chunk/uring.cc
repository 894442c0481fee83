#include "chunk/uring.h"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <vector>

namespace hf3fs::chunk {
namespace {

int InitRing(io_uring* ring, uint32_t entries, bool defer_taskrun) {
  io_uring_params params{};
  if (defer_taskrun) params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  return io_uring_queue_init_params(entries, ring, &params);
}

}  // namespace

Status ErrnoStatus(int err, std::string_view what) {
  StatusCode code = (err == ENOSPC || err == EDQUOT) ? StatusCode::kNoSpace : StatusCode::kIoError;
  return MakeStatus(code, "{}: {}", what, std::strerror(err));
}

UringSupport ProbeUring(uint32_t entries) {
  UringSupport support;
  io_uring ring{};
  int rc = InitRing(&ring, entries, true);
  if (rc == 0) {
    io_uring_queue_exit(&ring);
    support.available = support.defer_taskrun = true;
    return support;
  }
  rc = InitRing(&ring, entries, false);
  if (rc == 0) {
    io_uring_queue_exit(&ring);
    support.available = true;
    return support;
  }
  support.error = -rc;
  return support;
}

Ring::~Ring() { io_uring_queue_exit(&ring_); }

Result<std::unique_ptr<Ring>> Ring::Create(uint32_t entries, bool defer_taskrun) {
  std::unique_ptr<Ring> r(new Ring());
  int rc = InitRing(&r->ring_, entries, defer_taskrun);
  if (rc < 0) {
    return MakeStatus(StatusCode::kUnavailable, "io_uring_queue_init: {}", std::strerror(-rc));
  }
  r->entries_ = entries;
  return r;
}

Status Ring::Run(std::span<IoOp> ops) {
  // Progress of each op; a short transfer is resubmitted for its remainder.
  std::vector<size_t> done(ops.size(), 0);
  size_t next = 0;  // next op never submitted
  size_t inflight = 0;
  std::vector<size_t> retry;  // ops with a remainder to resubmit
  int first_error = 0;
  size_t first_error_op = 0;

  auto submit_one = [&](size_t i) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    HF3FS_CHECK(sqe != nullptr);
    IoOp& op = ops[i];
    uint8_t* buf = op.buf + done[i];
    auto len = static_cast<unsigned>(op.len - done[i]);
    if (op.kind == IoOp::Kind::kRead) {
      io_uring_prep_read(sqe, op.fd, buf, len, op.offset + done[i]);
    } else {
      io_uring_prep_write(sqe, op.fd, buf, len, op.offset + done[i]);
    }
    io_uring_sqe_set_data64(sqe, i);
    ++inflight;
  };

  while (next < ops.size() || inflight > 0 || !retry.empty()) {
    while (inflight < entries_ && (!retry.empty() || (next < ops.size() && first_error == 0))) {
      if (!retry.empty()) {
        submit_one(retry.back());
        retry.pop_back();
      } else {
        submit_one(next++);
      }
    }
    if (inflight == 0) break;  // an error stopped new submissions and everything finished
    int rc = io_uring_submit_and_wait(&ring_, 1);
    if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
      // The ring itself failed; the ops' state is unknown, which only happens on a kernel bug.
      HF3FS_CHECK_MSG(false, "io_uring_submit_and_wait: {}", std::strerror(-rc));
    }
    io_uring_cqe* cqe = nullptr;
    unsigned head = 0;
    unsigned seen = 0;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      ++seen;
      --inflight;
      size_t i = io_uring_cqe_get_data64(cqe);
      int res = cqe->res;
      if (res == -EINTR || res == -EAGAIN) {
        retry.push_back(i);
      } else if (res < 0 || (res == 0 && ops[i].len > done[i])) {
        if (first_error == 0) {
          first_error = res < 0 ? -res : EIO;  // 0 bytes: unexpected end of file
          first_error_op = i;
        }
      } else {
        done[i] += static_cast<size_t>(res);
        if (done[i] < ops[i].len && first_error == 0) retry.push_back(i);
      }
    }
    io_uring_cq_advance(&ring_, seen);
  }
  if (first_error != 0) {
    const IoOp& op = ops[first_error_op];
    return ErrnoStatus(first_error, fmt::format("io_uring {} fd={} offset={} len={}",
                                                op.kind == IoOp::Kind::kRead ? "read" : "write",
                                                op.fd, op.offset, op.len));
  }
  return Status::Ok();
}

struct RingSet::State {
  std::mutex mu;
  // Keyed by a per-thread serial number that is never reused (thread ids are), because a
  // SINGLE_ISSUER ring refuses submissions from any thread but its creator.
  std::unordered_map<uint64_t, std::unique_ptr<Ring>> rings;
};

namespace {

std::atomic<uint64_t> next_thread_serial{1};

// Per-thread record of the sets holding a ring for this thread; drops them at thread exit.
struct ThreadRings {
  uint64_t serial = next_thread_serial.fetch_add(1);
  std::vector<std::weak_ptr<RingSet::State>> sets;
  ~ThreadRings() {
    for (auto& weak : sets) {
      if (auto state = weak.lock()) {
        std::unique_ptr<Ring> ring;
        std::lock_guard lock(state->mu);
        auto it = state->rings.find(serial);
        if (it != state->rings.end()) {
          ring = std::move(it->second);
          state->rings.erase(it);
        }
      }
    }
  }
};

thread_local ThreadRings thread_rings;

}  // namespace

RingSet::RingSet(uint32_t entries, bool defer_taskrun)
    : entries_(entries), defer_(defer_taskrun), state_(std::make_shared<State>()) {}

RingSet::~RingSet() = default;

Result<Ring*> RingSet::ForCurrentThread() {
  ThreadRings& mine = thread_rings;
  std::lock_guard lock(state_->mu);
  auto it = state_->rings.find(mine.serial);
  if (it != state_->rings.end()) return it->second.get();
  if (state_->rings.size() >= kMaxRings) {
    return MakeStatus(StatusCode::kResourceExhausted, "more than {} threads use io_uring",
                      kMaxRings);
  }
  HF3FS_TRY_ASSIGN(auto ring, Ring::Create(entries_, defer_));
  Ring* raw = ring.get();
  state_->rings.emplace(mine.serial, std::move(ring));
  // Forget sets that are gone, so a long-lived thread's list stays bounded.
  std::erase_if(mine.sets, [](const auto& weak) { return weak.expired(); });
  mine.sets.push_back(state_);
  return raw;
}

}  // namespace hf3fs::chunk
