#include "bench/storage_bench.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <future>
#include <random>
#include <thread>

#include "bench/rpc_bench.h"
#include "chunk/chunk_id.h"
#include "client/mgmtd_client.h"
#include "client/storage_client.h"
#include "common/logging.h"
#include "local/local_cluster.h"
#include "net/io_context_pool.h"
#include "net/rpc_config.h"

namespace hf3fs::bench {

namespace fs = std::filesystem;
namespace asio = boost::asio;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint64_t kBenchInode = 0xbe0c4;

double Secs(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

double Round1(double v) { return std::round(v * 10) / 10; }

json Workload(double seq_write, double seq_read, double iops_4k, double mib_128k) {
  return {{"seq_write_mib_s", Round1(seq_write)},
          {"seq_read_mib_s", Round1(seq_read)},
          {"randread_4k_iops", std::round(iops_4k)},
          {"randread_128k_mib_s", Round1(mib_128k)}};
}

// Runs `jobs` coroutines `fn(job)` spread over the pool and waits for all; the first failure.
template <typename Fn>
Status RunJobs(net::IoContextPool& pool, uint32_t jobs, Fn fn) {
  std::vector<std::future<Status>> done;
  for (uint32_t j = 0; j < jobs; ++j) {
    auto p = std::make_shared<std::promise<Status>>();
    done.push_back(p->get_future());
    asio::co_spawn(pool.Get(j), fn(j), [p](std::exception_ptr e, Status st) {
      p->set_value(e ? Status(StatusCode::kInternal, "benchmark job threw") : st);
    });
  }
  Status first;
  for (auto& f : done) {
    Status st = f.get();
    if (first.ok() && !st.ok()) first = st;
  }
  return first;
}

struct ClusterResult {
  json workload;
  uint32_t replicas = 0;
};

// `key_file`: the key to authenticate with (empty: $HF3FS_KEY_FILE).
Result<ClusterResult> MeasureCluster(const std::string& mgmtd_addr, const StorageBenchOptions& o,
                                     const std::string& key_file = "") {
  struct Cfg : config::Section {
    net::RpcConfig rpc{this, "rpc"};
  } cfg;
  // No busy polling: the client shares the machine's cores with the servers it measures.
  (void)cfg.rpc.busy_poll.Set(Duration::zero());
  if (auto k = net::LoadProcessKeyring(cfg.rpc, key_file); !k.ok()) return k.status();
  net::IoContextPool pool(2, "bench");
  pool.Start();
  auto addr = net::Address::Parse(mgmtd_addr);
  if (!addr.ok()) return addr.status();
  net::RpcClient rpc(pool, cfg.rpc, 0xbe0c);
  client::MgmtdClient mgmtd(rpc, {*addr});
  client::RoutingCache routing(mgmtd, pool.Get(0), std::chrono::seconds(1));
  routing.Start();
  client::StorageClient sc(rpc, routing, 0xbe0c);
  auto stop = [&] {
    routing.Stop();
    pool.Stop();
  };
  std::promise<Status> ready;
  asio::co_spawn(pool.Get(0), routing.Refresh(),
                 [&](std::exception_ptr, Status st) { ready.set_value(st); });
  if (Status st = ready.get_future().get(); !st.ok()) {
    stop();
    return st;
  }
  std::vector<ChainId> chains;
  uint32_t replicas = 0;
  for (const auto& c : routing.View()->info().chains()) {
    chains.emplace_back(c.chain_id());
    replicas = std::max<uint32_t>(replicas, c.targets_size());
  }
  if (chains.empty()) {
    stop();
    return Status(StatusCode::kFailedPrecondition, "the cluster has no chains");
  }
  const uint64_t nchunks = std::max<uint64_t>(1, o.size_bytes / o.chunk_bytes);
  auto chain_of = [&](uint64_t i) { return chains[i % chains.size()]; };
  auto id_of = [](uint64_t i) { return chunk::MakeChunkId(InodeId(kBenchInode), i).bytes(); };
  std::vector<uint8_t> data(o.chunk_bytes);
  std::mt19937_64 rng(42);
  for (auto& b : data) b = static_cast<uint8_t>(rng());

  std::atomic<uint64_t> next{0};
  auto t0 = Clock::now();
  Status st = RunJobs(pool, o.jobs, [&](uint32_t) -> net::awaitable<Status> {
    for (uint64_t i; (i = next++) < nchunks;) {
      auto r = co_await sc.Write(chain_of(i), id_of(i), o.chunk_bytes, 0, data);
      if (!r.ok()) co_return r.status();
    }
    co_return Status::Ok();
  });
  double seq_write = nchunks * double(o.chunk_bytes) / (1 << 20) / Secs(t0);
  if (!st.ok()) {
    stop();
    return st.WithContext("sequential write");
  }
  next = 0;
  t0 = Clock::now();
  st = RunJobs(pool, o.jobs, [&](uint32_t) -> net::awaitable<Status> {
    std::vector<uint8_t> buf(o.chunk_bytes);
    for (uint64_t i; (i = next++) < nchunks;) {
      client::ReadOp op{chain_of(i), id_of(i), 0, buf};
      HF3FS_CO_TRY(co_await sc.Read(std::span<client::ReadOp>(&op, 1)));
      if (op.bytes != o.chunk_bytes) co_return Status(StatusCode::kInternal, "short read");
    }
    co_return Status::Ok();
  });
  double seq_read = nchunks * double(o.chunk_bytes) / (1 << 20) / Secs(t0);
  if (!st.ok()) {
    stop();
    return st.WithContext("sequential read");
  }
  auto random = [&](uint32_t bs, uint64_t* ios) -> Status {
    std::atomic<uint64_t> count{0};
    auto end = Clock::now() + o.random_duration;
    Status s = RunJobs(pool, o.jobs, [&](uint32_t job) -> net::awaitable<Status> {
      std::mt19937_64 r(job + bs);
      std::vector<uint8_t> buf(bs);
      while (Clock::now() < end) {
        uint64_t i = r() % nchunks;
        uint32_t off = (r() % (o.chunk_bytes / bs)) * bs;
        client::ReadOp op{chain_of(i), id_of(i), off, buf};
        HF3FS_CO_TRY(co_await sc.Read(std::span<client::ReadOp>(&op, 1)));
        count++;
      }
      co_return Status::Ok();
    });
    *ios = count;
    return s;
  };
  uint64_t ios4k = 0, ios128k = 0;
  t0 = Clock::now();
  st = random(4096, &ios4k);
  double iops_4k = ios4k / Secs(t0);
  t0 = Clock::now();
  if (st.ok()) st = random(128 << 10, &ios128k);
  double mib_128k = ios128k * (128.0 / 1024) / Secs(t0);
  stop();
  if (!st.ok()) return st.WithContext("random read");
  return ClusterResult{Workload(seq_write, seq_read, iops_4k, mib_128k), replicas};
}

// O_DIRECT on a file in `dir`: 1 MiB writes each followed by fdatasync (an acknowledged storage
// write is durable), 1 MiB sequential reads, random 4 KiB and 128 KiB reads, `jobs` threads.
Result<json> MeasureRawDisk(const std::string& dir, const StorageBenchOptions& o) {
  auto path = (fs::path(dir) / "raw_disk.dat").string();
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0644);
  if (fd < 0)
    return MakeStatus(StatusCode::kIoError, "open {} O_DIRECT: {}", path, strerror(errno));
  const uint64_t nblocks = std::max<uint64_t>(1, o.size_bytes / o.chunk_bytes);
  if (fallocate(fd, 0, 0, nblocks * o.chunk_bytes) != 0) {
    close(fd);
    return MakeStatus(StatusCode::kIoError, "fallocate {}: {}", path, strerror(errno));
  }
  std::atomic<bool> failed{false};
  auto threads = [&](auto body) {
    std::vector<std::thread> ts;
    for (uint32_t j = 0; j < o.jobs; ++j) ts.emplace_back([&, j] { body(j); });
    for (auto& t : ts) t.join();
  };
  auto aligned = [&](size_t n) {
    void* p = nullptr;
    if (posix_memalign(&p, 4096, n) != 0)
      return std::unique_ptr<uint8_t, decltype(&free)>(nullptr, free);
    std::memset(p, 0x5a, n);
    return std::unique_ptr<uint8_t, decltype(&free)>(static_cast<uint8_t*>(p), free);
  };
  std::atomic<uint64_t> next{0};
  auto t0 = Clock::now();
  threads([&](uint32_t) {
    auto buf = aligned(o.chunk_bytes);
    for (uint64_t i; (i = next++) < nblocks;) {
      if (pwrite(fd, buf.get(), o.chunk_bytes, i * o.chunk_bytes) != ssize_t(o.chunk_bytes) ||
          fdatasync(fd) != 0) {
        failed = true;
      }
    }
  });
  double seq_write = nblocks * double(o.chunk_bytes) / (1 << 20) / Secs(t0);
  next = 0;
  t0 = Clock::now();
  threads([&](uint32_t) {
    auto buf = aligned(o.chunk_bytes);
    for (uint64_t i; (i = next++) < nblocks;) {
      if (pread(fd, buf.get(), o.chunk_bytes, i * o.chunk_bytes) != ssize_t(o.chunk_bytes)) {
        failed = true;
      }
    }
  });
  double seq_read = nblocks * double(o.chunk_bytes) / (1 << 20) / Secs(t0);
  auto random = [&](uint32_t bs) {
    std::atomic<uint64_t> count{0};
    auto end = Clock::now() + o.random_duration;
    auto start = Clock::now();
    threads([&](uint32_t j) {
      std::mt19937_64 r(j + bs);
      auto buf = aligned(bs);
      uint64_t blocks = nblocks * o.chunk_bytes / bs;
      while (Clock::now() < end) {
        if (pread(fd, buf.get(), bs, (r() % blocks) * bs) != ssize_t(bs)) failed = true;
        count++;
      }
    });
    return count / Secs(start);
  };
  double iops_4k = random(4096);
  double mib_128k = random(128 << 10) * 128.0 / 1024;
  close(fd);
  unlink(path.c_str());
  if (failed) return MakeStatus(StatusCode::kIoError, "raw disk I/O failed on {}", path);
  return Workload(seq_write, seq_read, iops_4k, mib_128k);
}

Result<json> StartAndMeasure(const StorageBenchOptions& o, uint32_t replicas) {
  local::LocalClusterOptions lo;
  lo.dir = (fs::path(o.dir) / ("r" + std::to_string(replicas))).string();
  lo.binary = o.binary;
  lo.storage_nodes = o.storage_nodes;
  lo.replicas = replicas;
  lo.targets_per_disk = replicas == 1 ? 2 : 2 * replicas;
  lo.storage_args = {"--config.chunk_engine.low_space_threshold_bytes=0",
                     "--config.chunk_engine.low_space_threshold_percent=0"};
  lo.storage_args.insert(lo.storage_args.end(), o.storage_args.begin(), o.storage_args.end());
  std::error_code ec;
  fs::remove_all(lo.dir, ec);
  HF3FS_TRY_ASSIGN(auto cluster, local::LocalCluster::Open(lo));
  if (Status st = cluster->Up(std::chrono::seconds(120)); !st.ok()) {
    return st.WithContext("start a local cluster in " + lo.dir + " (logs in " + lo.dir + "/logs)");
  }
  auto r = MeasureCluster(cluster->mgmtd_address(), o, cluster->key_path("admin.key"));
  cluster->StopAll();
  if (!r.ok()) return r.status();
  fs::remove_all(lo.dir, ec);
  return r->workload;
}

}  // namespace

json RunStorageBench(const StorageBenchOptions& o) {
  if (!o.mgmtd.empty()) {
    auto r = MeasureCluster(o.mgmtd, o);
    if (!r.ok()) return {{"error", r.status().ToString()}};
    return {{"cluster", r->workload}, {"replicas", r->replicas}};
  }
  std::error_code ec;
  fs::create_directories(o.dir, ec);
  json out;
  for (uint32_t replicas : o.replicas) {
    if (replicas == 0 || replicas > o.storage_nodes) {
      return {{"error", fmt::format("--replicas {} needs 1..{} (the storage nodes)", replicas,
                                    o.storage_nodes)}};
    }
    auto r = StartAndMeasure(o, replicas);
    if (!r.ok()) return {{"error", r.status().ToString()}};
    out["r" + std::to_string(replicas)] = *r;
  }
  auto raw = MeasureRawDisk(o.dir, o);
  if (!raw.ok()) return {{"error", raw.status().ToString()}};
  out["raw_disk"] = *raw;
  out["raw_tcp_mib_s"] = std::round(RawTcpMibPerSecond(std::chrono::milliseconds(3000), 1 << 20));
  out["config"] = {{"size_bytes", o.size_bytes},
                   {"chunk_bytes", o.chunk_bytes},
                   {"jobs", o.jobs},
                   {"storage_nodes", o.storage_nodes},
                   {"random_seconds", o.random_duration.count() / 1000.0},
                   {"raw_disk_writes", "O_DIRECT, fdatasync after each write"}};
  return out;
}

}  // namespace hf3fs::bench
