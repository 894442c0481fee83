// What every hf3fs server process shares: the [log], [rpc] and [server] config sections, the io
// pool, an RPC server that always carries the Core service, an HTTP server with /metrics and
// /healthz, and graceful stop on SIGTERM/SIGINT or the Core shutdown call.
//
// Usage by a role: build its config root with these sections, construct ServerRuntime, register
// the role's services on registry(), Start(), WaitForStopRequest(), Stop().
#pragma once

#include <boost/asio/signal_set.hpp>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/config.h"
#include "common/log_config.h"
#include "net/core_service.h"
#include "net/http_server.h"
#include "net/io_context_pool.h"
#include "net/rpc_config.h"
#include "net/rpc_server.h"

namespace hf3fs::net {

struct ServerSection : config::Section {
  ServerSection(Section* parent, std::string name, std::string default_listen,
                std::string default_http_listen)
      : Section(parent, std::move(name), "addresses this server listens on"),
        listen(this, "listen", std::move(default_listen),
               "RPC address (host:port; port 0 picks a free one)"),
        http_listen(this, "http_listen", std::move(default_http_listen),
                    "HTTP address for /metrics and /healthz (host:port; empty disables)") {}
  config::Item<std::string> listen;
  config::Item<std::string> http_listen;
};

class ServerRuntime {
 public:
  ServerRuntime(std::string role, config::Section& config_root, LogConfig& log, RpcConfig& rpc,
                ServerSection& server);
  ~ServerRuntime();

  ServiceRegistry& registry() { return registry_; }
  IoContextPool& pool() { return *pool_; }
  HttpServer* http() { return http_.get(); }

  // Applies logging, starts the io pool, the RPC server and the HTTP server. Register services
  // before calling. kIoError when an address is in use, kRpcBadAddress when malformed.
  Status Start();
  // Thread-safe; the first reason wins.
  void RequestStop(std::string reason);
  // Blocks until RequestStop, SIGTERM or SIGINT; returns the reason.
  std::string WaitForStopRequest();
  // Graceful: drains RPCs, stops HTTP and the pool. Idempotent.
  void Stop();

  Address rpc_address() const { return rpc_server_ ? rpc_server_->address() : Address{}; }
  Address http_address() const { return http_ ? http_->address() : Address{}; }

 private:
  std::string role_;
  config::Section& config_root_;
  LogConfig& log_;
  RpcConfig& rpc_;
  ServerSection& server_;
  ServiceRegistry registry_;
  std::unique_ptr<CoreService> core_;
  std::unique_ptr<IoContextPool> pool_;
  std::unique_ptr<RpcServer> rpc_server_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<boost::asio::signal_set> signals_;
  uint64_t start_time_ms_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<std::string> stop_reason_;
  bool stopped_ = false;
};

}  // namespace hf3fs::net
