// `hf3fs bench meta`: metadata operation rates through the meta RPC service (MetaService, as
// `hf3fs meta` serves it) on a loopback port of this process, over each KV backend: the cost of
// the RPC layer, the offload pool, the namespace logic and the KV store.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/cli.h"

namespace hf3fs::bench {

struct MetaBenchOptions {
  std::vector<std::string> backends = {"rocksdb", "postgres"};  // memory | rocksdb | postgres
  std::vector<int> clients = {1, 8};         // concurrent clients (threads), one run each
  std::chrono::milliseconds duration{2000};  // per phase
  std::string conninfo;                      // postgres; empty: a throwaway server (PgTestServer)
};

// For each backend and client count, in a fresh directory shared by all clients: clients create
// files for `duration` (create), stat random files of their own (stat), list the whole directory
// page by page (readdir, entries per second), then unlink every file they created (unlink).
// Returns {"results": [{"backend", "clients", "files", "create_per_s", "stat_per_s",
// "readdir_entries_per_s", "unlink_per_s", "create_p99_ms", "errors"}], "errors"}; the
// directory must be empty at the end (else an error is counted).
nlohmann::json RunMetaBench(const MetaBenchOptions& options);

// Adds `hf3fs bench meta`.
void AddMetaBench(CLI::App& bench, CliContext& ctx);

}  // namespace hf3fs::bench
