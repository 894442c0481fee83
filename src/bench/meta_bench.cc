#include "bench/meta_bench.h"

#include <fcntl.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <random>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <future>

#include "common/logging.h"
#include "kv/memory/memory_engine.h"
#include "kv/postgres/pg_engine.h"
#include "kv/postgres/pg_test_server.h"
#include "kv/rocksdb/rocksdb_engine.h"
#include "meta/ops/ops.h"
#include "meta/service/meta_service.h"
#include "net/offload_pool.h"
#include "net/rpc_client.h"
#include "net/rpc_server.h"
#include "rpc.pb.h"

namespace hf3fs::bench {
namespace {

using Clock = std::chrono::steady_clock;

// A backend opened for one benchmark, with whatever it needs kept alive.
struct BenchStore {
  std::unique_ptr<kv::pg::PgTestServer> server;
  std::string temp_dir;
  std::unique_ptr<kv::Engine> engine;
  ~BenchStore() {
    engine.reset();
    server.reset();
    std::error_code ec;
    if (!temp_dir.empty()) std::filesystem::remove_all(temp_dir, ec);
  }
};

Status Open(const std::string& backend, const std::string& conninfo, BenchStore& s) {
  Result<std::unique_ptr<kv::Engine>> e = Status(StatusCode::kInvalidArgument, "unknown backend");
  if (backend == "memory") e = kv::OpenMemoryEngine();
  if (backend == "rocksdb") {
    char tmpl[] = "/tmp/hf3fs-bench-meta-XXXXXX";
    if (!mkdtemp(tmpl)) return Status(StatusCode::kIoError, "mkdtemp");
    s.temp_dir = tmpl;
    e = kv::OpenRocksDbEngine(kv::RocksDbEngineOptions{.path = s.temp_dir + "/db"});
  }
  if (backend == "postgres") {
    kv::PostgresEngineOptions po;
    po.conninfo = conninfo;
    if (po.conninfo.empty()) {
      HF3FS_TRY_ASSIGN(s.server, kv::pg::PgTestServer::Start());
      po.conninfo = s.server->conninfo();
    }
    e = kv::OpenPostgresEngine(po);
  }
  HF3FS_TRY_ASSIGN(s.engine, std::move(e));
  return Status::Ok();
}

struct MetaBenchConfig : config::Section {
  net::RpcConfig rpc{this, "rpc"};
};

// A meta RPC service on a loopback port over `ctx` (the MetaService of `hf3fs meta`, with the
// same offload pool size as its default), and a client connected to it. Calls block the calling
// thread (a benchmark client) until the reply arrives.
class MetaRpc {
 public:
  explicit MetaRpc(meta::OpContext& ctx) : offload_(8), service_(ctx, offload_) {
    (void)cfg_.rpc.max_inflight_per_connection.Set(1024);
    service_.Register(registry_);
    server_pool_.Start();
    client_pool_.Start();
    server_ = std::make_unique<net::RpcServer>(server_pool_, cfg_.rpc, registry_);
    start_ = server_->Start(net::Address{"127.0.0.1", 0});
    client_ = std::make_unique<net::RpcClient>(client_pool_, cfg_.rpc);
  }
  ~MetaRpc() {
    client_->CloseAll();
    server_->Stop();
    server_pool_.Stop();
    client_pool_.Stop();
    offload_.Stop();
  }
  Status started() const { return start_; }

  template <typename Rsp, typename Req>
  Result<Rsp> Call(uint32_t method, const Req& req) {
    std::promise<Result<Rsp>> promise;
    auto fut = promise.get_future();
    boost::asio::co_spawn(
        client_pool_.Get(next_++ % 2),
        [&]() -> net::awaitable<void> {
          promise.set_value(
              co_await client_->Call<Rsp>(server_->address(), rpc::SERVICE_META, method, req));
        },
        boost::asio::detached);
    return fut.get();
  }

 private:
  MetaBenchConfig cfg_;
  net::OffloadPool offload_;
  meta::MetaService service_;
  net::ServiceRegistry registry_;
  net::IoContextPool server_pool_{2, "bench-meta-srv"};
  net::IoContextPool client_pool_{2, "bench-meta-cli"};
  std::unique_ptr<net::RpcServer> server_;
  std::unique_ptr<net::RpcClient> client_;
  Status start_;
  std::atomic<uint64_t> next_{0};
};

meta::PathAt Path(std::string p) {
  meta::PathAt a;
  a.set_path(std::move(p));
  return a;
}

// Runs `op(client, i)` on `clients` threads until `end` (or until op returns false); returns the
// successful calls and, per call, latencies in ms.
template <typename Op>
uint64_t Phase(int clients, Clock::time_point end, std::atomic<uint64_t>& errors, Op op,
               std::vector<double>* latencies = nullptr) {
  std::atomic<uint64_t> done{0};
  std::vector<std::vector<double>> lat(clients);
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      for (uint64_t i = 0; Clock::now() < end; ++i) {
        auto t0 = Clock::now();
        auto r = op(c, i);
        if (!r.has_value()) break;  // nothing left to do
        if (!r->ok()) {
          if (errors++ == 0) HF3FS_LOG_WARN("bench.meta_op_failed status=\"{}\"", *r);
          continue;
        }
        ++done;
        lat[c].push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      }
    });
  }
  for (auto& t : threads) t.join();
  if (latencies) {
    for (auto& l : lat) latencies->insert(latencies->end(), l.begin(), l.end());
  }
  return done;
}

double PerSecond(uint64_t n, Clock::time_point start) {
  return std::round(n / std::chrono::duration<double>(Clock::now() - start).count());
}

// One run's shared state: the directory, and per client the file numbers it created.
struct Run {
  MetaRpc& rpc;
  std::string dir;
  int clients;
  std::chrono::milliseconds duration;
  std::vector<std::vector<uint64_t>> made;
  std::atomic<uint64_t> errors{0};
  std::string Name(int c, uint64_t i) const { return fmt::format("{}/c{}-{}", dir, c, i); }
};

void CreatePhase(Run& run, nlohmann::json& j) {
  std::vector<double> lat;
  auto start = Clock::now();
  uint64_t n = Phase(
      run.clients, start + run.duration, run.errors,
      [&](int c, uint64_t i) -> std::optional<Status> {
        meta::CreateReq r;
        *r.mutable_path() = Path(run.Name(c, i));
        r.set_flags(O_CREAT | O_EXCL | O_RDONLY);
        r.set_mode(0644);
        Status st = run.rpc.Call<meta::CreateRsp>(meta::META_CREATE, r).status();
        if (st.ok()) run.made[c].push_back(i);
        return st;
      },
      &lat);
  j["files"] = n;
  j["create_per_s"] = PerSecond(n, start);
  std::sort(lat.begin(), lat.end());
  j["create_p99_ms"] = lat.empty() ? 0.0 : lat[std::min(lat.size() - 1, lat.size() * 99 / 100)];
}

void StatPhase(Run& run, nlohmann::json& j) {
  auto start = Clock::now();
  uint64_t n = Phase(run.clients, start + run.duration, run.errors,
                     [&](int c, uint64_t i) -> std::optional<Status> {
                       const auto& mine = run.made[c];
                       if (mine.empty()) return std::nullopt;
                       meta::StatReq r;
                       *r.mutable_path() = Path(run.Name(c, mine[(i * 7919) % mine.size()]));
                       return run.rpc.Call<meta::StatRsp>(meta::META_STAT, r).status();
                     });
  j["stat_per_s"] = PerSecond(n, start);
}

void ReaddirPhase(Run& run, nlohmann::json& j) {
  std::atomic<uint64_t> entries{0};
  auto start = Clock::now();
  Phase(run.clients, start + run.duration, run.errors, [&](int, uint64_t) -> std::optional<Status> {
    meta::ReaddirReq r;
    *r.mutable_path() = Path(run.dir);
    r.set_with_inodes(true);
    while (true) {
      auto page = run.rpc.Call<meta::ReaddirRsp>(meta::META_READDIR, r);
      if (!page.ok()) return page.status();
      entries += page->entries_size();
      if (!page->has_more()) return Status::Ok();
      r.set_cursor(page->entries(page->entries_size() - 1).name());
    }
  });
  j["readdir_entries_per_s"] = PerSecond(entries, start);
}

void UnlinkPhase(Run& run, nlohmann::json& j) {
  auto start = Clock::now();
  uint64_t n = Phase(run.clients, Clock::time_point::max(), run.errors,
                     [&](int c, uint64_t i) -> std::optional<Status> {
                       if (i >= run.made[c].size()) return std::nullopt;
                       meta::RemoveReq r;
                       *r.mutable_path() = Path(run.Name(c, run.made[c][i]));
                       return run.rpc.Call<meta::RemoveRsp>(meta::META_REMOVE, r).status();
                     });
  j["unlink_per_s"] = PerSecond(n, start);
  meta::ReaddirReq left;
  *left.mutable_path() = Path(run.dir);
  auto rest = run.rpc.Call<meta::ReaddirRsp>(meta::META_READDIR, left);
  if (!rest.ok() || rest->entries_size() != 0) ++run.errors;  // every created file was unlinked
}

nlohmann::json RunOne(MetaRpc& rpc, const std::string& dir, int clients,
                      std::chrono::milliseconds duration) {
  Run run{rpc, dir, clients, duration, std::vector<std::vector<uint64_t>>(clients)};
  nlohmann::json j{{"clients", clients}};
  CreatePhase(run, j);
  StatPhase(run, j);
  ReaddirPhase(run, j);
  UnlinkPhase(run, j);
  j["errors"] = run.errors.load();
  return j;
}

nlohmann::json RunBackend(const MetaBenchOptions& o, const std::string& backend) {
  BenchStore store;
  Status st = Open(backend, o.conninfo, store);
  if (!st.ok()) return {{"backend", backend}, {"error", st.ToString()}, {"errors", 1}};
  kv::RetryOptions retry;
  retry.max_attempts = 10000;
  meta::InodeAllocator inodes(*store.engine, retry);
  meta::ChainAllocator chains;
  meta::OpContext ctx{*store.engine,          retry, inodes, chains, {}, &meta::WallClockNs,
                      &meta::RandomSessionId, {}};
  nlohmann::json runs = nlohmann::json::array();
  st = meta::InitNamespace(ctx);
  MetaRpc rpc(ctx);
  if (st.ok()) st = rpc.started();
  for (int clients : o.clients) {
    std::string dir = fmt::format("/bench-{}", clients);
    meta::MkdirReq m;
    *m.mutable_path() = Path(dir);
    m.set_mode(0755);
    if (st.ok()) st = rpc.Call<meta::MkdirRsp>(meta::META_MKDIR, m).status();
    if (!st.ok()) return {{"backend", backend}, {"error", st.ToString()}, {"errors", 1}};
    auto run = RunOne(rpc, dir, clients, o.duration);
    run["backend"] = backend;
    runs.push_back(std::move(run));
  }
  return runs;
}

}  // namespace

nlohmann::json RunMetaBench(const MetaBenchOptions& o) {
  nlohmann::json out{{"results", nlohmann::json::array()}};
  uint64_t errors = 0;
  for (const auto& backend : o.backends) {
    auto r = RunBackend(o, backend);
    if (r.is_object()) r = nlohmann::json::array({r});
    for (auto& run : r) {
      errors += run["errors"].get<uint64_t>();
      if (!run.contains("error")) {
        // One key per (backend, clients), e.g. "rocksdb_c8", with the four rates.
        out[fmt::format("{}_c{}", run["backend"].get<std::string>(), run["clients"].get<int>())] = {
            {"create_per_s", run["create_per_s"]},
            {"stat_per_s", run["stat_per_s"]},
            {"readdir_entries_per_s", run["readdir_entries_per_s"]},
            {"unlink_per_s", run["unlink_per_s"]}};
      }
      out["results"].push_back(std::move(run));
    }
  }
  out["errors"] = errors;
  return out;
}

void AddMetaBench(CLI::App& bench, CliContext& ctx) {
  auto* cmd = bench.add_subcommand(
      "meta",
      "metadata ops (create, stat, readdir, unlink) per second through the meta RPC service (on "
      "a loopback port, in this process) on each KV backend, with 1 and 8 concurrent clients");
  auto opts = std::make_shared<MetaBenchOptions>();
  auto seconds = std::make_shared<double>(2.0);
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--backends", opts->backends, "memory, rocksdb, postgres")
      ->check(CLI::IsMember({"memory", "rocksdb", "postgres"}))
      ->capture_default_str();
  cmd->add_option("--clients", opts->clients, "concurrent clients, one run per value")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--seconds", *seconds, "duration of each phase")->check(CLI::Range(0.1, 600.0));
  cmd->add_option("--conninfo", opts->conninfo,
                  "postgres: libpq connection string (default: start a throwaway server)");
  cmd->add_flag("--json", *json, "print one JSON object");
  cmd->callback([&ctx, opts, seconds, json] {
    opts->duration = std::chrono::milliseconds(static_cast<int64_t>(*seconds * 1000));
    auto r = RunMetaBench(*opts);
    if (*json) {
      std::cout << r.dump() << std::endl;
    } else {
      for (const auto& run : r["results"]) {
        if (run.contains("error")) {
          std::cerr << "bench meta " << run["backend"].get<std::string>() << ": "
                    << run["error"].get<std::string>() << "\n";
          continue;
        }
        std::cout << run["backend"].get<std::string>() << " clients=" << run["clients"]
                  << ": create " << run["create_per_s"] << "/s, stat " << run["stat_per_s"]
                  << "/s, readdir " << run["readdir_entries_per_s"] << " entries/s, unlink "
                  << run["unlink_per_s"] << "/s\n";
      }
    }
    ctx.exit_code = r["errors"].get<uint64_t>() == 0 ? kExitOk : kExitFailure;
  });
}

}  // namespace hf3fs::bench
