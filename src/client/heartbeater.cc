#include "client/heartbeater.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <unistd.h>

#include <thread>

#include "common/logging.h"
#include "common/version.h"

namespace hf3fs::client {

namespace asio = boost::asio;

namespace {
uint64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Heartbeater::Heartbeater(MgmtdClient& mgmtd, asio::io_context& ctx, HeartbeatIdentity identity,
                         config::Section* config_root, Duration interval, Payload payload)
    : mgmtd_(mgmtd),
      ctx_(ctx),
      identity_(std::move(identity)),
      config_root_(config_root),
      interval_(interval),
      payload_(std::move(payload)),
      timer_(ctx),
      base_version_(NowUs()) {}

Heartbeater::~Heartbeater() { Stop(); }

void Heartbeater::Start() {
  running_ = true;
  asio::co_spawn(ctx_, [this] { return Loop(); }, [this](std::exception_ptr) { running_ = false; });
}

void Heartbeater::Stop() {
  if (!running_) return;
  stopping_ = true;
  asio::post(ctx_, [this] { timer_.cancel(); });
  while (running_) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

Status Heartbeater::last_status() const {
  std::lock_guard lock(mu_);
  return last_status_;
}

net::awaitable<void> Heartbeater::Loop() {
  while (!stopping_) {
    co_await Beat();
    timer_.expires_after(interval_);
    co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

net::awaitable<void> Heartbeater::Beat() {
  mgmtd::HeartbeatReq req;
  req.set_node_id(identity_.node_id);
  req.set_type(identity_.type);
  req.set_cluster_id(identity_.cluster_id);
  req.set_heartbeat_version(base_version_ + ++seq_);
  req.set_sent_unix_ms(NowUs() / 1000);
  req.set_address(identity_.address);
  req.set_http_address(identity_.http_address);
  req.set_release_version(kVersion);
  req.set_pid(static_cast<uint32_t>(getpid()));
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  req.set_hostname(host);
  req.set_config_version(std::max(config_version_.load(), refused_config_version_));
  if (payload_) payload_(req);
  auto timeout = std::max<Duration>(interval_, std::chrono::seconds(1));
  auto r = co_await mgmtd_.Call<mgmtd::HeartbeatRsp>(mgmtd::MGMTD_HEARTBEAT, req, timeout);
  {
    std::lock_guard lock(mu_);
    last_status_ = r.status();
  }
  if (!r.ok()) {
    HF3FS_LOG_WARN("heartbeat.failed node={} error=\"{}\"", identity_.node_id, r.status());
    co_return;
  }
  routing_version_ = r->routing_version();
  if (r->has_config() && config_root_) {
    const auto& cfg = r->config();
    auto st = config_root_->HotUpdate(cfg.toml());
    if (st.ok()) {
      config_version_ = cfg.version();
      HF3FS_LOG_INFO("config.applied_from_mgmtd node={} version={}", identity_.node_id,
                     cfg.version());
    } else {
      refused_config_version_ = cfg.version();
      HF3FS_LOG_ERROR("config.refused_from_mgmtd node={} version={} error=\"{}\"",
                      identity_.node_id, cfg.version(), st);
    }
  }
}

}  // namespace hf3fs::client
