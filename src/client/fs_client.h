// FsClient: everything a file-system client process needs, wired together: RPC client, mgmtd
// client with a routing cache, a client session kept alive at mgmtd (meta prunes write sessions of
// clients whose session lapsed), the meta client, the storage client and file I/O. The FUSE
// daemon, USRBIO, admin and bench tools build on it.
#pragma once

#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <string>
#include <vector>

#include "client/file_io.h"
#include "client/meta_client.h"
#include "client/mgmtd_client.h"
#include "client/storage_client.h"
#include "net/io_context_pool.h"
#include "net/rpc_client.h"

namespace hf3fs::client {

struct FsClientOptions {
  std::vector<net::Address> mgmtd;  // required
  std::vector<net::Address> meta;   // empty: meta servers from routing info
  std::string description = "hf3fs client";
  Duration routing_interval = std::chrono::seconds(1);
  Duration session_interval = std::chrono::seconds(5);  // client-session keepalive
  Duration connect_timeout = std::chrono::seconds(15);  // Connect() gives up after this
  StorageClientOptions storage;
  MetaClientOptions meta_options;
};

class FsClient {
 public:
  // Connects: fetches routing info (a clear kUnavailable naming the mgmtd addresses when none
  // answers within connect_timeout) and opens a client session. `pool` (started) and `rpc_config`
  // must outlive the client.
  static Result<std::unique_ptr<FsClient>> Connect(net::IoContextPool& pool,
                                                   const net::RpcConfig& rpc_config,
                                                   FsClientOptions options);
  ~FsClient();

  void Stop();  // ends the session keepalive and routing refreshes; not from an io thread

  uint64_t client_id() const { return client_id_; }
  net::RpcClient& rpc() { return *rpc_; }
  MgmtdClient& mgmtd() { return *mgmtd_; }
  RoutingCache& routing() { return *routing_; }
  MetaClient& meta() { return *meta_; }
  StorageClient& storage() { return *storage_; }
  FileIo& io() { return *io_; }
  net::IoContextPool& pool() { return pool_; }

 private:
  FsClient(net::IoContextPool& pool, FsClientOptions options);
  awaitable<void> SessionLoop();

  net::IoContextPool& pool_;
  const FsClientOptions options_;
  const uint64_t client_id_;
  std::unique_ptr<net::RpcClient> rpc_;
  std::unique_ptr<MgmtdClient> mgmtd_;
  std::unique_ptr<RoutingCache> routing_;
  std::unique_ptr<MetaClient> meta_;
  std::unique_ptr<StorageClient> storage_;
  std::unique_ptr<FileIo> io_;
  boost::asio::steady_timer session_timer_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> session_running_{false};
};

// Runs `fn` (a coroutine) on `ctx` and blocks the calling thread for its result. For tools and
// threads outside the io pool only; never call it from an io thread.
template <typename T>
T RunSync(boost::asio::io_context& ctx, awaitable<T> task);

}  // namespace hf3fs::client

#include <boost/asio/co_spawn.hpp>
#include <future>

namespace hf3fs::client {
template <typename T>
T RunSync(boost::asio::io_context& ctx, awaitable<T> task) {
  std::promise<T> promise;
  auto fut = promise.get_future();
  boost::asio::co_spawn(
      ctx,
      [&promise, t = std::move(task)]() mutable -> awaitable<void> {
        promise.set_value(co_await std::move(t));
      },
      [&promise](std::exception_ptr e) {
        if (e) promise.set_exception(e);
      });
  return fut.get();
}
}  // namespace hf3fs::client
