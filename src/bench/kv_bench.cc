#include "bench/kv_bench.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <thread>

#include "common/durability.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "kv/kv_metrics.h"
#include "kv/memory/memory_engine.h"
#include "kv/postgres/pg_engine.h"
#include "kv/postgres/pg_test_server.h"
#include "kv/retry.h"
#include "kv/rocksdb/rocksdb_engine.h"

namespace hf3fs::bench {
namespace {

using Clock = std::chrono::steady_clock;

std::string U64Le(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(v >> (8 * i));
  return s;
}

// The keys of one create, shaped like meta's (ARCHITECTURE.md 4.1).
struct CreateKeys {
  std::string entry;    // DENT + parent + name
  std::string inode;    // INOD + inode id
  std::string counter;  // CNTR + parent
};

// `counter` picks the counter key: 0 for the directory's shared one, client + 1 for per-client.
CreateKeys KeysFor(uint64_t dir, int client, uint64_t seq, int counter) {
  uint64_t inode = (uint64_t(client + 1) << 40) | seq;
  return CreateKeys{"DENT" + U64Le(dir) + fmt::format("c{}-f{}", client, seq),
                    "INOD" + U64Le(inode), "CNTR" + U64Le(dir) + U64Le(counter)};
}

Status CreateFile(kv::Transaction& txn, const CreateKeys& k) {
  HF3FS_TRY_ASSIGN(auto existing, txn.Get(k.entry));
  if (existing) return Status(StatusCode::kAlreadyExists, "entry exists");
  HF3FS_TRY(txn.Set(k.entry, k.inode.substr(4)));
  HF3FS_TRY(txn.Set(k.inode, std::string(64, 'i')));  // type, mode, owner, times, layout
  HF3FS_TRY_ASSIGN(auto count, txn.Get(k.counter));
  uint64_t n = count ? std::stoull(*count) : 0;
  return txn.Set(k.counter, std::to_string(n + 1));
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

nlohmann::json RunClients(kv::Engine& engine, int clients, uint64_t dir,
                          std::chrono::milliseconds duration, bool per_client_counter) {
  kv::RetryOptions retry;
  retry.max_attempts = 1000;
  std::atomic<uint64_t> attempts{0};
  std::atomic<uint64_t> committed{0};
  std::atomic<uint64_t> errors{0};
  std::vector<std::vector<double>> latencies(clients);
  const auto& metrics = kv::KvMetrics::For(engine.backend());
  uint64_t conflicts_before = metrics.conflicts->Value();
  auto* groups = metrics::Registry::Global().GetCounter(
      "hf3fs_kv_rocksdb_group_writes_total",
      "WriteBatches written by group commit (commits per group = commits / this)");
  uint64_t groups_before = groups->Value();
  auto start = Clock::now();
  auto end = start + duration;
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      for (uint64_t seq = 0; Clock::now() < end; ++seq) {
        CreateKeys keys = KeysFor(dir, c, seq, per_client_counter ? c + 1 : 0);
        auto t0 = Clock::now();
        Status st = kv::RunTransaction(engine, retry, [&](kv::Transaction& txn) {
          ++attempts;
          return CreateFile(txn, keys);
        });
        if (!st.ok()) {
          if (errors++ == 0) HF3FS_LOG_WARN("bench.kv_txn_failed status=\"{}\"", st);
          continue;
        }
        ++committed;
        latencies[c].push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      }
    });
  }
  for (auto& t : threads) t.join();
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();

  // Every committed create bumped a counter exactly once.
  uint64_t counted = 0;
  auto check = kv::RunTransaction(engine, retry, [&](kv::Transaction& txn) -> Status {
    counted = 0;
    for (int c = 0; c <= clients; ++c) {
      HF3FS_TRY_ASSIGN(auto v, txn.Get(KeysFor(dir, 0, 0, c).counter));
      counted += v ? std::stoull(*v) : 0;
    }
    return Status::Ok();
  });
  if (!check.ok() || counted != committed) {
    HF3FS_LOG_ERROR("bench.kv_counter_mismatch counted={} committed={} status=\"{}\"", counted,
                    committed.load(), check);
    ++errors;
  }

  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  nlohmann::json j;
  j["clients"] = clients;
  j["txns"] = committed.load();
  j["txn_per_s"] = std::round(committed / seconds);
  j["conflict_retries"] = attempts - committed - errors.load();
  j["conflicts"] = metrics.conflicts->Value() - conflicts_before;
  j["p50_ms"] = std::round(Percentile(all, 0.50) * 1000) / 1000;
  j["p99_ms"] = std::round(Percentile(all, 0.99) * 1000) / 1000;
  j["errors"] = errors.load();
  if (engine.backend() == "rocksdb" && groups->Value() > groups_before) {
    j["commits_per_group"] =
        std::round(10.0 * committed / double(groups->Value() - groups_before)) / 10;
  }
  return j;
}

}  // namespace

nlohmann::json RunKvBench(const KvBenchOptions& o) {
  nlohmann::json out;
  out["backend"] = o.backend;
  out["counter"] = o.per_client_counter ? "per-client" : "shared";
  std::unique_ptr<kv::pg::PgTestServer> server;
  std::string temp_dir;
  Result<std::unique_ptr<kv::Engine>> engine = Status(StatusCode::kInvalidArgument, "no backend");
  auto parsed = ParseDurability(o.durability);
  if (!parsed.ok()) {
    out["error"] = parsed.status().ToString();
    return out;
  }
  Durability durability = *parsed;
  out["durability"] = o.durability;
  if (o.backend == "memory") {
    engine = kv::OpenMemoryEngine();
  } else if (o.backend == "rocksdb") {
    kv::RocksDbEngineOptions ro;
    ro.path = o.dir;
    if (ro.path.empty()) {
      char tmpl[] = "/tmp/hf3fs-bench-kv-XXXXXX";
      temp_dir = mkdtemp(tmpl) ? tmpl : "";
      ro.path = temp_dir + "/db";
    }
    ro.durability = durability;
    engine = kv::OpenRocksDbEngine(ro);
  } else if (o.backend == "postgres") {
    kv::PostgresEngineOptions po;
    po.conninfo = o.conninfo;
    po.durability = durability;
    if (po.conninfo.empty()) {
      auto s = kv::pg::PgTestServer::Start();
      if (!s.ok()) {
        engine = std::move(s).status();
      } else {
        server = std::move(*s);
        po.conninfo = server->conninfo();
      }
    }
    out["sync"] = true;
    if (!po.conninfo.empty()) engine = kv::OpenPostgresEngine(po);
  }
  if (!engine.ok()) {
    out["error"] = engine.status().ToString();
    out["errors"] = 1;
    return out;
  }
  // A fresh directory per run, so each run's counter starts at zero.
  uint64_t dir = static_cast<uint64_t>(Clock::now().time_since_epoch().count());
  uint64_t errors = 0;
  for (int clients : o.clients) {
    auto run = RunClients(**engine, clients, dir++, o.duration, o.per_client_counter);
    errors += run["errors"].get<uint64_t>();
    out["runs"].push_back(std::move(run));
  }
  out["errors"] = errors;
  engine->reset();
  server.reset();
  if (!temp_dir.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(temp_dir, ec);
  }
  return out;
}

}  // namespace hf3fs::bench
