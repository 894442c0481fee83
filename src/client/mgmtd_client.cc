#include "client/mgmtd_client.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <thread>

#include "common/logging.h"

namespace hf3fs::client {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

MgmtdClient::MgmtdClient(net::RpcClient& rpc, std::vector<net::Address> mgmtds, std::string token)
    : rpc_(rpc), mgmtds_(std::move(mgmtds)), token_(std::move(token)) {
  HF3FS_CHECK(!mgmtds_.empty());
}

net::Address MgmtdClient::Candidate() {
  std::lock_guard lock(mu_);
  if (primary_) return *primary_;
  return mgmtds_[next_++ % mgmtds_.size()];
}

void MgmtdClient::SetPrimary(std::optional<net::Address> a) {
  std::lock_guard lock(mu_);
  primary_ = std::move(a);
}

awaitable<Status> MgmtdClient::CallRaw(uint32_t method, const google::protobuf::MessageLite& req,
                                       google::protobuf::MessageLite* rsp, Duration timeout) {
  auto deadline = Clock::now() + timeout;
  Duration backoff = std::chrono::milliseconds(20);
  Status last;
  while (true) {
    auto addr = Candidate();
    net::CallOptions opts;
    opts.token = token_;
    opts.timeout = std::max<Duration>(std::chrono::milliseconds(100),
                                      std::min<Duration>(std::chrono::seconds(5),
                                                         deadline - Clock::now()));
    last = co_await rpc_.CallRaw(addr, rpc::SERVICE_MGMTD, method, req, rsp, opts);
    if (last.ok()) {
      SetPrimary(addr);
      co_return last;
    }
    if (last.code() == StatusCode::kMgmtdNotPrimary) {
      // Ask that mgmtd who holds the lease.
      mgmtd::GetPrimaryRsp who;
      auto st = co_await rpc_.CallRaw(addr, rpc::SERVICE_MGMTD, mgmtd::MGMTD_GET_PRIMARY,
                                      mgmtd::GetPrimaryReq(), &who, opts);
      std::optional<net::Address> p;
      if (st.ok() && !who.primary_address().empty()) {
        auto parsed = net::Address::Parse(who.primary_address());
        if (parsed.ok() && *parsed != addr) p = *parsed;
      }
      SetPrimary(p);
    } else if (last.retryable()) {
      SetPrimary(std::nullopt);
    } else {
      co_return last;
    }
    if (Clock::now() + backoff >= deadline) break;
    asio::steady_timer t(co_await asio::this_coro::executor, backoff);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    backoff = std::min<Duration>(backoff * 2, std::chrono::milliseconds(500));
  }
  co_return last.WithContext(
      fmt::format("no primary mgmtd answered within {} (tried {})", FormatDuration(timeout),
                  mgmtds_.size() == 1 ? mgmtds_[0].ToString()
                                      : fmt::format("{} addresses", mgmtds_.size())));
}

RoutingCache::RoutingCache(MgmtdClient& client, asio::io_context& ctx, Duration interval)
    : client_(client), ctx_(ctx), interval_(interval), timer_(ctx) {}

RoutingCache::~RoutingCache() { Stop(); }

void RoutingCache::Start() {
  running_ = true;
  asio::co_spawn(ctx_, [this] { return Loop(); }, [this](std::exception_ptr) { running_ = false; });
}

void RoutingCache::Stop() {
  if (!running_) return;
  stopping_ = true;
  asio::post(ctx_, [this] { timer_.cancel(); });
  while (running_) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

std::shared_ptr<const mgmtd::RoutingInfo> RoutingCache::Get() const {
  std::lock_guard lock(mu_);
  return info_;
}

std::shared_ptr<const RoutingView> RoutingCache::View() const {
  std::lock_guard lock(mu_);
  return view_;
}

uint64_t RoutingCache::version() const {
  std::lock_guard lock(mu_);
  return info_ ? info_->version() : 0;
}

awaitable<Status> RoutingCache::Refresh(uint64_t at_least) {
  uint64_t known = version();
  if (at_least != 0 && known > at_least) co_return Status::Ok();
  mgmtd::GetRoutingInfoReq req;
  req.set_known_version(known);
  auto r = co_await client_.Call<mgmtd::GetRoutingInfoRsp>(mgmtd::MGMTD_GET_ROUTING_INFO, req,
                                                           std::chrono::seconds(5));
  if (!r.ok()) co_return r.status();
  if (!r->unchanged()) {
    auto info = std::make_shared<mgmtd::RoutingInfo>(std::move(*r->mutable_info()));
    auto view = std::make_shared<const RoutingView>(info);
    bool installed = false;
    {
      std::lock_guard lock(mu_);
      if (!info_ || info->version() > info_->version()) {
        info_ = std::move(info);
        view_ = view;
        installed = true;
      }
    }
    if (installed && listener_) listener_(std::move(view));
  }
  co_return Status::Ok();
}

awaitable<void> RoutingCache::Loop() {
  while (!stopping_) {
    auto st = co_await Refresh();
    if (!st.ok()) HF3FS_LOG_DEBUG("client.routing_refresh_failed error=\"{}\"", st);
    timer_.expires_after(interval_);
    co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace hf3fs::client
