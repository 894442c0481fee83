#include "common/durability.h"

#include "common/logging.h"

namespace hf3fs {

Result<Durability> ParseDurability(std::string_view name) {
  if (name == "window") return Durability::kWindow;
  if (name == "strict") return Durability::kStrict;
  return MakeStatus(StatusCode::kInvalidArgument,
                    "durability '{}' is neither \"window\" nor \"strict\"", name);
}

std::string_view ToString(Durability d) { return d == Durability::kStrict ? "strict" : "window"; }

Status SharedSync::Sync() {
  std::unique_lock lock(mu_);
  // A flush already running may have started before our caller's writes: only the next one
  // counts.
  uint64_t need = started_ + 1;
  while (finished_ < need) {
    if (running_) {
      cv_.wait(lock);
      continue;
    }
    running_ = true;
    uint64_t number = ++started_;
    lock.unlock();
    Status st = flush_();
    lock.lock();
    running_ = false;
    finished_ = number;
    last_ = st;
    cv_.notify_all();
  }
  return last_;
}

uint64_t SharedSync::flushes() const {
  std::lock_guard lock(mu_);
  return finished_;
}

void SharedSync::StartPeriodic(std::chrono::milliseconds interval, std::function<bool()> dirty) {
  std::lock_guard lock(periodic_mu_);
  if (periodic_.joinable()) return;
  stop_ = false;
  periodic_ = std::thread([this, interval, dirty = std::move(dirty)] {
    std::unique_lock lock(periodic_mu_);
    while (!stop_) {
      periodic_cv_.wait_for(lock, interval, [&] { return stop_; });
      if (stop_) break;
      lock.unlock();
      if (dirty()) {
        Status st = Sync();
        if (!st.ok()) HF3FS_LOG_WARN("durability.background_sync_failed error=\"{}\"", st);
      }
      lock.lock();
    }
  });
}

void SharedSync::StopPeriodic() {
  {
    std::lock_guard lock(periodic_mu_);
    stop_ = true;
  }
  periodic_cv_.notify_all();
  if (periodic_.joinable()) periodic_.join();
}

}  // namespace hf3fs
