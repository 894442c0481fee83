// `hf3fs bench kv`: throughput of a metadata-shaped transaction on one KV backend.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace hf3fs::bench {

struct KvBenchOptions {
  std::string backend = "memory";            // memory | rocksdb | postgres
  std::chrono::milliseconds duration{3000};  // per client count
  std::vector<int> clients = {1, 8};         // concurrent clients (threads), one run each
  std::string dir;       // rocksdb: DB directory; empty: a temporary one, removed afterwards
  std::string durability = "window";  // rocksdb, postgres: window | strict
  std::string conninfo;  // postgres; empty: a throwaway server (PgTestServer)
  bool per_client_counter = false;  // each client bumps its own counter: no shared hot key
};

// Each client loops a "create file" transaction through RunTransaction: check that the directory
// entry is absent, insert the entry and the inode record, and bump the directory's entry counter
// (shared by all clients, so concurrent clients conflict on it, unless per_client_counter).
// Returns
// {"backend", "durability", "counter", "runs": [{"clients", "txns", "txn_per_s", "conflict_retries",
// "p50_ms", "p99_ms", "errors"}]}; the final counter is checked against the transactions that
// committed.
nlohmann::json RunKvBench(const KvBenchOptions& options);

}  // namespace hf3fs::bench
