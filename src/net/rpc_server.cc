#include "net/rpc_server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <thread>

#include "common/logging.h"

namespace hf3fs::net {

RpcServer::RpcServer(IoContextPool& pool, const RpcConfig& config, const ServiceRegistry& registry)
    : pool_(pool),
      config_(config),
      registry_(registry),
      keyring_(ProcessKeyring()),
      accept_ctx_(pool.Get(0)),
      acceptor_(accept_ctx_) {}

RpcServer::~RpcServer() { Stop(); }

Status RpcServer::Start(const Address& bind) {
  HF3FS_CHECK(!started_);
  HF3FS_TRY_ASSIGN(auto ep, bind.ToEndpoint());
  boost::system::error_code ec;
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    return MakeStatus(StatusCode::kIoError, "cannot listen on {}: {}", bind.ToString(),
                      ec.message());
  }
  address_ = Address::FromEndpoint(acceptor_.local_endpoint());
  started_ = true;
  asio::co_spawn(accept_ctx_, [this] { return AcceptLoop(); },
                 [this](std::exception_ptr) { accept_done_.set_value(); });
  HF3FS_LOG_INFO("rpc.server_listening address={}", address_.ToString());
  return Status::Ok();
}

awaitable<void> RpcServer::AcceptLoop() {
  constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
  while (acceptor_.is_open()) {
    auto& ctx = pool_.Next();
    auto [ec, socket] = co_await acceptor_.async_accept(ctx, kNoThrow);
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) break;
    if (ec) {
      // Out of file descriptors and the like: say so, wait a little, keep serving.
      HF3FS_LOG_WARN("rpc.accept_failed address={} error=\"{}\"", address_.ToString(),
                     ec.message());
      asio::steady_timer t(accept_ctx_, std::chrono::milliseconds(100));
      co_await t.async_wait(kNoThrow);
      continue;
    }
    boost::system::error_code pec;
    auto remote = socket.remote_endpoint(pec);
    auto peer = pec ? std::string("unknown") : Address::FromEndpoint(remote).ToString();
    {
      std::lock_guard lock(mu_);
      if (stopped_) break;
      if (conns_.size() >= config_.max_connections.Get()) {
        // Bounded memory: a flood of connections cannot pin buffers and handlers without end.
        static auto* refused = metrics::Registry::Global().GetCounter(
            "hf3fs_rpc_connections_refused_total",
            "Connections closed at accept because rpc.max_connections were open");
        refused->Inc();
        HF3FS_LOG_WARN("rpc.connection_refused peer={} open={} limit={}", peer, conns_.size(),
                       config_.max_connections.Get());
        boost::system::error_code ignored;
        socket.close(ignored);
        continue;
      }
    }
    auto conn = std::make_shared<Connection>(ctx, config_, &registry_, peer);
    {
      std::lock_guard lock(mu_);
      if (stopped_) break;
      conns_.emplace(conn.get(), conn);
    }
    conn->SetOnClose([this](Connection* c) {
      std::lock_guard lock(mu_);
      conns_.erase(c);
    });
    conn->SetKeyring(keyring_);
    conn->StartAccepted(std::move(socket));
  }
}

void RpcServer::Stop() {
  if (!started_ || stopped_) return;
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
  }
  asio::post(accept_ctx_, [this] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  });
  accept_done_.get_future().wait();

  std::vector<std::shared_ptr<Connection>> conns;
  {
    std::lock_guard lock(mu_);
    for (auto& [p, c] : conns_) conns.push_back(c);
  }
  for (auto& c : conns) c->BeginDrain();
  auto deadline = Clock::now() + config_.drain_timeout.Get();
  while (connection_count() > 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  size_t left = connection_count();
  if (left > 0) {
    HF3FS_LOG_WARN("rpc.drain_timeout address={} connections={}", address_.ToString(), left);
    for (auto& c : conns) c->Close(Status(StatusCode::kShuttingDown, "server stopped"));
    while (connection_count() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  HF3FS_LOG_INFO("rpc.server_stopped address={}", address_.ToString());
}

size_t RpcServer::connection_count() const {
  std::lock_guard lock(mu_);
  return conns_.size();
}

}  // namespace hf3fs::net
