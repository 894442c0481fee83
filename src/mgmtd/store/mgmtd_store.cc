#include "mgmtd/store/mgmtd_store.h"

namespace hf3fs::mgmtd::store {
namespace {

template <typename T>
void AppendBE(std::string& s, T v) {
  for (int i = sizeof(T) - 1; i >= 0; --i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::string Key(std::string_view prefix) { return std::string(prefix); }

}  // namespace

std::string ClusterKey() { return "MGCL"; }
std::string NodePrefix() { return "MGND"; }
std::string NodeKey(NodeId id) {
  auto k = NodePrefix();
  AppendBE<uint32_t>(k, id.value());
  return k;
}
std::string TargetPrefix() { return "MGTG"; }
std::string TargetKey(TargetId id) {
  auto k = TargetPrefix();
  AppendBE<uint64_t>(k, id.value());
  return k;
}
std::string ChainPrefix() { return "MGCH"; }
std::string ChainKey(ChainId id) {
  auto k = ChainPrefix();
  AppendBE<uint32_t>(k, id.value());
  return k;
}
std::string ChainTablePrefix() { return "MGCT"; }
std::string ChainTablePrefix(ChainTableId id) {
  auto k = ChainTablePrefix();
  AppendBE<uint32_t>(k, id.value());
  return k;
}
std::string ChainTableKey(ChainTableId id, ChainTableVersion version) {
  auto k = ChainTablePrefix(id);
  AppendBE<uint32_t>(k, version.value());
  return k;
}
std::string RoutingVersionKey() { return Key("MGRV"); }
std::string ConfigPrefix(NodeType type) {
  std::string k = "MGCF";
  k.push_back(static_cast<char>(type));
  return k;
}
std::string ConfigKey(NodeType type, uint64_t version) {
  auto k = ConfigPrefix(type);
  AppendBE<uint64_t>(k, version);
  return k;
}
std::string SessionPrefix() { return "MGSS"; }
std::string SessionKey(ClientId id) {
  auto k = SessionPrefix();
  AppendBE<uint64_t>(k, id.value());
  return k;
}
std::string UserPrefix() { return "MGUS"; }
std::string UserKey(uint32_t uid) {
  auto k = UserPrefix();
  AppendBE<uint32_t>(k, uid);
  return k;
}
std::string LeaseKey() { return "MGLS"; }

Result<uint64_t> GetRoutingVersion(kv::Transaction& txn, bool snapshot) {
  auto v = snapshot ? txn.SnapshotGet(RoutingVersionKey()) : txn.Get(RoutingVersionKey());
  if (!v.ok()) return v.status();
  if (!v->has_value()) return uint64_t{0};
  if ((*v)->size() != 8) return Status(StatusCode::kDataCorruption, "routing version is not 8 bytes");
  uint64_t r = 0;
  for (unsigned char c : **v) r = r << 8 | c;
  return r;
}

Result<uint64_t> BumpRoutingVersion(kv::Transaction& txn) {
  HF3FS_TRY_ASSIGN(uint64_t v, GetRoutingVersion(txn));
  std::string s;
  AppendBE<uint64_t>(s, v + 1);
  HF3FS_TRY(txn.Set(RoutingVersionKey(), s));
  return v + 1;
}

Result<ClusterRecord> RequireCluster(kv::Transaction& txn) {
  HF3FS_TRY_ASSIGN(auto c, Get<ClusterRecord>(txn, ClusterKey(), true));
  if (!c) {
    return Status(StatusCode::kMgmtdClusterNotInitialized,
                  "the cluster is not initialized: run `hf3fs admin init-cluster <cluster-id>`");
  }
  return *c;
}

}  // namespace hf3fs::mgmtd::store
