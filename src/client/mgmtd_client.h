// Talks to the cluster's primary mgmtd, and keeps a routing-info cache fresh.
//
// MgmtdClient::Call sends a request to the primary: it starts from the last primary it found,
// follows kMgmtdNotPrimary answers to the primary they name (asking GetPrimary), moves on to the
// next configured mgmtd when one is unreachable, and retries retryable failures with backoff until
// `timeout`. Thread-safe.
//
// RoutingCache refreshes periodically (and on demand, e.g. after a request failed with a stale
// chain version) with GetRoutingInfo(known_version), which costs nothing when unchanged.
#pragma once

#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "client/routing_view.h"
#include "mgmtd.pb.h"
#include "net/rpc_client.h"
#include "rpc.pb.h"

namespace hf3fs::client {

using net::awaitable;

class MgmtdClient {
 public:
  MgmtdClient(net::RpcClient& rpc, std::vector<net::Address> mgmtds, std::string token = "");

  awaitable<Status> CallRaw(uint32_t method, const google::protobuf::MessageLite& req,
                            google::protobuf::MessageLite* rsp, Duration timeout);

  template <typename Rsp, typename Req>
  awaitable<Result<Rsp>> Call(uint32_t method, const Req& req,
                              Duration timeout = std::chrono::seconds(15)) {
    Rsp rsp;
    Status st = co_await CallRaw(method, req, &rsp, timeout);
    if (!st.ok()) co_return st;
    co_return rsp;
  }

  const std::vector<net::Address>& mgmtds() const { return mgmtds_; }
  // The RPC client it calls through (tools reuse it for other services).
  net::RpcClient& rpc() { return rpc_; }

 private:
  net::Address Candidate();
  void SetPrimary(std::optional<net::Address> a);

  net::RpcClient& rpc_;
  const std::vector<net::Address> mgmtds_;
  const std::string token_;
  std::mutex mu_;
  std::optional<net::Address> primary_;
  size_t next_ = 0;
};

class RoutingCache {
 public:
  // Refreshes run on `executor`'s context; `client` must outlive the cache.
  RoutingCache(MgmtdClient& client, boost::asio::io_context& ctx, Duration interval);
  ~RoutingCache();

  void Start();
  void Stop();  // blocks until the refresh loop has ended; not from the io thread

  // The latest routing info (null before the first successful refresh).
  std::shared_ptr<const mgmtd::RoutingInfo> Get() const;
  // The same, indexed for lookups (null before the first successful refresh).
  std::shared_ptr<const RoutingView> View() const;
  uint64_t version() const;
  // Called (on the refreshing thread, without locks held) after each newer version is installed.
  // Set before Start().
  void SetListener(std::function<void(std::shared_ptr<const RoutingView>)> fn) {
    listener_ = std::move(fn);
  }
  // Fetches now (unless a newer version is already cached than `at_least`).
  awaitable<Status> Refresh(uint64_t at_least = 0);

 private:
  awaitable<void> Loop();

  MgmtdClient& client_;
  boost::asio::io_context& ctx_;
  const Duration interval_;
  boost::asio::steady_timer timer_;
  mutable std::mutex mu_;
  std::shared_ptr<const mgmtd::RoutingInfo> info_;
  std::shared_ptr<const RoutingView> view_;
  std::function<void(std::shared_ptr<const RoutingView>)> listener_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> running_{false};
};

}  // namespace hf3fs::client
