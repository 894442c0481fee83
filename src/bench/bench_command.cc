#include "bench/bench_command.h"

#include <filesystem>
#include <iostream>

#include "bench/kv_bench.h"
#include "bench/meta_bench.h"
#include "bench/rpc_bench.h"
#include "bench/storage_bench.h"
#include "bench/usrbio_bench.h"
#include "common/units.h"
#include "net/server_command.h"

namespace hf3fs::bench {
namespace {

void AddRpcBench(CLI::App& bench, CliContext& ctx) {
  auto* cmd = bench.add_subcommand(
      "rpc",
      "RPC throughput on loopback: small calls, pipelined calls, 1 MiB attachments, and "
      "raw TCP measured in the same run for comparison");
  auto opts = std::make_shared<RpcBenchOptions>();
  auto seconds = std::make_shared<double>(3.0);
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--seconds", *seconds, "duration of each phase")->check(CLI::Range(0.1, 600.0));
  cmd->add_option("--pipeline", opts->pipeline_depth, "calls in flight in the pipelined phase")
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--bulk-inflight", opts->bulk_inflight, "1 MiB calls in flight")
      ->check(CLI::Range(1, 256));
  auto busy = std::make_shared<int64_t>(50);
  cmd->add_option("--busy-poll-us", *busy,
                  "rpc.busy_poll of the io threads in microseconds (0: sleep in epoll at once)")
      ->check(CLI::Range(0, 10000));
  cmd->add_option("--connect", opts->connect,
                  "host:port of a running `hf3fs bench rpc-server` (default: in-process server)");
  cmd->add_flag("--json", *json, "print one JSON object");
  cmd->callback([&ctx, opts, seconds, json, busy] {
    opts->busy_poll = std::chrono::microseconds(*busy);
    opts->phase_duration = std::chrono::milliseconds(static_cast<int64_t>(*seconds * 1000));
    auto r = RunRpcBench(*opts);
    if (r.contains("error")) {
      std::cerr << "hf3fs bench rpc: " << r["error"].get<std::string>() << "\n";
      ctx.exit_code = kExitUsage;
      return;
    }
    if (*json) {
      std::cout << r.dump() << std::endl;
    } else {
      std::cout << "small calls (1 in flight):   " << r["small_rpc_per_s"] << " /s, p50 "
                << r["small_rpc_p50_us"] << " us, p99 " << r["small_rpc_p99_us"] << " us\n"
                << "pipelined (" << opts->pipeline_depth
                << " in flight):     " << r["pipelined_rpc_per_s"] << " /s\n"
                << "bulk 1 MiB (" << opts->bulk_inflight << " in flight):     " << r["bulk_mib_s"]
                << " MiB/s\n"
                << "raw TCP loopback:            " << r.value("raw_tcp_mib_s", 0.0)
                << " MiB/s (bulk/raw " << r.value("bulk_vs_raw", 0.0) << ")\n";
    }
    ctx.exit_code = r["errors"].get<uint64_t>() == 0 ? kExitOk : kExitFailure;
  });
}

void AddRpcServer(CLI::App& bench, CliContext& ctx) {
  net::ServerCommand command;
  command.name = "rpc-server";
  command.description =
      "serve the RPC benchmark for `hf3fs bench rpc --connect` from another machine";
  command.make_config = [] {
    auto c = std::make_unique<net::ServerConfigBase>("hf3fs bench rpc-server", "127.0.0.1:8590",
                                                     "127.0.0.1:8591");
    // A benchmark endpoint holds no data, and `hf3fs bench rpc --connect` measures the bare
    // transport: authentication is off unless asked for (rpc.auth_required = true with a key
    // file). The start logs a warning either way it is off.
    (void)c->rpc.auth_required.Set(false);
    return c;
  };
  command.setup = [](net::ServerRuntime& rt,
                     net::ServerConfigBase&) -> Result<std::unique_ptr<net::ServerRole>> {
    RegisterBenchService(rt.registry());
    return std::make_unique<net::ServerRole>();
  };
  net::AddServerCommand(bench, ctx, std::move(command));
}

void AddKvBench(CLI::App& bench, CliContext& ctx) {
  auto* cmd = bench.add_subcommand(
      "kv",
      "KV transactions: a metadata \"create file\" (check entry absent, insert entry and "
      "inode, bump the directory counter) with 1 and 8 concurrent clients");
  auto opts = std::make_shared<KvBenchOptions>();
  auto seconds = std::make_shared<double>(3.0);
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--backend", opts->backend, "memory, rocksdb or postgres")
      ->check(CLI::IsMember({"memory", "rocksdb", "postgres"}))
      ->capture_default_str();
  cmd->add_option("--seconds", *seconds, "duration of each run")->check(CLI::Range(0.1, 600.0));
  cmd->add_option("--clients", opts->clients, "concurrent clients, one run per value")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--dir", opts->dir, "rocksdb: DB directory (default: a temporary directory)");
  cmd->add_option("--durability", opts->durability,
                  "window (commits reach the kernel; flushed every second) or strict (every "
                  "commit flushed)")
      ->check(CLI::IsMember({"window", "strict"}));
  cmd->add_option("--conninfo", opts->conninfo,
                  "postgres: libpq connection string (default: start a throwaway server)");
  cmd->add_flag("--per-client-counter", opts->per_client_counter,
                "each client bumps its own counter instead of the directory's shared one");
  cmd->add_flag("--json", *json, "print one JSON object");
  cmd->callback([&ctx, opts, seconds, json] {
    opts->duration = std::chrono::milliseconds(static_cast<int64_t>(*seconds * 1000));
    auto r = RunKvBench(*opts);
    if (*json) {
      std::cout << r.dump() << std::endl;
    } else if (r.contains("error")) {
      std::cerr << "bench kv: " << r["error"].get<std::string>() << std::endl;
    } else {
      for (const auto& run : r["runs"]) {
        std::cout << r["backend"].get<std::string>() << " clients=" << run["clients"] << ": "
                  << run["txn_per_s"] << " txn/s, conflict retries " << run["conflict_retries"]
                  << ", p50 " << run["p50_ms"] << " ms, p99 " << run["p99_ms"] << " ms\n";
      }
    }
    ctx.exit_code = r["errors"].get<uint64_t>() == 0 ? kExitOk : kExitFailure;
  });
}

void AddStorageBench(CLI::App& bench, CliContext& ctx) {
  auto* cmd = bench.add_subcommand(
      "storage",
      "chunk I/O through the storage service (1 MiB sequential write/read, 4 KiB and "
      "128 KiB random reads) at R=1 and R=3, beside raw O_DIRECT disk and raw TCP");
  auto opts = std::make_shared<StorageBenchOptions>();
  auto size = std::make_shared<std::string>("1GiB");
  auto seconds = std::make_shared<double>(5.0);
  auto json = std::make_shared<bool>(false);
  opts->dir = (std::filesystem::temp_directory_path() / "hf3fs-bench-storage").string();
  cmd->add_option("--dir", opts->dir, "where started clusters and the raw-disk file live")
      ->capture_default_str();
  cmd->add_option("--mgmtd", opts->mgmtd,
                  "measure a running cluster instead (its mgmtd host:port); no raw figures");
  cmd->add_option("--size", *size, "bytes written and read sequentially")->capture_default_str();
  cmd->add_option("--jobs", opts->jobs, "I/Os in flight")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  cmd->add_option("--seconds", *seconds, "duration of each random-read run")
      ->check(CLI::Range(0.1, 600.0));
  cmd->add_option("--nodes", opts->storage_nodes, "storage nodes of started clusters")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  cmd->add_option("--replicas", opts->replicas, "replication factors, one started cluster each")
      ->capture_default_str();
  cmd->add_option("--storage-arg", opts->storage_args,
                  "extra --config.<section>.<key>=<value> for started storage nodes (repeatable)");
  cmd->add_flag("--json", *json, "print one JSON object");
  cmd->callback([&ctx, opts, size, seconds, json] {
    auto bytes = ParseSize(*size);
    if (!bytes.ok()) {
      std::cerr << "bench storage: --size: " << bytes.status().ToString() << std::endl;
      ctx.exit_code = kExitUsage;
      return;
    }
    opts->size_bytes = *bytes;
    opts->random_duration = std::chrono::milliseconds(static_cast<int64_t>(*seconds * 1000));
    std::error_code ec;
    opts->binary = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    auto r = RunStorageBench(*opts);
    if (*json) {
      std::cout << r.dump() << std::endl;
    } else if (r.contains("error")) {
      std::cerr << "bench storage: " << r["error"].get<std::string>() << std::endl;
    } else {
      std::cout << r.dump(2) << std::endl;
    }
    ctx.exit_code = r.contains("error") ? kExitFailure : kExitOk;
  });
}

void AddUsrbioBench(CLI::App& bench, CliContext& ctx) {
  auto* cmd = bench.add_subcommand(
      "usrbio",
      "fio-like load through the native client API (libhf3fs_usrbio) on a file of a mounted "
      "hf3fs; run fio on the same file to compare");
  auto opts = std::make_shared<UsrbioBenchOptions>();
  auto bs = std::make_shared<std::string>("4KiB");
  auto size = std::make_shared<std::string>("1GiB");
  auto runtime = std::make_shared<double>(10.0);
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--mount", opts->mount, "the hf3fs mount point (default: the one holding --file)");
  cmd->add_option("--file", opts->file, "the file to read or write (created if missing)")
      ->required();
  cmd->add_option("--rw", opts->rw, "read, randread, write or randwrite")
      ->check(CLI::IsMember({"read", "randread", "write", "randwrite"}))
      ->capture_default_str();
  cmd->add_option("--bs", *bs, "bytes per I/O")->capture_default_str();
  cmd->add_option("--iodepth", opts->iodepth, "I/Os in flight per job")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  cmd->add_option("--numjobs", opts->numjobs, "jobs (threads with a ring each)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--size", *size, "bytes of the file each job covers (reads lay it out first)")
      ->capture_default_str();
  cmd->add_option("--runtime", *runtime, "seconds a job runs at most")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  cmd->add_flag("--json", *json, "print one JSON object");
  cmd->callback([&ctx, opts, bs, size, runtime, json] {
    auto b = ParseSize(*bs);
    auto s = ParseSize(*size);
    if (!b.ok() || !s.ok()) {
      std::cerr << "bench usrbio: bad --bs or --size" << std::endl;
      ctx.exit_code = kExitUsage;
      return;
    }
    opts->bs = *b;
    opts->size = *s;
    opts->runtime = std::chrono::milliseconds(static_cast<int64_t>(*runtime * 1000));
    auto r = RunUsrbioBench(*opts);
    if (r.contains("error")) {
      if (*json) std::cout << r.dump() << std::endl;
      std::cerr << "bench usrbio: " << r["error"].get<std::string>() << std::endl;
      ctx.exit_code = kExitFailure;
      return;
    }
    if (*json) {
      std::cout << r.dump() << std::endl;
    } else {
      std::cout << opts->rw << " bs=" << opts->bs << " iodepth=" << opts->iodepth
                << " numjobs=" << opts->numjobs << ": " << r["mib_s"] << " MiB/s, "
                << r["iops"] << " IOPS, p50 " << r["lat_p50_us"] << " us, p99 "
                << r["lat_p99_us"] << " us, errors " << r["errors"] << std::endl;
    }
    ctx.exit_code = r["errors"].get<uint64_t>() == 0 ? kExitOk : kExitFailure;
  });
}

}  // namespace

void AddBenchCommands(CLI::App& app, CliContext& ctx) {
  auto* bench =
      app.add_subcommand("bench", "built-in benchmarks (print numbers; --json for scripts)");
  bench->require_subcommand(1);
  AddRpcBench(*bench, ctx);
  AddRpcServer(*bench, ctx);
  AddKvBench(*bench, ctx);
  AddStorageBench(*bench, ctx);
  AddMetaBench(*bench, ctx);
  AddUsrbioBench(*bench, ctx);
}

}  // namespace hf3fs::bench
