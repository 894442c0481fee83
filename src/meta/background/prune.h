// Pruning of records that outlive their purpose:
//   - write sessions of clients that are no longer alive (no mgmtd client session), so that a
//     crashed writer does not keep its removed files from garbage collection forever;
//   - idempotency records older than the longest time a client keeps retrying a request.
// Each runs in batches of `batch` keys per transaction and returns how many records it removed.
#pragma once

#include <cstdint>
#include <set>
#include <vector>

#include "meta/ops/ops.h"

namespace hf3fs::meta {

// Removes write sessions whose client id is nonzero and not in `live_clients`, and that were
// opened before `opened_before_ns` (a session opened after the live list was taken is kept).
Result<uint32_t> PruneWriteSessions(OpContext& ctx, const std::set<uint64_t>& live_clients,
                                    int64_t opened_before_ns, uint32_t batch = 256);

// The distinct inodes that PruneWriteSessions(live_clients, opened_before_ns) would take a session
// from, read without changing anything (the server fixes their lengths from storage first, so a
// crash in between leaves the sessions to be pruned, and the lengths fixed, on the next pass).
Result<std::vector<InodeId>> FindStaleWriteSessions(OpContext& ctx,
                                                    const std::set<uint64_t>& live_clients,
                                                    int64_t opened_before_ns);

// Removes flock records (docs/design/0012-cluster-locks.md) whose client id is not in
// `live_clients` and that were taken before `acquired_before_ns`.
Result<uint32_t> PruneLocks(OpContext& ctx, const std::set<uint64_t>& live_clients,
                            int64_t acquired_before_ns, uint32_t batch = 256);

// Removes idempotency records created before `created_before_ns`.
Result<uint32_t> PruneIdempotencyRecords(OpContext& ctx, int64_t created_before_ns,
                                         uint32_t batch = 256);

}  // namespace hf3fs::meta
