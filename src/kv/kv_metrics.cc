#include "kv/kv_metrics.h"

#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace hf3fs::kv {

const KvMetrics& KvMetrics::For(std::string_view backend) {
  static std::mutex mu;
  static auto* cache = new std::map<std::string, std::unique_ptr<KvMetrics>, std::less<>>();
  std::lock_guard lock(mu);
  auto it = cache->find(backend);
  if (it != cache->end()) return *it->second;
  auto& r = metrics::Registry::Global();
  metrics::Labels labels = {{"backend", std::string(backend)}};
  auto m = std::make_unique<KvMetrics>(KvMetrics{
      r.GetCounter("hf3fs_kv_transactions_total", "transactions begun", labels),
      r.GetCounter("hf3fs_kv_commits_total", "transactions committed", labels),
      r.GetCounter("hf3fs_kv_conflicts_total",
                   "transactions that failed with a conflict (retryable)", labels),
      r.GetCounter("hf3fs_kv_errors_total", "kv calls that failed other than by a conflict",
                   labels),
      r.GetHistogram("hf3fs_kv_commit_seconds", "latency of commits that write", labels),
      r.GetCounter("hf3fs_kv_retries_total", "transaction attempts re-run by RunTransaction",
                   labels),
      r.GetCounter("hf3fs_kv_syncs_total",
                   "flushes that made earlier commits power-safe (window durability)", labels),
      r.GetHistogram("hf3fs_kv_sync_seconds", "latency of those flushes", labels),
  });
  return *cache->emplace(std::string(backend), std::move(m)).first->second;
}

}  // namespace hf3fs::kv
