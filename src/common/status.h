// Status and Result<T>: expected failures as values.
//
// A Status is a code from the table in status_codes.h plus an optional human-readable message that
// says what failed and, where possible, what to do next. Result<T> holds either a T or a non-ok
// Status (the shape of std::expected, which g++ 12 lacks in C++20 mode).
//
// Propagation uses a small fixed set of macros:
//   HF3FS_TRY(expr)                 expr yields Status or Result<T>; returns its Status on failure
//   HF3FS_TRY_ASSIGN(lhs, expr)     expr yields Result<T>; on success assigns the value to lhs
//   HF3FS_CO_TRY / HF3FS_CO_TRY_ASSIGN  the same for coroutines (co_return)
// A Status is [[nodiscard]]: never drop one silently.
#pragma once

#include <fmt/format.h>

#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "common/check.h"
#include "common/status_codes.h"

namespace hf3fs {

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok
  explicit Status(StatusCode code) : code_(code) {}
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  bool retryable() const { return GetStatusCodeInfo(code_).retryable; }
  int errno_value() const { return GetStatusCodeInfo(code_).errno_value; }

  // "kNotFound: inode 42 has no entry named 'x'" (or "ok").
  std::string ToString() const;

  // Returns a copy whose message is prefixed with `context` ("open /a: <old message>").
  Status WithContext(std::string_view context) const;

  bool operator==(const Status& other) const { return code_ == other.code_; }
  bool operator==(StatusCode code) const { return code_ == code; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline std::ostream& operator<<(std::ostream& os, const Status& s) { return os << s.ToString(); }

// Builds a Status with a formatted message: MakeStatus(StatusCode::kNotFound, "node {}", id).
template <typename... Args>
Status MakeStatus(StatusCode code, fmt::format_string<Args...> f, Args&&... args) {
  return Status(code, fmt::format(f, std::forward<Args>(args)...));
}

template <typename T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<std::decay_t<T>, Status>, "use Status instead of Result<Status>");

 public:
  using value_type = T;

  Result(const T& value) : v_(std::in_place_index<0>, value) {}  // NOLINT: implicit by design
  Result(T&& value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT
  Result(Status status) : v_(std::in_place_index<1>, std::move(status)) {  // NOLINT
    HF3FS_CHECK_MSG(!std::get<1>(v_).ok(), "Result constructed from an ok Status");
  }
  template <typename U>
    requires(std::is_constructible_v<T, U &&> && !std::is_same_v<std::decay_t<U>, T> &&
             !std::is_same_v<std::decay_t<U>, Status> && !std::is_same_v<std::decay_t<U>, Result>)
  Result(U&& value) : v_(std::in_place_index<0>, std::forward<U>(value)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // The failure; an ok Status when this holds a value.
  const Status& status() const& {
    static const Status kOk;
    return ok() ? kOk : std::get<1>(v_);
  }
  Status status() && { return ok() ? Status() : std::move(std::get<1>(v_)); }

  T& value() & {
    CheckOk();
    return std::get<0>(v_);
  }
  const T& value() const& {
    CheckOk();
    return std::get<0>(v_);
  }
  T&& value() && {
    CheckOk();
    return std::get<0>(std::move(v_));
  }
  T value_or(T other) const& { return ok() ? std::get<0>(v_) : std::move(other); }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  void CheckOk() const {
    HF3FS_CHECK_MSG(ok(), "value() on failed Result: {}", std::get<1>(v_).ToString());
  }
  std::variant<T, Status> v_;
};

namespace internal {
inline Status ToStatus(const Status& s) { return s; }
inline Status ToStatus(Status&& s) { return std::move(s); }
template <typename T>
Status ToStatus(const Result<T>& r) {
  return r.status();
}
template <typename T>
Status ToStatus(Result<T>&& r) {
  return std::move(r).status();
}
}  // namespace internal

}  // namespace hf3fs

template <>
struct fmt::formatter<hf3fs::Status> : fmt::formatter<std::string_view> {
  auto format(const hf3fs::Status& s, format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(s.ToString(), ctx);
  }
};

#define HF3FS_CONCAT_INNER(a, b) a##b
#define HF3FS_CONCAT(a, b) HF3FS_CONCAT_INNER(a, b)

#define HF3FS_TRY(expr)                                       \
  do {                                                        \
    auto&& hf3fs_try_value_ = (expr);                         \
    if (!hf3fs_try_value_.ok()) {                             \
      return ::hf3fs::internal::ToStatus(                     \
          std::forward<decltype(hf3fs_try_value_)>(hf3fs_try_value_)); \
    }                                                         \
  } while (0)

#define HF3FS_TRY_ASSIGN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return std::move(tmp).status(); \
  lhs = std::move(tmp).value()

#define HF3FS_TRY_ASSIGN(lhs, expr) \
  HF3FS_TRY_ASSIGN_IMPL(HF3FS_CONCAT(hf3fs_try_result_, __LINE__), lhs, expr)

#define HF3FS_CO_TRY(expr)                                    \
  do {                                                        \
    auto&& hf3fs_try_value_ = (expr);                         \
    if (!hf3fs_try_value_.ok()) {                             \
      co_return ::hf3fs::internal::ToStatus(                  \
          std::forward<decltype(hf3fs_try_value_)>(hf3fs_try_value_)); \
    }                                                         \
  } while (0)

#define HF3FS_CO_TRY_ASSIGN_IMPL(tmp, lhs, expr)    \
  auto tmp = (expr);                                \
  if (!tmp.ok()) co_return std::move(tmp).status(); \
  lhs = std::move(tmp).value()

#define HF3FS_CO_TRY_ASSIGN(lhs, expr) \
  HF3FS_CO_TRY_ASSIGN_IMPL(HF3FS_CONCAT(hf3fs_try_result_, __LINE__), lhs, expr)
