#include "bench/usrbio_bench.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "usrbio/hf3fs_usrbio.h"

namespace hf3fs::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct JobResult {
  uint64_t bytes = 0;
  uint64_t ios = 0;
  uint64_t errors = 0;
  std::string error;                 // first error
  std::vector<uint32_t> lat_us;      // per completed I/O
};

// One job: a ring and a buffer of iodepth * bs, keeping iodepth I/Os in flight on `fd`.
void RunJob(const UsrbioBenchOptions& o, const std::string& mount, int fd, bool read, bool random,
            uint64_t span, uint32_t seed, JobResult& out) {
  hf3fs_iov iov;
  hf3fs_ior ior;
  int rc = hf3fs_iovcreate(&iov, mount.c_str(), o.bs * o.iodepth, 0, -1);
  if (rc != 0) {
    out.error = fmt::format("hf3fs_iovcreate: {}", strerror(-rc));
    return;
  }
  hf3fs_iovunlink(&iov);
  rc = hf3fs_iorcreate4(&ior, mount.c_str(), static_cast<int>(o.iodepth), read, 0,
                        HF3FS_IOR_PRIO_NORMAL, 0, -1, 0);
  if (rc != 0) {
    out.error = fmt::format("hf3fs_iorcreate4: {}", strerror(-rc));
    hf3fs_iovdestroy(&iov);
    return;
  }
  if (!read) std::memset(iov.base, 0x5a, iov.size);
  std::mt19937_64 rng(seed);
  uint64_t blocks = std::max<uint64_t>(span / o.bs, 1);
  uint64_t next_seq = 0;
  uint64_t issued_bytes = 0;
  auto start = Clock::now();
  auto deadline = start + o.runtime;
  std::vector<Clock::time_point> started(o.iodepth);
  std::vector<uint32_t> free_slots;
  for (uint32_t i = 0; i < o.iodepth; ++i) free_slots.push_back(i);
  uint32_t inflight = 0;
  std::vector<hf3fs_cqe> cqes(o.iodepth);
  out.lat_us.reserve(1 << 16);
  bool stop = false;  // after the first error
  for (;;) {
    bool more = !stop && Clock::now() < deadline && issued_bytes < o.size;
    uint32_t prepared = 0;
    while (more && !free_slots.empty() && issued_bytes < o.size) {
      uint32_t slot = free_slots.back();
      uint64_t block = random ? rng() % blocks : next_seq++ % blocks;
      int idx = hf3fs_prep_io(&ior, &iov, read, iov.base + uint64_t{slot} * o.bs, fd,
                              block * o.bs, o.bs, reinterpret_cast<void*>(uintptr_t{slot}));
      if (idx < 0) {
        out.error = fmt::format("hf3fs_prep_io: {}", strerror(-idx));
        stop = true;
        break;
      }
      free_slots.pop_back();
      started[slot] = Clock::now();
      issued_bytes += o.bs;
      ++prepared;
      ++inflight;
    }
    if (prepared) hf3fs_submit_ios(&ior);
    if (inflight == 0) break;
    int n = hf3fs_wait_for_ios(&ior, cqes.data(), static_cast<int>(cqes.size()), 1, nullptr);
    auto now = Clock::now();
    for (int i = 0; i < n; ++i) {
      auto slot = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(cqes[i].userdata));
      --inflight;
      free_slots.push_back(slot);
      if (cqes[i].result < 0) {
        ++out.errors;
        if (out.error.empty()) out.error = fmt::format("I/O failed: {}", strerror(-cqes[i].result));
        continue;
      }
      out.bytes += static_cast<uint64_t>(cqes[i].result);
      ++out.ios;
      out.lat_us.push_back(static_cast<uint32_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(now - started[slot]).count()));
    }
    if (out.errors > 0) stop = true;
  }
  hf3fs_iordestroy(&ior);
  hf3fs_iovdestroy(&iov);
}

}  // namespace

nlohmann::json RunUsrbioBench(const UsrbioBenchOptions& o) {
  bool read = o.rw == "read" || o.rw == "randread";
  bool random = o.rw == "randread" || o.rw == "randwrite";
  if (!read && o.rw != "write" && o.rw != "randwrite") {
    return {{"error", "--rw must be read, randread, write or randwrite"}};
  }
  if (o.bs == 0 || o.bs > HF3FS_IO_MAX_BYTES || o.iodepth == 0 || o.numjobs == 0 ||
      o.size < o.bs) {
    return {{"error", "need bs > 0, iodepth > 0, numjobs > 0 and size >= bs"}};
  }
  std::string mount = o.mount;
  if (mount.empty()) {
    char mp[4096];
    int rc = hf3fs_extract_mount_point(mp, sizeof(mp), o.file.c_str());
    if (rc < 0) return {{"error", fmt::format("{} is not on an hf3fs mount", o.file)}};
    mount = mp;
  }
  int fd = open(o.file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return {{"error", fmt::format("open {}: {}", o.file, strerror(errno))}};
  if (!hf3fs_is_hf3fs(fd)) {
    close(fd);
    return {{"error", fmt::format("{} is not on an hf3fs mount", o.file)}};
  }
  int rc = hf3fs_reg_fd(fd, 0);
  if (rc != 0) {
    close(fd);
    return {{"error", fmt::format("hf3fs_reg_fd: {}", strerror(-rc))}};
  }
  struct stat st;
  fstat(fd, &st);
  nlohmann::json result;
  if (read && static_cast<uint64_t>(st.st_size) < o.size) {
    // Lay the file out first (as fio does), sequentially through the same API.
    UsrbioBenchOptions w = o;
    w.rw = "write";
    w.numjobs = 1;
    w.runtime = std::chrono::hours(1);
    JobResult lay;
    RunJob(w, mount, fd, false, false, o.size, 1, lay);
    if (!lay.error.empty()) {
      hf3fs_dereg_fd(fd);
      close(fd);
      return {{"error", "laying out the file: " + lay.error}};
    }
    fsync(fd);
  }
  std::vector<JobResult> jobs(o.numjobs);
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (uint32_t j = 0; j < o.numjobs; ++j) {
    threads.emplace_back([&, j] { RunJob(o, mount, fd, read, random, o.size, 1000 + j, jobs[j]); });
  }
  for (auto& t : threads) t.join();
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  hf3fs_dereg_fd(fd);
  close(fd);
  uint64_t bytes = 0, ios = 0, errors = 0;
  std::vector<uint32_t> lat;
  std::string error;
  for (auto& j : jobs) {
    bytes += j.bytes;
    ios += j.ios;
    errors += j.errors;
    lat.insert(lat.end(), j.lat_us.begin(), j.lat_us.end());
    if (error.empty()) error = j.error;
  }
  auto pct = [&lat](double p) -> uint64_t {
    if (lat.empty()) return 0;
    size_t k = std::min(lat.size() - 1, static_cast<size_t>(p * static_cast<double>(lat.size())));
    std::nth_element(lat.begin(), lat.begin() + static_cast<std::ptrdiff_t>(k), lat.end());
    return lat[k];
  };
  result = {{"rw", o.rw},
            {"bs", o.bs},
            {"iodepth", o.iodepth},
            {"numjobs", o.numjobs},
            {"bytes", bytes},
            {"seconds", seconds},
            {"mib_s", seconds > 0 ? static_cast<double>(bytes) / (1 << 20) / seconds : 0.0},
            {"iops", seconds > 0 ? static_cast<double>(ios) / seconds : 0.0},
            {"lat_p50_us", pct(0.50)},
            {"lat_p99_us", pct(0.99)},
            {"errors", errors}};
  if (!error.empty()) result["first_error"] = error;
  if (ios == 0 && !error.empty()) return {{"error", error}};
  return result;
}

}  // namespace hf3fs::bench
