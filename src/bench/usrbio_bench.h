// `hf3fs bench usrbio`: fio-like load through the native client API (libhf3fs_usrbio) of a
// mounted hf3fs, so its figures stand beside fio's on the same mount and file.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

namespace hf3fs::bench {

struct UsrbioBenchOptions {
  std::string mount;  // empty: the mount that holds `file`
  std::string file;
  std::string rw = "randread";  // read | randread | write | randwrite
  uint64_t bs = 4096;
  uint32_t iodepth = 32;  // I/Os in flight per job
  uint32_t numjobs = 1;   // threads, each with its own ring and buffer, all on `file`
  uint64_t size = 1ull << 30;  // bytes of the file each job covers (reads: laid out first)
  std::chrono::milliseconds runtime{10000};  // a job stops at `size` bytes or after this
};

// {"rw", "bs", "iodepth", "numjobs", "bytes", "seconds", "mib_s", "iops", "lat_p50_us",
// "lat_p99_us", "errors"}, or {"error": message}.
nlohmann::json RunUsrbioBench(const UsrbioBenchOptions& options);

}  // namespace hf3fs::bench
