// `hf3fs bench rpc`: RPC throughput on loopback, measured against raw TCP in the same run.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "net/service.h"

namespace hf3fs::bench {

struct RpcBenchOptions {
  std::chrono::milliseconds phase_duration{3000};  // per measurement
  int pipeline_depth = 64;
  int bulk_inflight = 4;
  size_t bulk_bytes = 1 << 20;
  std::chrono::microseconds busy_poll{50};  // rpc.busy_poll of both io threads
  std::string connect;  // "host:port" of a running `hf3fs bench rpc-server`; empty: in-process
};

// The benchmark's own service (ping and sink), also served by `hf3fs bench rpc-server`.
void RegisterBenchService(net::ServiceRegistry& registry);

// Runs an in-process server (1 io thread) and client (1 io thread) on 127.0.0.1 (or a client
// against options.connect, without the raw TCP figure) and returns
// {"small_rpc_per_s", "small_rpc_p50_us", "small_rpc_p99_us", "pipelined_rpc_per_s",
//  "bulk_mib_s", "raw_tcp_mib_s", "bulk_vs_raw"}.
nlohmann::json RunRpcBench(const RpcBenchOptions& options);

// Plain blocking sockets on 127.0.0.1 for `dur`: one thread sends `bytes`-sized writes, one
// receives. The best the loopback socket allows, as a baseline.
double RawTcpMibPerSecond(std::chrono::milliseconds dur, size_t bytes);

}  // namespace hf3fs::bench
