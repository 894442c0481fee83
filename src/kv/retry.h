// RunTransaction: run a transaction function, retrying it from scratch on retryable KV failures.
//
//   auto r = kv::RunTransaction(engine, retry, [&](kv::Transaction& txn) -> Result<uint64_t> {
//     HF3FS_TRY_ASSIGN(auto v, txn.Get("counter"));
//     uint64_t n = v ? std::stoull(*v) + 1 : 1;
//     HF3FS_TRY(txn.Set("counter", std::to_string(n)));
//     return n;
//   });
//
// Each attempt begins a fresh transaction, calls fn(txn) and commits when fn succeeds. An attempt
// that fails with kTxnConflict, kTxnTooOld or kKvUnavailable (from Begin, fn or Commit) is retried
// after a backoff that doubles from initial_backoff up to max_backoff, with jitter (a uniform draw
// from the upper half), until max_attempts attempts were made or the next attempt would start after
// the deadline; then the last failure is returned with the attempt count as context. Any other
// failure (including retryable codes of other components returned by fn) is returned at once. fn
// must not keep state across attempts except through its return value.
#pragma once

#include <chrono>
#include <cstdint>
#include <type_traits>

#include "common/status.h"
#include "common/units.h"
#include "kv/engine.h"

namespace hf3fs::kv {

struct RetryOptions {
  uint32_t max_attempts = 100;
  Duration initial_backoff = std::chrono::milliseconds(1);
  Duration max_backoff = std::chrono::milliseconds(200);
  Duration deadline = std::chrono::seconds(60);  // from the start of the first attempt
};

// The failures RunTransaction retries.
bool IsRetryableTxnError(const Status& status);

namespace internal {

// Counts attempts and sleeps between them.
class RetryLoop {
 public:
  RetryLoop(const RetryOptions& options, std::string_view backend);
  // After a failed attempt: sleeps and returns ok when another attempt may run, or returns the
  // failure to give up with.
  Status Next(Status failure);
  uint32_t attempts() const { return attempts_; }

 private:
  const RetryOptions& options_;
  std::string_view backend_;
  std::chrono::steady_clock::time_point deadline_;
  uint32_t attempts_ = 1;
};

template <typename R>
Status FailureOf(R& r) {
  return ::hf3fs::internal::ToStatus(std::move(r));
}

}  // namespace internal

// Returns what fn returned on the attempt that committed (Status or Result<T>), or the failure.
template <typename Fn>
auto RunTransaction(Engine& engine, const RetryOptions& retry, Fn&& fn, TxnOptions options = {})
    -> std::invoke_result_t<Fn&, Transaction&> {
  using R = std::invoke_result_t<Fn&, Transaction&>;
  internal::RetryLoop loop(retry, engine.backend());
  while (true) {
    Status failure;
    {
      auto txn = engine.Begin(options);
      if (!txn.ok()) {
        failure = std::move(txn).status();
      } else {
        R r = fn(**txn);
        if (!r.ok()) {
          failure = internal::FailureOf(r);
        } else {
          failure = (*txn)->Commit();
          if (failure.ok()) return r;
        }
      }
    }
    HF3FS_TRY(loop.Next(std::move(failure)));
  }
}

}  // namespace hf3fs::kv
