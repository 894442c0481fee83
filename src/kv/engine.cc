#include "kv/engine.h"

namespace hf3fs::kv {

std::string KeyAfter(std::string_view key) {
  std::string out;
  out.reserve(key.size() + 1);
  out.append(key);
  out.push_back('\0');
  return out;
}

std::string_view KeyspaceEnd() {
  static const std::string* end = new std::string(kMaxKeyBytes + 1, '\xff');
  return *end;
}

std::string PrefixEnd(std::string_view prefix) {
  std::string out(prefix);
  while (!out.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(out.back());
    if (last != 0xff) {
      ++last;
      return out;
    }
    out.pop_back();
  }
  return std::string(KeyspaceEnd());
}

Status CheckKey(std::string_view key) {
  if (key.size() > kMaxKeyBytes) {
    return MakeStatus(StatusCode::kKvKeyTooLarge, "key of {} bytes exceeds {} bytes", key.size(),
                      kMaxKeyBytes);
  }
  return Status::Ok();
}

Status CheckValue(std::string_view value) {
  if (value.size() > kMaxValueBytes) {
    return MakeStatus(StatusCode::kKvValueTooLarge, "value of {} bytes exceeds {} bytes",
                      value.size(), kMaxValueBytes);
  }
  return Status::Ok();
}

Status CheckRangeBounds(std::string_view begin, std::string_view end) {
  if (begin.size() > kMaxKeyBytes + 1 || end.size() > kMaxKeyBytes + 1) {
    return MakeStatus(StatusCode::kKvKeyTooLarge, "range bound of {} bytes exceeds {} bytes",
                      std::max(begin.size(), end.size()), kMaxKeyBytes + 1);
  }
  return Status::Ok();
}

}  // namespace hf3fs::kv
