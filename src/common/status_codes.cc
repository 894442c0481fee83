#include "common/status_codes.h"

#include <array>
#include <cstddef>
#include <unordered_map>

namespace hf3fs {
namespace {

constexpr StatusCodeInfo kTable[] = {
#define HF3FS_STATUS_INFO(name, num, retryable, err, desc) \
  {StatusCode::name, #name, retryable, err, desc},
    HF3FS_STATUS_CODE_TABLE(HF3FS_STATUS_INFO)
#undef HF3FS_STATUS_INFO
};

constexpr StatusCodeInfo kUnknownInfo = {StatusCode::kInternal, "kUnknown", false, EIO,
                                         "unknown status code"};

const std::unordered_map<uint16_t, const StatusCodeInfo*>& Index() {
  static const auto* index = [] {
    auto* m = new std::unordered_map<uint16_t, const StatusCodeInfo*>();
    for (const auto& info : kTable) m->emplace(static_cast<uint16_t>(info.code), &info);
    return m;
  }();
  return *index;
}

}  // namespace

const StatusCodeInfo& GetStatusCodeInfo(StatusCode code) {
  auto it = Index().find(static_cast<uint16_t>(code));
  return it == Index().end() ? kUnknownInfo : *it->second;
}

StatusCode StatusCodeFromNumber(uint32_t number) {
  if (number > 0xffff) return StatusCode::kInternal;
  auto it = Index().find(static_cast<uint16_t>(number));
  return it == Index().end() ? StatusCode::kInternal : it->second->code;
}

const char* StatusCodeLabel(StatusCode code) { return GetStatusCodeInfo(code).name + 1; }

const char* StatusCodeComponent(StatusCode code) {
  static constexpr std::array<const char*, 8> kNames = {"common", "net",     "kv",     "mgmtd",
                                                        "storage", "meta", "client", "fuse"};
  size_t idx = static_cast<uint16_t>(code) / 1000;
  return idx < kNames.size() ? kNames[idx] : "unknown";
}

}  // namespace hf3fs
