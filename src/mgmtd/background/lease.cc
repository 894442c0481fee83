// Primary election: a lease record renewed in a KV transaction.
#include "common/logging.h"
#include "mgmtd/ops/ops.h"
#include "mgmtd/store/mgmtd_store.h"

namespace hf3fs::mgmtd {
namespace {

// "0.10.2" vs "0.9.0": numeric per dot-separated part.
int CompareVersions(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    uint64_t x = 0, y = 0;
    while (i < a.size() && a[i] != '.') x = x * 10 + (a[i++] - '0');
    while (j < b.size() && b[j] != '.') y = y * 10 + (b[j++] - '0');
    if (x != y) return x < y ? -1 : 1;
    ++i;
    ++j;
  }
  return 0;
}

}  // namespace

Result<bool> RenewLease(OpContext& ctx, NodeId self, const std::string& release_version) {
  auto length = ctx.config.lease_length.Get();
  auto length_ms = std::chrono::duration_cast<std::chrono::milliseconds>(length).count();
  // The lease is ours until `start + length` by our own clock: measured from before the
  // transaction, so it never outlives the record other mgmtds see.
  auto valid_until = Clock::now() + length;
  auto r = kv::RunTransaction(ctx.engine, ctx.retry,
                              [&](kv::Transaction& txn) -> Result<std::pair<bool, uint64_t>> {
    HF3FS_TRY_ASSIGN(auto lease, store::Get<LeaseRecord>(txn, store::LeaseKey()));
    uint64_t now = ctx.now_unix_ms();
    bool mine = lease && lease->node_id() == self.value() && lease->address() == ctx.self_address;
    bool expired = !lease || lease->expires_unix_ms() <= now;
    if (!mine && !expired) return std::make_pair(false, lease->term());
    if (!mine && lease && CompareVersions(lease->release_version(), release_version) > 0) {
      // Never take over from a newer release: its records may not be understood by this one.
      HF3FS_LOG_WARN("mgmtd.lease_refused holder_release={} own_release={}",
                     lease->release_version(), release_version);
      return std::make_pair(false, lease->term());
    }
    LeaseRecord next;
    next.set_node_id(self.value());
    next.set_address(ctx.self_address);
    next.set_expires_unix_ms(now + length_ms);
    next.set_release_version(release_version);
    next.set_term(mine ? lease->term() : (lease ? lease->term() : 0) + 1);
    HF3FS_TRY(store::Put(txn, store::LeaseKey(), next));
    return std::make_pair(true, next.term());
  });
  if (!r.ok()) {
    // Without a renewal we cannot know we still hold the lease: step down.
    ctx.state.SetPrimary(false, 0, {});
    return r.status();
  }
  bool was = ctx.state.IsPrimary();
  ctx.state.SetPrimary(r->first, r->second, ctx.config.heartbeat_timeout.Get(), valid_until);
  if (r->first && !was) {
    HF3FS_LOG_INFO("mgmtd.became_primary node={} term={} bootstrapping_for={}", self, r->second,
                   FormatDuration(ctx.config.heartbeat_timeout.Get()));
  } else if (!r->first && was) {
    HF3FS_LOG_WARN("mgmtd.lost_primary node={}", self);
  }
  return r->first;
}

}  // namespace hf3fs::mgmtd
