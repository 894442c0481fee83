#include "common/status.h"

#include <cstdio>
#include <cstdlib>

namespace hf3fs {

std::string Status::ToString() const {
  const auto& info = GetStatusCodeInfo(code_);
  if (ok()) return "ok";
  if (message_.empty()) return fmt::format("{}: {}", info.name, info.description);
  return fmt::format("{}: {}", info.name, message_);
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  if (message_.empty()) return Status(code_, std::string(context));
  return Status(code_, fmt::format("{}: {}", context, message_));
}

namespace internal {
void CheckFailed(const char* file, int line, const char* expr, const std::string& msg) {
  // stderr directly: the logger may be the thing that is broken.
  std::fprintf(stderr, "FATAL check failed at %s:%d: %s %s\n", file, line, expr, msg.c_str());
  std::fflush(stderr);
  std::abort();
}
}  // namespace internal

}  // namespace hf3fs
