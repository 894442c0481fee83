// Configuration of `hf3fs meta`: the server sections plus [meta] and [kv].
#pragma once

#include <chrono>

#include "kv/kv_config.h"
#include "net/server_command.h"

namespace hf3fs::meta {

using namespace std::chrono_literals;

struct MetaSection : config::Section {
  using Section::Section;
  config::Item<uint32_t> node_id{this, "node_id", 0,
                                 "this meta server's node id as registered with mgmtd (0: do not "
                                 "heartbeat)"};
  config::Item<std::vector<std::string>> mgmtd{
      this, "mgmtd", {},
      "mgmtd addresses (host:port); empty: run without mgmtd, and so without storage access (chunks "
      "are then neither deleted nor truncated, and statfs reports zeros)"};
  config::Item<std::string> cluster_id{this, "cluster_id", "", "cluster id sent in heartbeats"};
  config::Item<std::string> advertise_address{
      this, "advertise_address", "",
      "address clients reach this server at (default: the RPC listen address)"};
  config::Item<Duration> routing_refresh_interval{
      this,
      "routing_refresh_interval",
      1s,
      "how often routing info (chains, chain tables, target space) is fetched from mgmtd",
      {.min = Duration(10ms)}};
  config::Item<Duration> heartbeat_interval{
      this, "heartbeat_interval", 1s, "how often heartbeats go to mgmtd", {.min = Duration(10ms)}};
  config::Item<uint32_t> offload_threads{
      this, "offload_threads", 8, "threads running KV transactions", {.min = 1, .max = 256}};
  config::Item<bool> inline_ops{
      this, "inline_ops", true,
      "with an embedded KV store (memory, or rocksdb in window durability) run short operations "
      "on the io thread that received them instead of handing them to the offload threads"};
  config::Item<Duration> gc_delay{this,
                                  "gc_delay",
                                  5min,
                                  "removed files and directories are deleted after this long",
                                  {.hot = true}};
  config::Item<Duration> gc_interval{this,
                                     "gc_interval",
                                     1s,
                                     "how often the GC queue is scanned",
                                     {.min = Duration(10ms), .hot = true}};
  config::Item<Duration> trash_expiry{
      this,
      "trash_expiry",
      72h,
      "entries removed to the trash are removed for real after this",
      {.min = Duration(0s)}};
  config::Item<Duration> idempotency_ttl{
      this,
      "idempotency_ttl",
      30min,
      "stored replies of non-idempotent requests are kept this long (longer than any client "
      "retries)",
      {.min = Duration(1s), .hot = true}};
  config::Item<Duration> session_prune_interval{
      this,
      "session_prune_interval",
      30s,
      "how often write sessions of clients without a live mgmtd session are removed",
      {.min = Duration(100ms), .hot = true}};
  config::Item<uint32_t> root_chain_table{
      this, "root_chain_table", 0,
      "chain table of the root directory's default layout when the namespace is created (0: no "
      "layout; set one later with `hf3fs admin set-layout`)"};
  config::Item<uint64_t> root_chunk_size{this,
                                         "root_chunk_size",
                                         1ull << 20,
                                         "chunk size of the root's default layout",
                                         {.min = 64ull << 10, .max = 64ull << 20, .size = true}};
  config::Item<uint32_t> root_stripe{
      this, "root_stripe", 1, "stripe of the root's default layout", {.min = 1, .max = 1024}};
};

struct MetaConfig : net::ServerConfigBase {
  MetaConfig() : ServerConfigBase("hf3fs meta", "127.0.0.1:8100", "127.0.0.1:8101") {}
  MetaSection meta{this, "meta", "metadata service"};
  kv::KvConfig kv{this, "kv", "where meta keeps the namespace"};
};

}  // namespace hf3fs::meta
