// Configuration of `hf3fs mgmtd`: the server sections plus [mgmtd] and [kv].
#pragma once

#include <chrono>

#include "kv/kv_config.h"
#include "net/server_command.h"

namespace hf3fs::mgmtd {

using namespace std::chrono_literals;

struct MgmtdSection : config::Section {
  using Section::Section;
  config::Item<uint32_t> node_id{this, "node_id", 1, "this mgmtd's node id", {.min = 1}};
  config::Item<std::string> advertise_address{
      this, "advertise_address", "",
      "address other processes reach this mgmtd at (default: the RPC listen address)"};
  config::Item<Duration> heartbeat_timeout{
      this, "heartbeat_timeout", 10s, "a node with no heartbeat for this long is failed",
      {.min = Duration(100ms), .hot = true}};
  config::Item<Duration> chain_update_interval{this, "chain_update_interval", 1s,
                                               "how often chains are recomputed",
                                               {.min = Duration(10ms), .hot = true}};
  config::Item<Duration> max_clock_skew{this, "max_clock_skew", 60s,
                                        "heartbeats whose clock differs more are refused",
                                        {.min = Duration(1s), .hot = true}};
  config::Item<bool> allow_auto_register{this, "allow_auto_register", false,
                                         "register unknown nodes on their first heartbeat",
                                         {.hot = true}};
  config::Item<Duration> client_session_timeout{
      this, "client_session_timeout", 60s, "a client session not extended for this long is dead",
      {.min = Duration(1s), .hot = true}};
  config::Item<Duration> lease_length{this, "lease_length", 10s,
                                      "how long the primary's lease lasts without renewal",
                                      {.min = Duration(100ms)}};
  config::Item<Duration> lease_renew_interval{this, "lease_renew_interval", 2s,
                                              "how often the lease is renewed or contested",
                                              {.min = Duration(10ms)}};
  config::Item<bool> auth_required{this, "auth_required", false,
                                   "admin calls must carry a valid admin user token",
                                   {.hot = true}};
  config::Item<uint32_t> offload_threads{this, "offload_threads", 4,
                                         "threads running KV transactions", {.min = 1, .max = 256}};
};

struct MgmtdConfig : net::ServerConfigBase {
  MgmtdConfig() : ServerConfigBase("hf3fs mgmtd", "127.0.0.1:8000", "127.0.0.1:8001") {
    // mgmtd commits rarely (registrations, chain changes, leases) and a chain version that a power
    // loss rolled back could fence live replicas: every commit is flushed (design 0009).
    (void)kv.durability.Set("strict");
  }
  MgmtdSection mgmtd{this, "mgmtd", "cluster manager"};
  kv::KvConfig kv{this, "kv", "where mgmtd keeps its state"};
};

}  // namespace hf3fs::mgmtd
