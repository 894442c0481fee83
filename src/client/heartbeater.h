// Sends a node's heartbeats to the primary mgmtd and applies the configuration mgmtd hands back.
//
// Every `interval` it sends a HeartbeatReq built from the node's identity and `payload()` (storage
// nodes add their targets' local states and space). When the reply carries a config version newer
// than the one applied, its TOML is applied to `config_root` with HotUpdate: hot-updatable keys
// change at once; a config that would change other keys is refused as a whole, logged, and not
// retried for that version (restart the node with the new file to apply it).
//
// The heartbeat version is the process start time in microseconds plus a sequence number, so it
// keeps increasing across restarts of the same node.
#pragma once

#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <functional>
#include <string>

#include "client/mgmtd_client.h"
#include "common/config.h"

namespace hf3fs::client {

struct HeartbeatIdentity {
  uint32_t node_id = 0;
  mgmtd::NodeType type = mgmtd::NODE_TYPE_UNSPECIFIED;
  std::string cluster_id;
  std::string address;
  std::string http_address;
};

class Heartbeater {
 public:
  using Payload = std::function<void(mgmtd::HeartbeatReq&)>;

  Heartbeater(MgmtdClient& mgmtd, boost::asio::io_context& ctx, HeartbeatIdentity identity,
              config::Section* config_root, Duration interval, Payload payload = nullptr);
  ~Heartbeater();

  void Start();
  void Stop();  // blocks until the loop ended; not from the io thread

  uint64_t routing_version() const { return routing_version_.load(); }
  uint64_t config_version() const { return config_version_.load(); }
  // The last heartbeat's outcome (ok, or why mgmtd refused it).
  Status last_status() const;

 private:
  net::awaitable<void> Loop();
  net::awaitable<void> Beat();

  MgmtdClient& mgmtd_;
  boost::asio::io_context& ctx_;
  const HeartbeatIdentity identity_;
  config::Section* config_root_;
  const Duration interval_;
  Payload payload_;
  boost::asio::steady_timer timer_;
  uint64_t base_version_;
  uint64_t seq_ = 0;
  std::atomic<uint64_t> routing_version_{0};
  std::atomic<uint64_t> config_version_{0};
  uint64_t refused_config_version_ = 0;
  mutable std::mutex mu_;
  Status last_status_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> running_{false};
};

}  // namespace hf3fs::client
