// Targets, chains and chain tables.
#include <algorithm>
#include <set>

#include "common/logging.h"
#include "common/metrics.h"
#include "mgmtd/ops/ops.h"
#include "mgmtd/store/mgmtd_store.h"

namespace hf3fs::mgmtd {
namespace {

Result<ChainRecord> RequireChain(kv::Transaction& txn, uint32_t chain_id) {
  HF3FS_TRY_ASSIGN(auto c, store::Get<ChainRecord>(txn, store::ChainKey(ChainId(chain_id))));
  if (!c) {
    return MakeStatus(StatusCode::kMgmtdChainNotFound,
                      "chain {} does not exist: upload it with `hf3fs admin upload-chains`",
                      chain_id);
  }
  return *c;
}

Result<TargetRecord> RequireTarget(kv::Transaction& txn, uint64_t target_id) {
  HF3FS_TRY_ASSIGN(auto t, store::Get<TargetRecord>(txn, store::TargetKey(TargetId(target_id))));
  if (!t) {
    return MakeStatus(StatusCode::kMgmtdTargetNotFound,
                      "target {} does not exist: create it with `hf3fs admin create-target`",
                      target_id);
  }
  return *t;
}

ObserveFn Observer(OpContext& ctx, const std::map<uint64_t, uint32_t>& node_of) {
  auto timeout = ctx.config.heartbeat_timeout.Get();
  return [&ctx, node_of, timeout](TargetId id) {
    TargetObservation o;
    auto it = node_of.find(id.value());
    if (it == node_of.end()) return o;
    NodeId node(it->second);
    o.node_alive = ctx.state.Alive(node, timeout);
    if (!o.node_alive) return o;
    auto soft = ctx.state.Node(node);
    for (const auto& th : soft->last.targets()) {
      if (th.target_id() == id.value()) {
        o.local = static_cast<LocalState>(th.local_state());
        o.seen_chain_version = th.chain_version();
      }
    }
    return o;
  };
}

Result<std::map<uint64_t, uint32_t>> NodeOfTargets(kv::Transaction& txn) {
  HF3FS_TRY_ASSIGN(auto targets, store::List<TargetRecord>(txn, store::TargetPrefix(), true));
  std::map<uint64_t, uint32_t> out;
  for (const auto& t : targets) out[t.target_id()] = t.node_id();
  return out;
}

}  // namespace

Result<CreateTargetsRsp> CreateTargets(OpContext& ctx, const CreateTargetsReq& req) {
  HF3FS_TRY(CheckPrimary(ctx));
  return kv::RunTransaction(ctx.engine, ctx.retry,
                            [&](kv::Transaction& txn) -> Result<CreateTargetsRsp> {
    HF3FS_TRY(store::RequireCluster(txn));
    for (const auto& t : req.targets()) {
      if (t.target_id() == 0) return Status(StatusCode::kInvalidArgument, "target id 0 is reserved");
      HF3FS_TRY_ASSIGN(auto n, store::Get<NodeRecord>(txn, store::NodeKey(NodeId(t.node_id()))));
      if (!n || n->type() != NODE_STORAGE) {
        return MakeStatus(StatusCode::kMgmtdNodeNotFound,
                          "target {}: node {} is not a registered storage node: run `hf3fs admin "
                          "register-node {} storage`",
                          t.target_id(), t.node_id(), t.node_id());
      }
      HF3FS_TRY_ASSIGN(auto old, store::Get<TargetRecord>(txn, store::TargetKey(TargetId(t.target_id()))));
      if (old) {
        if (old->node_id() == t.node_id() && old->disk_index() == t.disk_index()) continue;
        return MakeStatus(StatusCode::kAlreadyExists, "target {} already exists on node {}",
                          t.target_id(), old->node_id());
      }
      TargetRecord rec = t;
      rec.set_chain_id(0);
      HF3FS_TRY(store::Put(txn, store::TargetKey(TargetId(t.target_id())), rec));
    }
    HF3FS_TRY(store::BumpRoutingVersion(txn));
    return CreateTargetsRsp();
  });
}

Result<ListTargetsRsp> ListTargets(OpContext& ctx, const ListTargetsReq& req) {
  HF3FS_TRY(CheckPrimary(ctx));  // local states and space come from the primary's heartbeats
  HF3FS_TRY_ASSIGN(auto info, BuildRoutingInfo(ctx));
  ListTargetsRsp rsp;
  for (const auto& t : info->targets()) {
    if (req.orphans_only() && t.chain_id() != 0) continue;
    *rsp.add_targets() = t;
  }
  return rsp;
}

Result<UploadChainsRsp> UploadChains(OpContext& ctx, const UploadChainsReq& req) {
  HF3FS_TRY(CheckPrimary(ctx));
  return kv::RunTransaction(ctx.engine, ctx.retry,
                            [&](kv::Transaction& txn) -> Result<UploadChainsRsp> {
    HF3FS_TRY(store::RequireCluster(txn));
    std::set<uint64_t> seen;
    for (const auto& c : req.chains()) {
      if (c.chain_id() == 0 || c.targets().empty()) {
        return MakeStatus(StatusCode::kMgmtdInvalidChain, "chain {} needs a non-zero id and targets",
                          c.chain_id());
      }
      HF3FS_TRY_ASSIGN(auto old, store::Get<ChainRecord>(txn, store::ChainKey(ChainId(c.chain_id()))));
      std::set<uint32_t> nodes;
      for (const auto& ct : c.targets()) {
        if (!seen.insert(ct.target_id()).second) {
          return MakeStatus(StatusCode::kMgmtdInvalidChain, "target {} appears twice",
                            ct.target_id());
        }
        HF3FS_TRY_ASSIGN(auto t, RequireTarget(txn, ct.target_id()));
        if (!nodes.insert(t.node_id()).second) {
          return MakeStatus(StatusCode::kMgmtdInvalidChain,
                            "chain {} has two targets on node {}", c.chain_id(), t.node_id());
        }
        if (t.chain_id() != 0 && t.chain_id() != c.chain_id()) {
          return MakeStatus(StatusCode::kMgmtdInvalidChain, "target {} already belongs to chain {}",
                            ct.target_id(), t.chain_id());
        }
      }
      if (old) {
        // Re-uploading the same chain is a no-op; changing an existing one goes through
        // update-chain, which keeps its states.
        bool same = old->targets_size() == c.targets_size();
        for (int i = 0; same && i < c.targets_size(); ++i) {
          same = old->targets(i).target_id() == c.targets(i).target_id();
        }
        if (same) continue;
        return MakeStatus(StatusCode::kAlreadyExists,
                          "chain {} exists with other targets: use `hf3fs admin update-chain`",
                          c.chain_id());
      }
      // A new chain holds no data yet, so all of its replicas are trivially in sync: SERVING.
      ChainRecord rec;
      rec.set_chain_id(c.chain_id());
      rec.set_version(1);
      for (const auto& ct : c.targets()) {
        auto* t = rec.add_targets();
        t->set_target_id(ct.target_id());
        t->set_state(SERVING);
        rec.add_preferred_order(ct.target_id());
        HF3FS_TRY_ASSIGN(auto tr, RequireTarget(txn, ct.target_id()));
        tr.set_chain_id(c.chain_id());
        HF3FS_TRY(store::Put(txn, store::TargetKey(TargetId(ct.target_id())), tr));
      }
      HF3FS_TRY(store::Put(txn, store::ChainKey(ChainId(c.chain_id())), rec));
    }
    HF3FS_TRY(store::BumpRoutingVersion(txn));
    return UploadChainsRsp();
  });
}

Result<UploadChainTableRsp> UploadChainTable(OpContext& ctx, const UploadChainTableReq& req) {
  HF3FS_TRY(CheckPrimary(ctx));
  if (req.table_id() == 0 || req.chain_ids().empty()) {
    return Status(StatusCode::kInvalidArgument, "a chain table needs a non-zero id and chains");
  }
  return kv::RunTransaction(ctx.engine, ctx.retry,
                            [&](kv::Transaction& txn) -> Result<UploadChainTableRsp> {
    HF3FS_TRY(store::RequireCluster(txn));
    for (auto id : req.chain_ids()) HF3FS_TRY(RequireChain(txn, id));
    auto prefix = store::ChainTablePrefix(ChainTableId(req.table_id()));
    HF3FS_TRY_ASSIGN(auto last, txn.GetRange(prefix, kv::PrefixEnd(prefix), 1, true));
    uint32_t version = 1;
    if (!last.kvs.empty()) {
      ChainTableRecord prev;
      if (!prev.ParseFromString(last.kvs[0].value)) {
        return Status(StatusCode::kDataCorruption, "chain table record does not parse");
      }
      bool same = prev.chain_ids_size() == req.chain_ids_size() &&
                  std::equal(prev.chain_ids().begin(), prev.chain_ids().end(),
                             req.chain_ids().begin());
      if (same) {  // idempotent: the same list keeps its version
        UploadChainTableRsp rsp;
        rsp.set_version(prev.version());
        return rsp;
      }
      version = prev.version() + 1;
    }
    ChainTableRecord rec;
    rec.set_table_id(req.table_id());
    rec.set_version(version);
    *rec.mutable_chain_ids() = req.chain_ids();
    rec.set_description(req.description());
    HF3FS_TRY(store::Put(txn, store::ChainTableKey(ChainTableId(req.table_id()),
                                                   ChainTableVersion(version)),
                         rec));
    HF3FS_TRY(store::BumpRoutingVersion(txn));
    UploadChainTableRsp rsp;
    rsp.set_version(version);
    return rsp;
  });
}

Result<UpdateChainRsp> UpdateChain(OpContext& ctx, const UpdateChainReq& req) {
  HF3FS_TRY(CheckPrimary(ctx));
  return kv::RunTransaction(ctx.engine, ctx.retry,
                            [&](kv::Transaction& txn) -> Result<UpdateChainRsp> {
    HF3FS_TRY_ASSIGN(auto chain, RequireChain(txn, req.chain_id()));
    HF3FS_TRY_ASSIGN(auto target, RequireTarget(txn, req.target_id()));
    auto pos = std::find_if(chain.targets().begin(), chain.targets().end(),
                            [&](const ChainTargetRecord& t) { return t.target_id() == req.target_id(); });
    if (req.mode() == CHAIN_ADD_TARGET) {
      if (pos != chain.targets().end()) {
        return MakeStatus(StatusCode::kAlreadyExists, "target {} is already in chain {}",
                          req.target_id(), req.chain_id());
      }
      if (target.chain_id() != 0) {
        return MakeStatus(StatusCode::kMgmtdInvalidChain, "target {} belongs to chain {}",
                          req.target_id(), target.chain_id());
      }
      HF3FS_TRY_ASSIGN(auto node_of, NodeOfTargets(txn));
      for (const auto& t : chain.targets()) {
        if (node_of[t.target_id()] == target.node_id()) {
          return MakeStatus(StatusCode::kMgmtdInvalidChain,
                            "chain {} already has a target on node {}", req.chain_id(),
                            target.node_id());
        }
      }
      // A new replica starts OFFLINE at the tail; the state machine syncs it when it is alive.
      auto* t = chain.add_targets();
      t->set_target_id(req.target_id());
      t->set_state(OFFLINE);
      target.set_chain_id(req.chain_id());
    } else {
      if (pos == chain.targets().end()) {
        return MakeStatus(StatusCode::kMgmtdTargetNotFound, "target {} is not in chain {}",
                          req.target_id(), req.chain_id());
      }
      int serving = 0;
      for (const auto& t : chain.targets()) serving += t.state() == SERVING;
      if (pos->state() == SERVING && serving == 1) {
        return MakeStatus(StatusCode::kFailedPrecondition,
                          "target {} is the only SERVING replica of chain {}: removing it would "
                          "lose the chain's data",
                          req.target_id(), req.chain_id());
      }
      chain.mutable_targets()->erase(pos);
      target.set_chain_id(0);
    }
    chain.set_version(chain.version() + 1);
    HF3FS_TRY(store::Put(txn, store::ChainKey(ChainId(req.chain_id())), chain));
    HF3FS_TRY(store::Put(txn, store::TargetKey(TargetId(req.target_id())), target));
    HF3FS_TRY(store::BumpRoutingVersion(txn));
    UpdateChainRsp rsp;
    *rsp.mutable_chain() = chain;
    return rsp;
  });
}

Result<RotateLastSrvRsp> RotateLastSrvOp(OpContext& ctx, const RotateLastSrvReq& req) {
  HF3FS_TRY(CheckPrimary(ctx));
  return kv::RunTransaction(ctx.engine, ctx.retry,
                            [&](kv::Transaction& txn) -> Result<RotateLastSrvRsp> {
    HF3FS_TRY_ASSIGN(auto rec, RequireChain(txn, req.chain_id()));
    HF3FS_TRY_ASSIGN(auto node_of, NodeOfTargets(txn));
    Chain before = ToChain(rec);
    Chain after = RotateLastSrv(before, Observer(ctx, node_of));
    if (after == before) {
      return MakeStatus(StatusCode::kFailedPrecondition,
                        "{} has no LASTSRV target or no alive WAITING target to promote",
                        Describe(before));
    }
    HF3FS_LOG_WARN("mgmtd.rotate_lastsrv before=\"{}\" after=\"{}\" note=\"writes acknowledged "
                   "only by the old LASTSRV may be lost\"",
                   Describe(before), Describe(after));
    auto out = ToRecord(after, rec);
    HF3FS_TRY(store::Put(txn, store::ChainKey(ChainId(req.chain_id())), out));
    HF3FS_TRY(store::BumpRoutingVersion(txn));
    RotateLastSrvRsp rsp;
    *rsp.mutable_chain() = out;
    return rsp;
  });
}

Result<SetPreferredOrderRsp> SetPreferredOrder(OpContext& ctx, const SetPreferredOrderReq& req) {
  HF3FS_TRY(CheckPrimary(ctx));
  return kv::RunTransaction(ctx.engine, ctx.retry,
                            [&](kv::Transaction& txn) -> Result<SetPreferredOrderRsp> {
    HF3FS_TRY_ASSIGN(auto rec, RequireChain(txn, req.chain_id()));
    for (auto id : req.target_ids()) {
      bool member = std::any_of(rec.targets().begin(), rec.targets().end(),
                                [&](const ChainTargetRecord& t) { return t.target_id() == id; });
      if (!member) {
        return MakeStatus(StatusCode::kMgmtdTargetNotFound, "target {} is not in chain {}", id,
                          req.chain_id());
      }
    }
    *rec.mutable_preferred_order() = req.target_ids();
    if (req.rotate_now()) {
      std::vector<TargetId> pref;
      for (auto id : req.target_ids()) pref.push_back(TargetId(id));
      rec = ToRecord(RotateToPreferred(ToChain(rec), pref), rec);
    }
    HF3FS_TRY(store::Put(txn, store::ChainKey(ChainId(req.chain_id())), rec));
    HF3FS_TRY(store::BumpRoutingVersion(txn));
    SetPreferredOrderRsp rsp;
    *rsp.mutable_chain() = rec;
    return rsp;
  });
}

Result<ShutdownAllChainsRsp> ShutdownAllChains(OpContext& ctx, const ShutdownAllChainsReq&) {
  HF3FS_TRY(CheckPrimary(ctx));
  return kv::RunTransaction(ctx.engine, ctx.retry,
                            [&](kv::Transaction& txn) -> Result<ShutdownAllChainsRsp> {
    HF3FS_TRY_ASSIGN(auto chains, store::List<ChainRecord>(txn, store::ChainPrefix()));
    ShutdownAllChainsRsp rsp;
    for (auto& c : chains) {
      // Every serving target becomes LASTSRV-or-OFFLINE as if all nodes stopped at once: the head
      // keeps the chain's claim to the newest data.
      Chain before = ToChain(c);
      Chain after = NextChain(before, [](TargetId) { return TargetObservation{}; });
      if (after == before) continue;
      HF3FS_TRY(store::Put(txn, store::ChainKey(ChainId(c.chain_id())), ToRecord(after, c)));
      rsp.set_chains(rsp.chains() + 1);
    }
    HF3FS_TRY(store::BumpRoutingVersion(txn));
    return rsp;
  });
}

Result<ListChainsRsp> ListChains(OpContext& ctx, const ListChainsReq&) {
  return kv::RunTransaction(ctx.engine, ctx.retry, [&](kv::Transaction& txn) -> Result<ListChainsRsp> {
    HF3FS_TRY_ASSIGN(auto chains, store::List<ChainRecord>(txn, store::ChainPrefix(), true));
    ListChainsRsp rsp;
    for (auto& c : chains) *rsp.add_chains() = std::move(c);
    return rsp;
  });
}

Result<ListChainTablesRsp> ListChainTables(OpContext& ctx, const ListChainTablesReq&) {
  return kv::RunTransaction(ctx.engine, ctx.retry,
                            [&](kv::Transaction& txn) -> Result<ListChainTablesRsp> {
    HF3FS_TRY_ASSIGN(auto tables,
                     store::List<ChainTableRecord>(txn, store::ChainTablePrefix(), true));
    ListChainTablesRsp rsp;
    for (auto& t : tables) *rsp.add_tables() = std::move(t);
    return rsp;
  });
}

Result<uint32_t> UpdateChains(OpContext& ctx) {
  if (!ctx.state.IsPrimary() || ctx.state.Bootstrapping()) return uint32_t{0};
  auto alive = ctx.state.AliveNodes(ctx.config.heartbeat_timeout.Get());
  auto changed = kv::RunTransaction(ctx.engine, ctx.retry,
                                    [&](kv::Transaction& txn) -> Result<uint32_t> {
    // Fence: only the lease holder may change chains (read conflict on the lease record).
    HF3FS_TRY_ASSIGN(auto lease, store::Get<LeaseRecord>(txn, store::LeaseKey()));
    if (!lease || lease->expires_unix_ms() <= ctx.now_unix_ms() ||
        lease->address() != ctx.self_address) {
      return Status(StatusCode::kMgmtdNotPrimary, "lease lost before the chain update");
    }
    HF3FS_TRY_ASSIGN(auto node_of, NodeOfTargets(txn));
    HF3FS_TRY_ASSIGN(auto nodes, store::List<NodeRecord>(txn, store::NodePrefix(), true));
    std::set<uint32_t> disabled;
    for (const auto& n : nodes) {
      if (!n.enabled()) disabled.insert(n.node_id());
    }
    auto base = Observer(ctx, node_of);
    auto observe = [&](TargetId id) {
      auto o = base(id);
      auto it = node_of.find(id.value());
      if (it != node_of.end() && disabled.contains(it->second)) o.node_alive = false;
      return o;
    };
    HF3FS_TRY_ASSIGN(auto chains, store::List<ChainRecord>(txn, store::ChainPrefix()));
    uint32_t n = 0;
    std::map<PublicState, int> target_states;
    int chains_without_head = 0;
    for (const auto& c : chains) {
      Chain before = ToChain(c);
      Chain after = NextChain(before, observe);
      for (const auto& t : after.targets) target_states[t.state]++;
      if (!after.Head().valid()) ++chains_without_head;
      if (after == before) continue;
      HF3FS_LOG_INFO("mgmtd.chain_changed before=\"{}\" after=\"{}\"", Describe(before),
                     Describe(after));
      HF3FS_TRY(store::Put(txn, store::ChainKey(ChainId(c.chain_id())), ToRecord(after, c)));
      ++n;
    }
    if (n > 0 || ctx.state.LivenessChanged(alive)) HF3FS_TRY(store::BumpRoutingVersion(txn));
    auto& reg = metrics::Registry::Global();
    for (auto s : {PublicState::kServing, PublicState::kSyncing, PublicState::kWaiting,
                   PublicState::kLastSrv, PublicState::kOffline}) {
      reg.GetGauge("hf3fs_mgmtd_targets", "Targets in chains, by public state",
                   {{"public_state", std::string(ToString(s))}})
          ->Set(target_states[s]);
    }
    reg.GetGauge("hf3fs_mgmtd_chains_without_serving_target",
                 "Chains that cannot serve: no SERVING target")
        ->Set(chains_without_head);
    reg.GetGauge("hf3fs_mgmtd_chains", "Chains")->Set(static_cast<double>(chains.size()));
    return n;
  });
  if (changed.ok()) ctx.state.SetPublishedLiveness(std::move(alive));
  return changed;
}

}  // namespace hf3fs::mgmtd
