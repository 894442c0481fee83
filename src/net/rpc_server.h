// Accepts RPC connections on one address and serves the methods of a ServiceRegistry.
//
// Connections are spread round-robin over the io pool. Start() binds (port 0 picks a free port,
// see address()). Stop() is graceful: no new connections, no new requests, in-flight requests
// finish and their responses are flushed (bounded by rpc.drain_timeout), then everything closes.
// Stop() blocks; call it from a thread that is not one of the pool's.
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <future>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "net/address.h"
#include "net/connection.h"
#include "net/io_context_pool.h"
#include "net/rpc_config.h"
#include "net/service.h"

namespace hf3fs::net {

class RpcServer {
 public:
  // `pool`, `config` and `registry` must outlive the server; the pool must be started.
  RpcServer(IoContextPool& pool, const RpcConfig& config, const ServiceRegistry& registry);
  ~RpcServer();
  RpcServer(const RpcServer&) = delete;
  RpcServer& operator=(const RpcServer&) = delete;

  // The verifiers checked when peers connect (default: the process keyring). Before Start.
  void SetKeyring(std::shared_ptr<const Keyring> keyring) { keyring_ = std::move(keyring); }

  // kRpcBadAddress / kIoError (address in use, permission) on failure.
  Status Start(const Address& bind);
  Address address() const { return address_; }
  void Stop();
  size_t connection_count() const;

 private:
  awaitable<void> AcceptLoop();

  IoContextPool& pool_;
  const RpcConfig& config_;
  const ServiceRegistry& registry_;
  std::shared_ptr<const Keyring> keyring_;
  boost::asio::io_context& accept_ctx_;
  boost::asio::ip::tcp::acceptor acceptor_;
  Address address_;
  std::promise<void> accept_done_;
  bool started_ = false;
  bool stopped_ = false;
  mutable std::mutex mu_;
  std::unordered_map<Connection*, std::shared_ptr<Connection>> conns_;
};

}  // namespace hf3fs::net
