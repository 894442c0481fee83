// `hf3fs bench storage`: chunk I/O through the storage service next to the raw disk and raw
// loopback TCP, measured in the same run.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace hf3fs::bench {

struct StorageBenchOptions {
  std::string dir;     // where started clusters and the raw-disk file live
  std::string mgmtd;   // a running cluster's mgmtd ("host:port"); empty: start clusters
  std::string binary;  // hf3fs binary for started clusters
  uint64_t size_bytes = 1ull << 30;  // data written and read sequentially per cluster
  uint32_t chunk_bytes = 1u << 20;
  uint32_t jobs = 16;                               // I/Os in flight
  std::chrono::milliseconds random_duration{5000};  // per random-read measurement
  uint32_t storage_nodes = 3;
  std::vector<uint32_t> replicas = {1, 3};  // one started cluster per value
  std::vector<std::string> storage_args;    // extra --config overrides for started storage nodes
};

// Returns {"r1": W, "r3": W, "raw_disk": W, "raw_tcp_mib_s": X} (started clusters) or
// {"cluster": W, "replicas": R} (a running one), W = {"seq_write_mib_s", "seq_read_mib_s",
// "randread_4k_iops", "randread_128k_mib_s"}; or {"error": ...}.
nlohmann::json RunStorageBench(const StorageBenchOptions& options);

}  // namespace hf3fs::bench
