// RoutingView: routing info indexed for lookups on the I/O path (chains, targets, node addresses,
// head / successor / predecessor in chain order). Immutable once built; share it by pointer.
//
// Chain order follows ARCHITECTURE.md 2.1: SERVING targets first (head first, tail last), then
// LASTSRV, SYNCING, WAITING, OFFLINE. An update travels along the "forwarding path": every SERVING
// target in order, then a SYNCING target if there is one.
#pragma once

#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "common/ids.h"
#include "common/status.h"
#include "mgmtd.pb.h"
#include "net/address.h"

namespace hf3fs::client {

class RoutingView {
 public:
  explicit RoutingView(std::shared_ptr<const mgmtd::RoutingInfo> info);

  uint64_t version() const { return info_->version(); }
  const mgmtd::RoutingInfo& info() const { return *info_; }

  const mgmtd::ChainRecord* Chain(ChainId id) const;
  const mgmtd::TargetInfo* Target(TargetId id) const;
  const mgmtd::NodeInfo* Node(NodeId id) const;
  // The newest version of a chain table, or null.
  const mgmtd::ChainTableRecord* ChainTable(ChainTableId id) const;

  // The RPC address of the node holding `target`: kTargetNotFound when routing does not know the
  // target, kUnavailable when its node has no address yet.
  Result<net::Address> TargetAddress(TargetId target) const;
  Result<net::Address> NodeAddress(NodeId node) const;

  // The public state of `target` in `chain` (PUBLIC_STATE_UNSPECIFIED when not a member).
  static mgmtd::PublicTargetState StateIn(const mgmtd::ChainRecord& chain, TargetId target);
  // The first SERVING target (invalid id when none serves).
  static TargetId Head(const mgmtd::ChainRecord& chain);
  static std::vector<TargetId> Serving(const mgmtd::ChainRecord& chain);
  // The next target after `target` on the forwarding path (a SERVING one, else a SYNCING one), or
  // nullopt when `target` is the last one. `target` itself must be SERVING.
  static std::optional<mgmtd::ChainTargetRecord> Successor(const mgmtd::ChainRecord& chain,
                                                           TargetId target);
  // The SERVING target right before `target` on the forwarding path, or an invalid id.
  static TargetId Predecessor(const mgmtd::ChainRecord& chain, TargetId target);

 private:
  std::shared_ptr<const mgmtd::RoutingInfo> info_;
  std::unordered_map<uint32_t, const mgmtd::ChainRecord*> chains_;
  std::unordered_map<uint64_t, const mgmtd::TargetInfo*> targets_;
  std::unordered_map<uint32_t, const mgmtd::NodeInfo*> nodes_;
  std::unordered_map<uint32_t, const mgmtd::ChainTableRecord*> tables_;
};

}  // namespace hf3fs::client
