// mgmtd's records in the KV store (key layout: docs/design/0004-mgmtd.md). Functions take an open
// transaction; the caller decides the transaction's scope and retries (kv::RunTransaction).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/ids.h"
#include "common/status.h"
#include "kv/engine.h"
#include "mgmtd.pb.h"

namespace hf3fs::mgmtd::store {

std::string ClusterKey();
std::string NodeKey(NodeId id);
std::string NodePrefix();
std::string TargetKey(TargetId id);
std::string TargetPrefix();
std::string ChainKey(ChainId id);
std::string ChainPrefix();
std::string ChainTableKey(ChainTableId id, ChainTableVersion version);
std::string ChainTablePrefix();
std::string ChainTablePrefix(ChainTableId id);
std::string RoutingVersionKey();
std::string ConfigKey(NodeType type, uint64_t version);
std::string ConfigPrefix(NodeType type);
std::string SessionKey(ClientId id);
std::string SessionPrefix();
std::string UserKey(uint32_t uid);
std::string UserPrefix();
std::string LeaseKey();

// Reads a record; nullopt when absent. kDataCorruption when the value does not parse.
// `snapshot` reads without a read conflict.
template <typename M>
Result<std::optional<M>> Get(kv::Transaction& txn, std::string_view key, bool snapshot = false) {
  auto v = snapshot ? txn.SnapshotGet(key) : txn.Get(key);
  if (!v.ok()) return v.status();
  if (!v->has_value()) return std::optional<M>();
  M m;
  if (!m.ParseFromString(**v)) {
    return Status(StatusCode::kDataCorruption, "mgmtd record does not parse");
  }
  return std::optional<M>(std::move(m));
}

template <typename M>
Status Put(kv::Transaction& txn, std::string_view key, const M& m) {
  return txn.Set(key, m.SerializeAsString());
}

// Every record whose key starts with `prefix`, in key order.
template <typename M>
Result<std::vector<M>> List(kv::Transaction& txn, std::string_view prefix, bool snapshot = false) {
  auto end = kv::PrefixEnd(prefix);
  auto r = snapshot ? txn.SnapshotGetRange(prefix, end, 0) : txn.GetRange(prefix, end, 0);
  if (!r.ok()) return r.status();
  std::vector<M> out;
  for (auto& kv : r->kvs) {
    M m;
    if (!m.ParseFromString(kv.value)) {
      return Status(StatusCode::kDataCorruption, "mgmtd record does not parse");
    }
    out.push_back(std::move(m));
  }
  return out;
}

Result<uint64_t> GetRoutingVersion(kv::Transaction& txn, bool snapshot = false);
// Increments the routing-info version; returns the new version.
Result<uint64_t> BumpRoutingVersion(kv::Transaction& txn);

// The cluster record, or kMgmtdClusterNotInitialized with the command to run.
Result<ClusterRecord> RequireCluster(kv::Transaction& txn);

}  // namespace hf3fs::mgmtd::store
