// Configuration of `hf3fs storage`: the server sections plus [storage] and [chunk_engine].
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "chunk/chunk_engine_config.h"
#include "net/server_command.h"

namespace hf3fs::storage {

using namespace std::chrono_literals;

struct StorageSection : config::Section {
  using Section::Section;
  config::Item<uint32_t> node_id{this, "node_id", 0,
                                 "this storage node's id, as registered with mgmtd (required)"};
  config::Item<std::vector<std::string>> disks{
      this,
      "disks",
      {},
      "one directory per disk; targets name their disk by its index in this list (required)"};
  config::Item<std::vector<std::string>> mgmtd{
      this, "mgmtd", {"127.0.0.1:8000"}, "mgmtd addresses (host:port)"};
  config::Item<std::string> cluster_id{this, "cluster_id", "",
                                       "the cluster this node belongs to (empty: not checked)"};
  config::Item<std::string> advertise_address{
      this, "advertise_address", "",
      "address other processes reach this node at (default: the RPC listen address)"};
  config::Item<Duration> heartbeat_interval{
      this, "heartbeat_interval", 1s, "how often heartbeats go to mgmtd", {.min = Duration(10ms)}};
  config::Item<Duration> routing_refresh_interval{
      this,
      "routing_refresh_interval",
      1s,
      "how often routing info is fetched (also on every version change seen in heartbeats)",
      {.min = Duration(10ms)}};
  config::Item<uint32_t> io_threads{
      this, "io_threads", 8, "threads doing chunk engine calls (disk I/O)", {.min = 1, .max = 256}};
  config::Item<Duration> forward_timeout{
      this,
      "forward_timeout",
      30s,
      "how long an update keeps retrying its forward to the successor before failing",
      {.min = Duration(10ms), .hot = true}};
  config::Item<Duration> forward_retry_min{this,
                                           "forward_retry_min",
                                           20ms,
                                           "first backoff between forward attempts",
                                           {.min = Duration(1ms), .hot = true}};
  config::Item<Duration> forward_retry_max{this,
                                           "forward_retry_max",
                                           1s,
                                           "longest backoff between forward attempts",
                                           {.min = Duration(1ms), .hot = true}};
  config::Item<Duration> forward_rpc_timeout{this,
                                             "forward_rpc_timeout",
                                             10s,
                                             "deadline of one forward RPC",
                                             {.min = Duration(10ms), .hot = true}};
  config::Item<Duration> resync_interval{this,
                                         "resync_interval",
                                         500ms,
                                         "how often syncing successors are looked for",
                                         {.min = Duration(10ms), .hot = true}};
  config::Item<uint32_t> max_concurrent_resyncs{this,
                                                "max_concurrent_resyncs",
                                                4,
                                                "resyncs this node drives at once",
                                                {.min = 1, .max = 1024}};
  config::Item<Duration> maintenance_interval{
      this,
      "maintenance_interval",
      5s,
      "how often disk space is sampled (for heartbeats) and sparse groups are compacted",
      {.min = Duration(10ms), .hot = true}};
  config::Item<uint32_t> compact_moves{this,
                                       "compact_moves",
                                       256,
                                       "chunks one compaction round may move per disk (0: off)",
                                       {.max = 1024, .hot = true}};
  config::Item<uint32_t> max_channels{this,
                                      "max_channels",
                                      1u << 18,
                                      "update channels remembered for exactly-once retries "
                                      "(about 200 bytes each)",
                                      {.min = 16}};
  config::Item<uint32_t> max_read_batch{this,
                                        "max_read_batch",
                                        4096,
                                        "chunk reads accepted in one batch read",
                                        {.min = 1, .max = 1u << 20}};
  config::Item<uint64_t> max_read_batch_bytes{this,
                                              "max_read_batch_bytes",
                                              64ull << 20,
                                              "bytes one batch read may return (the answer "
                                              "must fit in one frame: keep it below "
                                              "rpc.max_frame_bytes)",
                                              {.min = 4096, .size = true}};
};

struct StorageConfig : net::ServerConfigBase {
  StorageConfig() : ServerConfigBase("hf3fs storage", "127.0.0.1:9000", "127.0.0.1:9001") {}
  StorageSection storage{this, "storage", "storage node"};
  chunk::ChunkEngineConfig chunk_engine{this, "chunk_engine", "per-disk chunk engine"};
};

}  // namespace hf3fs::storage
