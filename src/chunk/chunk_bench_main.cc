// chunk_bench: throughput of the chunk engine next to raw O_DIRECT I/O on the same directory.
//
//   chunk_bench [--dir DIR] [--seconds S] [--threads N] [--sync-mode fdatasync|dsync]
//               [--io-uring 1|0]
//
// Phases (each S seconds, N threads, every op durable before the next):
//   raw_write_1m        pwrite 1 MiB (O_DIRECT) + fdatasync, sequential per thread
//   engine_write_1m     Write a new 1 MiB chunk + Commit (copy-on-write path, fresh slot)
//   engine_append_1m    append 1 MiB to 64 MiB chunks + Commit (in-place path)
//   engine_overwrite_1m overwrite a whole committed 1 MiB chunk + Commit (copy-on-write)
//   raw_randread_4k     pread 4 KiB (O_DIRECT) at random aligned offsets of the raw file
//   engine_randread_4k  Read 4 KiB at random offsets of random chunks written above
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "chunk/chunk_engine.h"
#include "common/logging.h"

namespace hf3fs::chunk {
namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string dir = "/tmp/hf3fs_chunk_bench";
  double seconds = 3;
  int threads = 1;
  std::string sync_mode = "fdatasync";
  bool io_uring = true;
  std::string phases = "all";
};

struct PhaseResult {
  uint64_t ops = 0;
  std::vector<double> latencies_us;
};

// Runs fn(thread, op index) on `threads` threads for `seconds`; prints one result line.
void RunPhase(const std::string& name, const Args& a, uint64_t bytes_per_op,
              const std::function<bool(int, uint64_t)>& fn) {
  std::vector<PhaseResult> results(a.threads);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (int t = 0; t < a.threads; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        auto t0 = Clock::now();
        if (!fn(t, i)) break;
        results[t].latencies_us.push_back(
            std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
        ++results[t].ops;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(a.seconds));
  stop = true;
  for (auto& th : threads) th.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  uint64_t ops = 0;
  for (auto& r : results) {
    ops += r.ops;
    all.insert(all.end(), r.latencies_us.begin(), r.latencies_us.end());
  }
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) { return all.empty() ? 0.0 : all[size_t(p * (all.size() - 1))]; };
  std::printf("%-20s threads=%d sync=%s ops/s=%.0f MiB/s=%.1f p50_us=%.0f p99_us=%.0f\n",
              name.c_str(), a.threads, a.sync_mode.c_str(), ops / elapsed,
              ops * bytes_per_op / elapsed / (1 << 20), pct(0.5), pct(0.99));
  std::fflush(stdout);
}

int Main(const Args& a) {
  std::error_code ec;
  std::filesystem::remove_all(a.dir, ec);
  std::filesystem::create_directories(a.dir);
  constexpr size_t kMiB = 1 << 20;
  AlignedBuffer buf(kMiB);
  std::mt19937_64 fill(1);
  for (size_t i = 0; i < kMiB; ++i) buf.data()[i] = static_cast<uint8_t>(fill());
  std::span<const uint8_t> payload(buf.data(), kMiB);

  // Raw O_DIRECT baseline on a preallocated file.
  const uint64_t raw_bytes = 512ull * kMiB;
  std::string raw_path = a.dir + "/raw";
  int flags = O_RDWR | O_CREAT | O_DIRECT | (a.sync_mode == "dsync" ? O_DSYNC : 0);
  int fd = ::open(raw_path.c_str(), flags, 0644);
  if (fd < 0 || ::fallocate(fd, 0, 0, raw_bytes) != 0) {
    std::perror("raw file");
    return 1;
  }
  RunPhase("raw_write_1m", a, kMiB, [&](int t, uint64_t i) {
    uint64_t slots = raw_bytes / kMiB / a.threads;
    off_t off = static_cast<off_t>((t * slots + i % slots) * kMiB);
    if (::pwrite(fd, buf.data(), kMiB, off) != static_cast<ssize_t>(kMiB)) return false;
    return a.sync_mode == "dsync" || ::fdatasync(fd) == 0;
  });

  ChunkEngineOptions o;
  o.io.dsync = a.sync_mode == "dsync";
  o.io.use_io_uring = a.io_uring;
  o.low_space_threshold_bytes = 0;
  auto opened = ChunkEngine::Open(a.dir + "/engine", o);
  if (!opened.ok()) {
    std::fprintf(stderr, "open: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  ChunkEngine& e = **opened;
  const TargetId target(1);
  std::vector<uint64_t> written(a.threads, 0);
  auto commit = [&](const ChunkId& id, const Result<ChunkMeta>& w) {
    if (!w.ok()) {
      std::fprintf(stderr, "write: %s\n", w.status().ToString().c_str());
      return false;
    }
    return e.Commit(target, id, w->update_version(), {}).ok();
  };
  RunPhase("engine_write_1m", a, kMiB, [&](int t, uint64_t i) {
    ChunkId id = MakeChunkId(InodeId(1000 + t), i);
    UpdateOptions u;
    u.update_version = 1;
    written[t] = i + 1;
    return commit(id, e.Write(target, id, kMiB, 0, payload, u));
  });
  RunPhase("engine_append_1m", a, kMiB, [&](int t, uint64_t i) {
    ChunkId id = MakeChunkId(InodeId(2000 + t), i / 64);
    UpdateOptions u;
    u.update_version = i % 64 + 1;
    return commit(id, e.Write(target, id, 64 * kMiB, (i % 64) * kMiB, payload, u));
  });
  RunPhase("engine_overwrite_1m", a, kMiB, [&](int t, uint64_t i) {
    ChunkId id = MakeChunkId(InodeId(1000 + t), i % std::max<uint64_t>(written[t], 1));
    auto meta = e.GetMeta(target, id);
    if (!meta.ok()) return false;
    UpdateOptions u;
    u.update_version = meta->commit_version() + 1;
    return commit(id, e.Write(target, id, kMiB, 0, payload, u));
  });

  std::vector<std::mt19937_64> rngs;
  for (int t = 0; t < a.threads; ++t) rngs.emplace_back(t + 7);
  RunPhase("raw_randread_4k", a, 4096, [&](int t, uint64_t) {
    off_t off = static_cast<off_t>(rngs[t]() % (raw_bytes / 4096) * 4096);
    AlignedBuffer b(4096);
    return ::pread(fd, b.data(), 4096, off) == 4096;
  });
  RunPhase("engine_randread_4k", a, 4096, [&](int t, uint64_t) {
    int owner = static_cast<int>(rngs[t]() % a.threads);
    ChunkId id =
        MakeChunkId(InodeId(1000 + owner), rngs[t]() % std::max<uint64_t>(written[owner], 1));
    AlignedBuffer b(4096);
    return e.Read(target, id, static_cast<uint32_t>(rngs[t]() % 256 * 4096), b.span()).ok();
  });
  ::close(fd);
  opened->reset();
  std::filesystem::remove_all(a.dir, ec);
  return 0;
}

}  // namespace
}  // namespace hf3fs::chunk

int main(int argc, char** argv) {
  hf3fs::chunk::Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--dir")
      a.dir = argv[i + 1];
    else if (k == "--seconds")
      a.seconds = std::atof(argv[i + 1]);
    else if (k == "--threads")
      a.threads = std::max(1, std::atoi(argv[i + 1]));
    else if (k == "--sync-mode")
      a.sync_mode = argv[i + 1];
    else if (k == "--io-uring")
      a.io_uring = std::string(argv[i + 1]) != "0";
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 1;
    }
  }
  (void)hf3fs::logging::SetLevel("warn");
  return hf3fs::chunk::Main(a);
}
