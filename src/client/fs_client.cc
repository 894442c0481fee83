#include "client/fs_client.h"

#include <unistd.h>

#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>
#include <thread>

#include "common/logging.h"

namespace hf3fs::client {

namespace asio = boost::asio;

namespace {
uint64_t NewClientId() {
  std::random_device rd;
  uint64_t id = 0;
  while (id == 0) id = (uint64_t{rd()} << 32) | rd();
  return id;
}
}  // namespace

FsClient::FsClient(net::IoContextPool& pool, FsClientOptions options)
    : pool_(pool),
      options_(std::move(options)),
      client_id_(NewClientId()),
      session_timer_(pool.Get(0)) {}

Result<std::unique_ptr<FsClient>> FsClient::Connect(net::IoContextPool& pool,
                                                    const net::RpcConfig& rpc_config,
                                                    FsClientOptions options) {
  if (options.mgmtd.empty()) {
    return Status(StatusCode::kInvalidArgument, "no mgmtd address given");
  }
  std::unique_ptr<FsClient> c(new FsClient(pool, std::move(options)));
  const auto& o = c->options_;
  c->rpc_ = std::make_unique<net::RpcClient>(pool, rpc_config, c->client_id_);
  c->mgmtd_ = std::make_unique<MgmtdClient>(*c->rpc_, o.mgmtd);
  c->routing_ = std::make_unique<RoutingCache>(*c->mgmtd_, pool.Get(0), o.routing_interval);
  c->meta_ = std::make_unique<MetaClient>(*c->rpc_, c->routing_.get(), o.meta, c->client_id_,
                                          o.meta_options);
  c->storage_ = std::make_unique<StorageClient>(*c->rpc_, *c->routing_, c->client_id_, o.storage);
  c->io_ = std::make_unique<FileIo>(*c->storage_, *c->routing_);

  // First routing info: proves mgmtd is reachable.
  auto deadline = std::chrono::steady_clock::now() + o.connect_timeout;
  Status st;
  for (;;) {
    st = RunSync(pool.Get(0), c->routing_->Refresh());
    if (st.ok() && c->routing_->View()) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      std::string addrs;
      for (const auto& a : o.mgmtd) addrs += (addrs.empty() ? "" : ",") + a.ToString();
      return MakeStatus(StatusCode::kUnavailable,
                        "cannot reach the cluster: no routing info from mgmtd at {} within {}s "
                        "({}); check that mgmtd runs and the address is right",
                        addrs,
                        std::chrono::duration_cast<std::chrono::seconds>(o.connect_timeout).count(),
                        st.ok() ? "no answer" : st.ToString());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  c->routing_->Start();
  c->session_running_ = true;
  asio::co_spawn(pool.Get(0), c->SessionLoop(), asio::detached);
  return c;
}

awaitable<void> FsClient::SessionLoop() {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  while (!stopping_) {
    mgmtd::ExtendClientSessionReq req;
    req.set_client_id(client_id_);
    req.set_hostname(host);
    req.set_description(options_.description);
    auto r = co_await mgmtd_->Call<mgmtd::ExtendClientSessionRsp>(
        mgmtd::MGMTD_EXTEND_CLIENT_SESSION, req, std::chrono::seconds(5));
    if (!r.ok() && !stopping_) {
      HF3FS_LOG_WARN("client.session_extend_failed client_id={:x} error=\"{}\"", client_id_,
                     r.status());
    }
    if (stopping_) break;
    session_timer_.expires_after(options_.session_interval);
    boost::system::error_code ec;
    co_await session_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  session_running_ = false;
  session_running_.notify_all();
}

void FsClient::Stop() {
  if (stopping_.exchange(true)) return;
  asio::post(pool_.Get(0), [this] { session_timer_.cancel(); });
  while (session_running_) session_running_.wait(true);
  if (routing_) routing_->Stop();
}

FsClient::~FsClient() { Stop(); }

}  // namespace hf3fs::client
