// UsrbioServer: the mount daemon's side of USRBIO (docs/design/0008-usrbio.md).
//
// Listens on an abstract Unix socket (announced by HF3FS_IOC_USRBIO_INFO). Each connected process
// gets a thread that handles its control messages: it maps the iovs and rings the process hands
// over, binds the files it registers (a reference on each one's FUSE handle, so it lives on)
// and, when the process goes away, stops its rings, waits for their in-flight I/O and frees
// everything. Each ring is served by a coroutine on the client's io pool that cuts batches
// from the submission queue by the ring's io_depth policy, runs them as batched storage reads or
// concurrent chunk writes straight into or out of the shared buffers, and posts completions in
// submission order. Every field read from shared memory is checked against the daemon's own
// records; a bad entry completes with -EINVAL or -EBADF.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "fuse/fuse_fs.h"
#include "usrbio/usrbio_protocol.h"

namespace hf3fs::fuse {

struct UsrbioOptions {
  uint32_t max_batches = 64;  // batches in flight across all rings (priority decides who waits)
  uint64_t group_bytes = 512 << 10;  // a batch runs as groups of up to this many bytes at once
  Duration poll_interval = std::chrono::milliseconds(100);  // rings are also checked this often
};

class UsrbioServer {
 public:
  UsrbioServer(FuseFs& fs, UsrbioOptions options);
  ~UsrbioServer();

  Status Start();  // binds the socket and starts accepting
  void Stop();     // closes every connection (as if each process died) and joins the threads
  const std::string& address() const { return address_; }  // "@name" (abstract)

  struct Connection;
  struct Ring;
  class Gate;

  // Runs `fn` on the helper thread: page invalidations must not run on an io thread, which FUSE
  // handlers may be waiting for.
  void Defer(std::function<void()> fn);

 private:
  void AcceptLoop();
  void Serve(std::shared_ptr<Connection> conn);
  void Cleanup(Connection& conn);
  void StopRing(const std::shared_ptr<Ring>& ring);  // returns when no batch of it runs
  net::awaitable<void> RingLoop(std::shared_ptr<Connection> conn, std::shared_ptr<Ring> ring);
  net::awaitable<void> RunBatch(std::shared_ptr<Connection> conn, std::shared_ptr<Ring> ring,
                                std::vector<usrbio::Sqe> batch);
  void HelperLoop();

  FuseFs& fs_;
  const UsrbioOptions options_;
  std::string address_;
  int listen_fd_ = -1;
  std::thread accept_thread_;
  std::unique_ptr<Gate> gate_;
  std::mutex mu_;
  std::condition_variable conns_cv_;
  std::vector<std::shared_ptr<Connection>> conns_;  // each served by a detached thread
  bool stopping_ = false;
  std::mutex helper_mu_;
  std::condition_variable helper_cv_;
  std::deque<std::function<void()>> helper_queue_;
  bool helper_stop_ = false;
  std::thread helper_;
};

}  // namespace hf3fs::fuse
