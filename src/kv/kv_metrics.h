// Metrics every KV backend reports, labelled backend="memory|rocksdb|postgres".
#pragma once

#include <string_view>

#include "common/metrics.h"

namespace hf3fs::kv {

struct KvMetrics {
  metrics::Counter* begins;            // hf3fs_kv_transactions_total
  metrics::Counter* commits;           // hf3fs_kv_commits_total (successful, with writes or not)
  metrics::Counter* conflicts;         // hf3fs_kv_conflicts_total (kTxnConflict and kTxnTooOld)
  metrics::Counter* errors;            // hf3fs_kv_errors_total (other failed calls)
  metrics::Histogram* commit_latency;  // hf3fs_kv_commit_seconds (commits with writes)
  metrics::Counter* retries;           // hf3fs_kv_retries_total (RunTransaction re-runs)
  metrics::Counter* syncs;             // hf3fs_kv_syncs_total (flushes made by Sync)
  metrics::Histogram* sync_latency;    // hf3fs_kv_sync_seconds

  // The metrics of one backend; the pointers stay valid for the life of the process.
  static const KvMetrics& For(std::string_view backend);
};

}  // namespace hf3fs::kv
