// Strong id types: a NodeId cannot be passed where a TargetId is expected.
//
// Each id wraps an unsigned integer, compares and hashes like it, formats as the bare number, and
// converts to it only explicitly (`id.value()`). Zero is the conventional "unset" value for every
// id type (`id.valid()`).
#pragma once

#include <fmt/format.h>

#include <compare>
#include <cstdint>
#include <functional>
#include <ostream>

namespace hf3fs {

template <typename Tag, typename Rep>
class StrongId {
 public:
  using rep_type = Rep;
  constexpr StrongId() = default;
  constexpr explicit StrongId(Rep v) : v_(v) {}
  constexpr Rep value() const { return v_; }
  constexpr bool valid() const { return v_ != 0; }
  constexpr auto operator<=>(const StrongId&) const = default;

 private:
  Rep v_ = 0;
};

// Cluster model (ARCHITECTURE.md section 2).
using NodeId = StrongId<struct NodeIdTag, uint32_t>;
using TargetId = StrongId<struct TargetIdTag, uint64_t>;
using ChainId = StrongId<struct ChainIdTag, uint32_t>;
using ChainVersion = StrongId<struct ChainVersionTag, uint32_t>;
using ChainTableId = StrongId<struct ChainTableIdTag, uint32_t>;
using ChainTableVersion = StrongId<struct ChainTableVersionTag, uint32_t>;
using RoutingInfoVersion = StrongId<struct RoutingInfoVersionTag, uint64_t>;
using ConfigVersion = StrongId<struct ConfigVersionTag, uint64_t>;
// Namespace (ARCHITECTURE.md section 4).
using InodeId = StrongId<struct InodeIdTag, uint64_t>;
// Clients and requests.
using ClientId = StrongId<struct ClientIdTag, uint64_t>;
using RequestId = StrongId<struct RequestIdTag, uint64_t>;
using SessionId = StrongId<struct SessionIdTag, uint64_t>;

inline constexpr InodeId kRootInodeId{1};

template <typename Tag, typename Rep>
std::ostream& operator<<(std::ostream& os, const StrongId<Tag, Rep>& id) {
  return os << id.value();
}

}  // namespace hf3fs

template <typename Tag, typename Rep>
struct std::hash<hf3fs::StrongId<Tag, Rep>> {
  size_t operator()(const hf3fs::StrongId<Tag, Rep>& id) const noexcept {
    return std::hash<Rep>()(id.value());
  }
};

template <typename Tag, typename Rep>
struct fmt::formatter<hf3fs::StrongId<Tag, Rep>> : fmt::formatter<Rep> {
  auto format(const hf3fs::StrongId<Tag, Rep>& id, format_context& ctx) const {
    return fmt::formatter<Rep>::format(id.value(), ctx);
  }
};
