#include "client/meta_client.h"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>

#include "common/logging.h"

namespace hf3fs::client {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

MetaClient::MetaClient(net::RpcClient& rpc, RoutingCache* routing,
                       std::vector<net::Address> servers, uint64_t client_id,
                       MetaClientOptions options)
    : rpc_(rpc),
      routing_(routing),
      configured_(std::move(servers)),
      client_id_(client_id),
      options_(options),
      // Start request ids at a random point: a restarted client reusing its id (it should not)
      // would still not collide with its earlier requests' records.
      next_request_(std::random_device{}() | (uint64_t{std::random_device{}()} << 32) | 1) {
  std::lock_guard lock(mu_);
  current_ = std::random_device{}();  // spread clients over servers
}

std::vector<net::Address> MetaClient::Servers() const {
  if (!configured_.empty()) return configured_;
  std::vector<net::Address> out;
  if (!routing_) return out;
  auto info = routing_->Get();
  if (!info) return out;
  for (const auto& n : info->nodes()) {
    if (n.type() != mgmtd::NODE_META || n.status() != mgmtd::NODE_HEARTBEAT_CONNECTED) continue;
    auto a = net::Address::Parse(n.address());
    if (a.ok()) out.push_back(*a);
  }
  // Heartbeats lost (mgmtd restarted, partition): try every registered server rather than none.
  if (out.empty()) {
    for (const auto& n : info->nodes()) {
      if (n.type() != mgmtd::NODE_META || n.status() == mgmtd::NODE_DISABLED) continue;
      auto a = net::Address::Parse(n.address());
      if (a.ok()) out.push_back(*a);
    }
  }
  return out;
}

bool MetaClient::MoveOn(const Status& st) {
  switch (st.code()) {
    case StatusCode::kRpcConnectFailed:
    case StatusCode::kRpcConnectionLost:
    case StatusCode::kRpcTimeout:
    case StatusCode::kRpcServerBusy:
    case StatusCode::kShuttingDown:
    case StatusCode::kRpcUnknownService:  // not a meta server (any more)
      return true;
    default:
      return false;
  }
}

awaitable<Status> MetaClient::CallRaw(meta::MetaMethod method,
                                      const google::protobuf::MessageLite& req,
                                      google::protobuf::MessageLite* rsp) {
  auto deadline = Clock::now() + options_.timeout;
  Duration delay = options_.retry_min;
  Status last(StatusCode::kUnavailable, "no meta server known (none configured, none in routing)");
  for (uint32_t attempt = 0;; ++attempt) {
    auto servers = Servers();
    if (servers.empty() && routing_) {
      (void)co_await routing_->Refresh();
      servers = Servers();
    }
    if (!servers.empty()) {
      net::Address addr;
      {
        std::lock_guard lock(mu_);
        addr = servers[current_ % servers.size()];
      }
      net::CallOptions opts;
      opts.timeout = options_.rpc_timeout;
      Status st = co_await rpc_.CallRaw(addr, rpc::SERVICE_META, method, req, rsp, opts);
      if (st.ok() || !st.retryable()) {
        if (st.code() != StatusCode::kRpcUnknownService) co_return st;
      }
      last = st;
      if (MoveOn(st)) {
        {
          // Never held across a co_await: a coroutine suspended with it would block every other
          // caller's thread, and so itself (seen as a mount hanging after a meta restart).
          std::lock_guard lock(mu_);
          if (servers[current_ % servers.size()] == addr) ++current_;
        }
        if (attempt == 0 || attempt % 8 == 0) {
          HF3FS_LOG_WARN("meta_client.failover method={} server={} error=\"{}\"",
                         static_cast<int>(method), addr.ToString(), st);
        }
        if (routing_) (void)co_await routing_->Refresh();
      }
    }
    if (Clock::now() + delay > deadline) {
      co_return last.WithContext("meta call gave up after retries");
    }
    asio::steady_timer t(co_await asio::this_coro::executor, delay);
    co_await t.async_wait(asio::use_awaitable);
    delay = std::min(delay * 2, options_.retry_max);
  }
}

}  // namespace hf3fs::client
