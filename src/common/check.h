// Always-on assertions for bugs (never for expected failures, which are Status values).
//
// HF3FS_CHECK(cond) and its variants log the failed condition with its source location and abort
// the process in every build type, because a violated invariant in a storage system must stop the
// process before it writes wrong data.
#pragma once

#include <fmt/format.h>

namespace hf3fs::internal {
[[noreturn]] void CheckFailed(const char* file, int line, const char* expr, const std::string& msg);
}  // namespace hf3fs::internal

#define HF3FS_CHECK(cond)                                                       \
  do {                                                                          \
    if (__builtin_expect(!(cond), 0)) {                                         \
      ::hf3fs::internal::CheckFailed(__FILE__, __LINE__, #cond, std::string()); \
    }                                                                           \
  } while (0)

// HF3FS_CHECK_MSG(cond, "format {}", args...): adds a formatted explanation.
#define HF3FS_CHECK_MSG(cond, ...)                                                          \
  do {                                                                                      \
    if (__builtin_expect(!(cond), 0)) {                                                     \
      ::hf3fs::internal::CheckFailed(__FILE__, __LINE__, #cond, fmt::format(__VA_ARGS__)); \
    }                                                                                       \
  } while (0)
