// MetaClient: calls the meta service (docs/design/0005-meta.md) with server selection, failover
// and retries (ARCHITECTURE.md section 5).
//
// Servers come from the configured list, or else from routing info (nodes of type META that
// heartbeat). A call goes to the current server; on a connection-level failure (cannot connect,
// connection lost, timeout, shutting down, busy) it moves to the next server, and on any retryable
// failure (also KV conflicts and an unavailable KV store) it retries after a backoff, until
// `timeout`. Requests with a `RequestIds ids` field get this client's id and a fresh request id
// before the first attempt, and keep them on every retry, so a non-idempotent operation whose
// reply was lost is applied once (the server returns the stored first reply).
//
// Thread-safe; calls may run concurrently from coroutines on any executor.
#pragma once

#include <atomic>
#include <mutex>
#include <vector>

#include "client/mgmtd_client.h"
#include "meta.pb.h"
#include "net/rpc_client.h"
#include "rpc.pb.h"

namespace hf3fs::client {

struct MetaClientOptions {
  Duration timeout = std::chrono::seconds(60);      // per call, across retries and servers
  Duration rpc_timeout = std::chrono::seconds(15);  // one attempt
  Duration retry_min = std::chrono::milliseconds(20);
  Duration retry_max = std::chrono::seconds(1);
};

class MetaClient {
 public:
  // `routing` may be null when `servers` is not empty. `client_id` must be unique per process
  // (it names this client's idempotency records at the servers); nonzero.
  MetaClient(net::RpcClient& rpc, RoutingCache* routing, std::vector<net::Address> servers,
             uint64_t client_id, MetaClientOptions options = {});

  template <typename Rsp, typename Req>
  awaitable<Result<Rsp>> Call(meta::MetaMethod method, Req req) {
    if constexpr (requires { req.mutable_ids(); }) {
      auto* ids = req.mutable_ids();
      if (ids->client_id() == 0) {
        ids->set_client_id(client_id_);
        ids->set_request_id(next_request_.fetch_add(1, std::memory_order_relaxed));
      }
    }
    Rsp rsp;
    Status st = co_await CallRaw(method, req, &rsp);
    if (!st.ok()) co_return st;
    co_return rsp;
  }

  awaitable<Status> CallRaw(meta::MetaMethod method, const google::protobuf::MessageLite& req,
                            google::protobuf::MessageLite* rsp);

  uint64_t client_id() const { return client_id_; }
  // The servers currently known (configured, or from the latest routing info).
  std::vector<net::Address> Servers() const;

 private:
  static bool MoveOn(const Status& st);

  net::RpcClient& rpc_;
  RoutingCache* routing_;
  const std::vector<net::Address> configured_;
  const uint64_t client_id_;
  const MetaClientOptions options_;
  std::atomic<uint64_t> next_request_;
  mutable std::mutex mu_;
  size_t current_ = 0;  // index into Servers()
};

}  // namespace hf3fs::client
