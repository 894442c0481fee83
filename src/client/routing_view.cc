#include "client/routing_view.h"

namespace hf3fs::client {

RoutingView::RoutingView(std::shared_ptr<const mgmtd::RoutingInfo> info) : info_(std::move(info)) {
  for (const auto& c : info_->chains()) chains_[c.chain_id()] = &c;
  for (const auto& t : info_->targets()) targets_[t.target_id()] = &t;
  for (const auto& n : info_->nodes()) nodes_[n.node_id()] = &n;
  for (const auto& t : info_->chain_tables()) {
    auto& slot = tables_[t.table_id()];
    if (!slot || slot->version() < t.version()) slot = &t;
  }
}

const mgmtd::ChainRecord* RoutingView::Chain(ChainId id) const {
  auto it = chains_.find(id.value());
  return it == chains_.end() ? nullptr : it->second;
}

const mgmtd::TargetInfo* RoutingView::Target(TargetId id) const {
  auto it = targets_.find(id.value());
  return it == targets_.end() ? nullptr : it->second;
}

const mgmtd::NodeInfo* RoutingView::Node(NodeId id) const {
  auto it = nodes_.find(id.value());
  return it == nodes_.end() ? nullptr : it->second;
}

const mgmtd::ChainTableRecord* RoutingView::ChainTable(ChainTableId id) const {
  auto it = tables_.find(id.value());
  return it == tables_.end() ? nullptr : it->second;
}

Result<net::Address> RoutingView::NodeAddress(NodeId node) const {
  const auto* n = Node(node);
  if (!n || n->address().empty()) {
    return MakeStatus(StatusCode::kUnavailable, "node {} has no known address yet", node);
  }
  return net::Address::Parse(n->address());
}

Result<net::Address> RoutingView::TargetAddress(TargetId target) const {
  const auto* t = Target(target);
  if (!t) return MakeStatus(StatusCode::kTargetNotFound, "routing info has no target {}", target);
  return NodeAddress(NodeId(t->node_id()));
}

mgmtd::PublicTargetState RoutingView::StateIn(const mgmtd::ChainRecord& chain, TargetId target) {
  for (const auto& t : chain.targets()) {
    if (t.target_id() == target.value()) return t.state();
  }
  return mgmtd::PUBLIC_STATE_UNSPECIFIED;
}

TargetId RoutingView::Head(const mgmtd::ChainRecord& chain) {
  for (const auto& t : chain.targets()) {
    if (t.state() == mgmtd::SERVING) return TargetId(t.target_id());
  }
  return TargetId();
}

std::vector<TargetId> RoutingView::Serving(const mgmtd::ChainRecord& chain) {
  std::vector<TargetId> out;
  for (const auto& t : chain.targets()) {
    if (t.state() == mgmtd::SERVING) out.emplace_back(t.target_id());
  }
  return out;
}

std::optional<mgmtd::ChainTargetRecord> RoutingView::Successor(const mgmtd::ChainRecord& chain,
                                                               TargetId target) {
  bool after = false;
  for (const auto& t : chain.targets()) {
    if (after && (t.state() == mgmtd::SERVING || t.state() == mgmtd::SYNCING)) return t;
    if (t.target_id() == target.value()) after = true;
  }
  return std::nullopt;
}

TargetId RoutingView::Predecessor(const mgmtd::ChainRecord& chain, TargetId target) {
  TargetId prev;
  for (const auto& t : chain.targets()) {
    if (t.target_id() == target.value()) return prev;
    if (t.state() == mgmtd::SERVING) prev = TargetId(t.target_id());
  }
  return TargetId();
}

}  // namespace hf3fs::client
