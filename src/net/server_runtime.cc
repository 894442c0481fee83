#include "net/server_runtime.h"

#include <chrono>

#include "common/logging.h"
#include "common/version.h"

namespace hf3fs::net {

ServerRuntime::ServerRuntime(std::string role, config::Section& config_root, LogConfig& log,
                             RpcConfig& rpc, ServerSection& server)
    : role_(std::move(role)),
      config_root_(config_root),
      log_(log),
      rpc_(rpc),
      server_(server) {
  core_ = std::make_unique<CoreService>(
      &config_root_, [this](std::string reason) { RequestStop(std::move(reason)); },
      [this] {
        return ServerInfo{role_, kVersion, start_time_ms_, rpc_address().ToString(),
                          http_ ? http_address().ToString() : ""};
      });
  core_->Register(registry_);
}

ServerRuntime::~ServerRuntime() { Stop(); }

Status ServerRuntime::Start() {
  HF3FS_TRY(log_.Apply());
  start_time_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  HF3FS_TRY_ASSIGN(auto rpc_addr, Address::Parse(server_.listen.Get()));
  std::optional<Address> http_addr;
  if (!server_.http_listen.Get().empty()) {
    HF3FS_TRY_ASSIGN(http_addr, Address::Parse(server_.http_listen.Get()));
  }
  pool_ = std::make_unique<IoContextPool>(rpc_.io_threads.Get(), role_, rpc_.busy_poll.Get());
  pool_->Start();
  signals_ = std::make_unique<boost::asio::signal_set>(pool_->Get(0), SIGINT, SIGTERM);
  signals_->async_wait([this](const boost::system::error_code& ec, int sig) {
    if (!ec) RequestStop(sig == SIGINT ? "SIGINT" : "SIGTERM");
  });
  rpc_server_ = std::make_unique<RpcServer>(*pool_, rpc_, registry_);
  HF3FS_TRY(rpc_server_->Start(rpc_addr));
  if (http_addr) {
    http_ = std::make_unique<HttpServer>(pool_->Get(0));
    http_->AddDefaultRoutes([this] {
      std::lock_guard lock(mu_);
      return !stop_reason_.has_value();
    });
    HF3FS_TRY(http_->Start(*http_addr));
  }
  HF3FS_LOG_INFO("server.started role={} version={} rpc={} http={} pid={}", role_, kVersion,
                 rpc_address().ToString(), http_ ? http_address().ToString() : "off", getpid());
  return Status::Ok();
}

void ServerRuntime::RequestStop(std::string reason) {
  {
    std::lock_guard lock(mu_);
    if (stop_reason_) return;
    stop_reason_ = std::move(reason);
  }
  cv_.notify_all();
}

std::string ServerRuntime::WaitForStopRequest() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return stop_reason_.has_value(); });
  return *stop_reason_;
}

void ServerRuntime::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (rpc_server_) rpc_server_->Stop();
  if (http_) http_->Stop();
  if (signals_) {
    boost::asio::post(pool_->Get(0), [this] {
      boost::system::error_code ignored;
      signals_->cancel(ignored);
    });
  }
  if (pool_) pool_->Stop();
  HF3FS_LOG_INFO("server.stopped role={}", role_);
  logging::Flush();
}

}  // namespace hf3fs::net
