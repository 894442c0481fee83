#include "kv/retry.h"

#include <algorithm>
#include <random>
#include <thread>

#include "common/logging.h"
#include "kv/kv_metrics.h"

namespace hf3fs::kv {

bool IsRetryableTxnError(const Status& status) {
  switch (status.code()) {
    case StatusCode::kTxnConflict:
    case StatusCode::kTxnTooOld:
    case StatusCode::kKvUnavailable:
      return true;
    default:
      return false;
  }
}

namespace internal {

RetryLoop::RetryLoop(const RetryOptions& options, std::string_view backend)
    : options_(options),
      backend_(backend),
      deadline_(std::chrono::steady_clock::now() + options.deadline) {}

Status RetryLoop::Next(Status failure) {
  if (!IsRetryableTxnError(failure)) return failure;
  if (attempts_ >= options_.max_attempts) {
    return failure.WithContext(fmt::format("gave up after {} attempts", attempts_));
  }
  // Exponential backoff from initial_backoff, capped, drawn from [backoff/2, backoff].
  Duration backoff = options_.initial_backoff;
  for (uint32_t i = 1; i < attempts_ && backoff < options_.max_backoff; ++i) backoff *= 2;
  backoff = std::min(backoff, options_.max_backoff);
  thread_local std::mt19937_64 rng{std::random_device{}()};
  auto half = backoff.count() / 2;
  Duration sleep(half +
                 (half > 0 ? static_cast<int64_t>(rng() % static_cast<uint64_t>(half + 1)) : 0));
  if (std::chrono::steady_clock::now() + sleep > deadline_) {
    return failure.WithContext(fmt::format("gave up at the {} deadline after {} attempts",
                                           FormatDuration(options_.deadline), attempts_));
  }
  if (attempts_ == 1 || attempts_ % 10 == 0) {
    HF3FS_LOG_DEBUG("kv.txn_retry backend={} attempt={} status=\"{}\"", backend_, attempts_,
                    failure);
  }
  KvMetrics::For(backend_).retries->Inc();
  std::this_thread::sleep_for(sleep);
  ++attempts_;
  return Status::Ok();
}

}  // namespace internal
}  // namespace hf3fs::kv
