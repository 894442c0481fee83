// The [kv] config section and the factory that opens the configured engine.
//
//   [kv]
//   backend = "rocksdb"            # memory | rocksdb | postgres
//   [kv.rocksdb]
//   path = "/var/lib/hf3fs/meta-kv"
//   [kv.postgres]
//   conninfo = "host=db1 dbname=hf3fs user=hf3fs"
//   [kv.retry]
//   deadline = "60s"
#pragma once

#include <chrono>
#include <memory>

#include "common/config.h"
#include "kv/engine.h"
#include "kv/retry.h"

namespace hf3fs::kv {

using namespace std::chrono_literals;

struct KvRocksDbConfig : config::Section {
  using Section::Section;
  config::Item<std::string> path{this, "path", "",
                                 "RocksDB directory (created if missing; one process at a time)"};
  config::Item<uint64_t> max_group_commit_bytes{
      this,
      "max_group_commit_bytes",
      16ull << 20,
      "largest batch of queued commits written with one WAL write",
      {.min = 1ull << 20, .max = 1ull << 30, .size = true}};
  config::Item<uint64_t> block_cache_bytes{this,
                                           "block_cache_bytes",
                                           64ull << 20,
                                           "RocksDB block cache",
                                           {.min = 1ull << 20, .size = true}};
};

struct KvPostgresConfig : config::Section {
  using Section::Section;
  config::Item<std::string> conninfo{
      this, "conninfo", "", "libpq connection string, e.g. \"host=db1 dbname=hf3fs user=hf3fs\""};
  config::Item<std::string> table{this, "table", "kv",
                                  "table holding the keys (created if missing)"};
  config::Item<uint32_t> max_connections{this,
                                         "max_connections",
                                         16,
                                         "connections (open transactions) per process",
                                         {.min = 1, .max = 1024}};
  config::Item<Duration> connect_timeout{this,
                                         "connect_timeout",
                                         5s,
                                         "time allowed to connect (unless conninfo sets it)",
                                         {.min = Duration(1s)}};
  config::Item<Duration> pool_wait{
      this, "pool_wait", 10s, "how long Begin waits for a free connection", {.min = Duration(1ms)}};
  config::Item<Duration> commit_resolve_timeout{
      this,
      "commit_resolve_timeout",
      30s,
      "how long a commit whose reply was lost keeps asking whether it committed",
      {.min = Duration(0)}};
};

struct KvRetryConfig : config::Section {
  using Section::Section;
  config::Item<uint32_t> max_attempts{this,
                                      "max_attempts",
                                      100,
                                      "attempts of one transaction before giving up",
                                      {.min = 1, .hot = true}};
  config::Item<Duration> initial_backoff{this,
                                         "initial_backoff",
                                         1ms,
                                         "wait after the first failed attempt",
                                         {.min = Duration(0), .hot = true}};
  config::Item<Duration> max_backoff{this,
                                     "max_backoff",
                                     200ms,
                                     "longest wait between attempts",
                                     {.min = Duration(0), .hot = true}};
  config::Item<Duration> deadline{this,
                                  "deadline",
                                  60s,
                                  "no attempt starts later than this after the first",
                                  {.min = Duration(1ms), .hot = true}};

  RetryOptions ToOptions() const {
    return RetryOptions{max_attempts.Get(), initial_backoff.Get(), max_backoff.Get(),
                        deadline.Get()};
  }
};

struct KvConfig : config::Section {
  using Section::Section;
  config::Item<std::string> backend{this,
                                    "backend",
                                    "rocksdb",
                                    "where the KV store lives (memory: this process only, "
                                    "lost at restart; for tests)",
                                    {.one_of = {"memory", "rocksdb", "postgres"}}};
  config::Item<std::string> durability{
      this,
      "durability",
      "window",
      "window: a commit survives a crash of any process at once and a power loss after at most "
      "durability_window (or the next sync); strict: every commit is flushed before it returns "
      "(docs/design/0009-durability.md)",
      {.one_of = {"window", "strict"}}};
  config::Item<Duration> durability_window{
      this,
      "durability_window",
      1s,
      "window durability: commits are flushed to stable storage at least this often",
      {.min = Duration(1ms), .max = Duration(60s)}};
  config::Item<uint64_t> conflict_log_max_bytes{
      this,
      "conflict_log_max_bytes",
      64ull << 20,
      "memory/rocksdb: write sets of recent commits kept for validation; older transactions "
      "fail with kTxnTooOld",
      {.min = 1ull << 20, .size = true}};
  KvRocksDbConfig rocksdb{this, "rocksdb", "rocksdb backend"};
  KvPostgresConfig postgres{this, "postgres", "postgres backend"};
  KvRetryConfig retry{this, "retry", "RunTransaction retries"};
};

// Opens the configured backend. kConfigInvalid when a setting the backend needs is missing, and
// the backend's own errors (kKvBackendError, kKvUnavailable).
Result<std::unique_ptr<Engine>> OpenEngine(const KvConfig& config);

}  // namespace hf3fs::kv
