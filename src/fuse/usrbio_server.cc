#include "fuse/usrbio_server.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>
#include <map>
#include <optional>
#include <set>

#include "common/logging.h"
#include "fuse/hf3fs_ioctl.h"
#include "usrbio/hf3fs_usrbio.h"
#include "usrbio/usrbio_protocol.h"

namespace hf3fs::fuse {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;
using net::awaitable;
using Clock = std::chrono::steady_clock;
using namespace usrbio;

namespace {

constexpr long kFuseMagic = 0x65735546;
constexpr size_t kMaxPerConnection = 4096;  // iovs, rings and files each

// Shared memory a process handed over, mapped here. An iov is a POSIX shm object, which cannot be
// sealed: if its owner truncates it, touching the lost pages raises SIGBUS in the daemon. Every
// mapping is listed in a table the SIGBUS handler can read without locks; a fault inside one
// replaces the whole mapping with anonymous memory (the instruction then completes harmlessly)
// and marks it broken, and I/Os on it complete with -EFAULT. Faults anywhere else go to the
// previous handler.
constexpr size_t kMaxMappings = 1 << 15;
struct MappingSlot {
  std::atomic<uintptr_t> base{0};
  std::atomic<size_t> size{0};
  std::atomic<bool> broken{false};
};
MappingSlot g_mappings[kMaxMappings];
struct sigaction g_previous_sigbus;
std::once_flag g_sigbus_once;

void OnSigbus(int sig, siginfo_t* info, void* ucontext) {
  auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
  for (auto& slot : g_mappings) {
    uintptr_t base = slot.base.load(std::memory_order_acquire);
    size_t size = slot.size.load(std::memory_order_acquire);
    if (base == 0 || addr < base || addr >= base + size) continue;
    // mmap is a plain system call here (async-signal-safe in practice).
    void* p = mmap(reinterpret_cast<void*>(base), size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (p != MAP_FAILED) {
      slot.broken.store(true, std::memory_order_release);
      return;
    }
    break;
  }
  // Not ours: let the previous disposition handle the fault when the instruction repeats.
  if (g_previous_sigbus.sa_flags & SA_SIGINFO) {
    if (g_previous_sigbus.sa_sigaction) return g_previous_sigbus.sa_sigaction(sig, info, ucontext);
  } else if (g_previous_sigbus.sa_handler != SIG_DFL && g_previous_sigbus.sa_handler != SIG_IGN) {
    return g_previous_sigbus.sa_handler(sig);
  }
  signal(SIGBUS, SIG_DFL);
}

void InstallSigbusHandler() {
  std::call_once(g_sigbus_once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = OnSigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &g_previous_sigbus);
  });
}

struct Mapping {
  Mapping(void* b, size_t s) : base(static_cast<uint8_t*>(b)), size(s) {
    for (size_t i = 0; i < kMaxMappings; ++i) {
      uintptr_t expected = 0;
      if (g_mappings[i].base.load(std::memory_order_relaxed) == 0) {
        g_mappings[i].size.store(size, std::memory_order_release);
        g_mappings[i].broken.store(false, std::memory_order_release);
        if (g_mappings[i].base.compare_exchange_strong(expected, reinterpret_cast<uintptr_t>(base),
                                                       std::memory_order_acq_rel)) {
          slot = &g_mappings[i];
          break;
        }
      }
    }
  }
  ~Mapping() {
    if (slot) slot->base.store(0, std::memory_order_release);
    munmap(base, size);
  }
  // The owner truncated the memory under us (see OnSigbus).
  bool broken() const { return slot && slot->broken.load(std::memory_order_acquire); }
  uint8_t* const base;
  const size_t size;
  MappingSlot* slot = nullptr;  // null when the table is full (then a fault is fatal, as before)
};

// The doorbell a ring comes with must be an eventfd: anything else would make the ring's wait
// for readiness fail at once, over and over.
bool IsEventFd(int fd) {
  char link[64];
  ssize_t n = readlink(fmt::format("/proc/self/fd/{}", fd).c_str(), link, sizeof(link) - 1);
  if (n <= 0) return false;
  link[n] = '\0';
  return std::strcmp(link, "anon_inode:[eventfd]") == 0;
}

int64_t NegErrno(const Status& s) {
  int e = s.errno_value();
  return -(e == 0 ? EIO : e);
}

}  // namespace

// A registered file: a reference on the process's FUSE handle (and its write session), taken by
// HF3FS_IOC_USRBIO_BIND. The daemon keeps no descriptor of its own mount: one would make its own
// exit wait on a flush only it could answer (a daemon killed with SIGKILL left a hung mount).
struct UsrbioFile {
  UsrbioFile(FuseFs& f, BoundFile b) : fs(f), bound(std::move(b)) {}
  ~UsrbioFile() { fs.UnbindHandle(bound.handle); }  // the handle's deferred release, if due
  FuseFs& fs;
  BoundFile bound;
};

struct UsrbioServer::Connection {
  int sock = -1;
  pid_t peer = 0;
  std::mutex mu;  // guards the maps
  std::map<uint32_t, std::shared_ptr<Mapping>> iovs;
  std::map<uint32_t, std::shared_ptr<UsrbioFile>> files;
  std::map<uint32_t, std::shared_ptr<Ring>> rings;
  uint32_t next_handle = 1;

  // Files `value` in `map` under a fresh handle; 0 when the map is full (kMaxPerConnection).
  template <typename Map, typename V>
  uint32_t Add(Map& map, V value) {
    std::lock_guard lock(mu);
    if (map.size() >= kMaxPerConnection) return 0;
    uint32_t h = next_handle++;
    map[h] = std::move(value);
    return h;
  }
};

struct UsrbioServer::Ring {
  std::shared_ptr<Mapping> mem;
  RingHeader* hdr = nullptr;
  Sqe* sq = nullptr;
  Cqe* cq = nullptr;
  uint32_t entries = 0;
  bool for_read = true;
  int64_t io_depth = 0;
  uint32_t timeout_ms = 0;
  int priority = HF3FS_IOR_PRIO_NORMAL;
  uint64_t flags = 0;
  asio::io_context* ctx = nullptr;
  std::unique_ptr<asio::posix::stream_descriptor> ev;  // the eventfd submit_ios bumps
  std::atomic<bool> stopping{false};
  std::mutex mu;  // guards active, loop_done
  std::condition_variable cv;
  uint32_t active = 0;  // batches running
  bool loop_done = false;
  std::mutex cq_mu;  // completion producers
};

// Batches in flight across all rings; waiters are admitted by ring priority, FIFO within one.
// Executors are single-threaded io_contexts: a hand-over posted to a waiter runs after it has
// suspended (as in net::AsyncMutex).
class UsrbioServer::Gate {
 public:
  explicit Gate(uint32_t limit) : limit_(std::max<uint32_t>(limit, 1)) {}

  awaitable<void> Acquire(int priority) {
    std::shared_ptr<asio::steady_timer> timer;
    {
      std::lock_guard lock(mu_);
      bool queued = false;
      for (auto& q : waiters_) queued = queued || !q.empty();
      if (active_ < limit_ && !queued) {
        ++active_;
        co_return;
      }
      timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor,
                                                   asio::steady_timer::time_point::max());
      waiters_[std::clamp(priority, 0, 2)].push_back(timer);
    }
    boost::system::error_code ec;
    co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));  // handed over
  }

  void Release() {
    std::shared_ptr<asio::steady_timer> next;
    {
      std::lock_guard lock(mu_);
      for (auto& q : waiters_) {
        if (!q.empty()) {
          next = q.front();
          q.pop_front();
          break;
        }
      }
      if (!next) --active_;
    }
    if (next) asio::post(next->get_executor(), [next] { next->cancel(); });
  }

 private:
  const uint32_t limit_;
  std::mutex mu_;
  uint32_t active_ = 0;
  std::deque<std::shared_ptr<asio::steady_timer>> waiters_[3];
};

UsrbioServer::UsrbioServer(FuseFs& fs, UsrbioOptions options)
    : fs_(fs), options_(options), gate_(std::make_unique<Gate>(options.max_batches)) {}

UsrbioServer::~UsrbioServer() { Stop(); }

Status UsrbioServer::Start() {
  uint8_t rnd[8];
  if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
    return Status(StatusCode::kInternal, "getrandom failed");
  }
  std::string name = fmt::format("hf3fs-usrbio.{}.{:02x}{:02x}{:02x}{:02x}", getpid(), rnd[0],
                                 rnd[1], rnd[2], rnd[3]);
  listen_fd_ = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return MakeStatus(StatusCode::kIoError, "usrbio socket: {}", strerror(errno));
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path + 1, name.data(), name.size());  // abstract: no file to clean up
  auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&sa), len) != 0 || listen(listen_fd_, 64) != 0) {
    Status s = MakeStatus(StatusCode::kIoError, "usrbio socket @{}: {}", name, strerror(errno));
    close(listen_fd_);
    listen_fd_ = -1;
    return s;
  }
  address_ = "@" + name;
  InstallSigbusHandler();
  helper_ = std::thread([this] { HelperLoop(); });
  accept_thread_ = std::thread([this] { AcceptLoop(); });
  fs_.SetUsrbio(this);
  HF3FS_LOG_INFO("usrbio.listening socket={}", address_);
  return Status::Ok();
}

void UsrbioServer::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || listen_fd_ < 0) return;
    stopping_ = true;
  }
  fs_.SetUsrbio(nullptr);
  shutdown(listen_fd_, SHUT_RDWR);
  if (accept_thread_.joinable()) accept_thread_.join();
  close(listen_fd_);
  {
    std::unique_lock lock(mu_);
    for (auto& c : conns_) shutdown(c->sock, SHUT_RDWR);  // each Serve ends as on EOF
    conns_cv_.wait(lock, [this] { return conns_.empty(); });
  }
  {
    std::lock_guard lock(helper_mu_);
    helper_stop_ = true;
  }
  helper_cv_.notify_all();
  if (helper_.joinable()) helper_.join();
}

void UsrbioServer::Defer(std::function<void()> fn) {
  {
    std::lock_guard lock(helper_mu_);
    helper_queue_.push_back(std::move(fn));
  }
  helper_cv_.notify_one();
}

void UsrbioServer::HelperLoop() {
  std::unique_lock lock(helper_mu_);
  for (;;) {
    helper_cv_.wait(lock, [this] { return helper_stop_ || !helper_queue_.empty(); });
    if (helper_queue_.empty()) return;  // stopping and drained
    auto fn = std::move(helper_queue_.front());
    helper_queue_.pop_front();
    lock.unlock();
    fn();
    lock.lock();
  }
}

void UsrbioServer::AcceptLoop() {
  for (;;) {
    int s = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (s < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) {
        HF3FS_LOG_WARN("usrbio.accept_failed error=\"{}\"", strerror(errno));
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      return;  // shut down
    }
    auto conn = std::make_shared<Connection>();
    conn->sock = s;
    ucred cred{};
    socklen_t clen = sizeof(cred);
    if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0) conn->peer = cred.pid;
    std::lock_guard lock(mu_);
    if (stopping_) {
      close(s);
      return;
    }
    conns_.push_back(conn);
    std::thread([this, conn] { Serve(conn); }).detach();
    HF3FS_LOG_INFO("usrbio.connected pid={}", conn->peer);
  }
}

void UsrbioServer::Serve(std::shared_ptr<Connection> conn) {
  for (;;) {
    CtlReq req;
    iovec io{&req, sizeof(req)};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
    msghdr msg{};
    msg.msg_iov = &io;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n = recvmsg(conn->sock, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the process closed the connection (or died)
    std::vector<int> fds;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; ++i) {
          int fd;
          std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
          fds.push_back(fd);
        }
      }
    }
    CtlRsp rsp;
    auto fail = [&rsp](int e) { rsp.result = -e; };
    auto take_fd = [&fds](size_t i) {
      int fd = fds[i];
      fds[i] = -1;
      return fd;
    };
    if (n != static_cast<ssize_t>(sizeof(req)) || req.magic != kCtlMagic ||
        (msg.msg_flags & MSG_CTRUNC)) {
      fail(EINVAL);
    } else {
      switch (req.op) {
        case kHello:
          if (req.a != kProtocolVersion) {
            fail(EPROTONOSUPPORT);
          } else {
            rsp.value = static_cast<uint64_t>(getpid());
          }
          break;
        case kRegIov: {
          struct stat st;
          struct statfs sfs;
          // Only shared memory (tmpfs): a mapped file of some other file system, worst of all
          // of this very mount, would fault into I/O the io threads might wait on.
          if (fds.size() != 1 || req.a == 0 || fstat(fds[0], &st) != 0 || !S_ISREG(st.st_mode) ||
              static_cast<uint64_t>(st.st_size) < req.a || fstatfs(fds[0], &sfs) != 0 ||
              sfs.f_type != TMPFS_MAGIC) {
            fail(EINVAL);
            break;
          }
          void* p = mmap(nullptr, req.a, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
          if (p == MAP_FAILED) {
            fail(errno == ENOMEM ? ENOMEM : EINVAL);
            break;
          }
          uint32_t h = conn->Add(conn->iovs, std::make_shared<Mapping>(p, req.a));
          if (h == 0) fail(EMFILE);
          rsp.value = h;
          break;
        }
        case kDeregIov: {
          std::lock_guard lock(conn->mu);
          // In-flight batches keep their own reference: the mapping goes with the last one.
          if (conn->iovs.erase(static_cast<uint32_t>(req.a)) == 0) fail(EINVAL);
          break;
        }
        case kRegRing: {
          uint64_t entries = req.a;
          auto io_depth = static_cast<int64_t>(req.c);
          struct stat st;
          int seals = fds.size() == 2 ? fcntl(fds[0], F_GET_SEALS) : -1;
          if (fds.size() != 2 || entries == 0 || entries > HF3FS_IOR_MAX_ENTRIES ||
              io_depth > static_cast<int64_t>(entries) ||
              io_depth < -static_cast<int64_t>(entries) || fstat(fds[0], &st) != 0 ||
              static_cast<uint64_t>(st.st_size) < RingBytes(static_cast<uint32_t>(entries)) ||
              seals < 0 || !(seals & F_SEAL_SHRINK) || !IsEventFd(fds[1])) {
            // (A ring that could shrink under the daemon's mapping would fault it: rings are
            // sealed memfds.)
            fail(EINVAL);
            break;
          }
          size_t bytes = RingBytes(static_cast<uint32_t>(entries));
          void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
          if (p == MAP_FAILED) {
            fail(ENOMEM);
            break;
          }
          auto ring = std::make_shared<Ring>();
          ring->mem = std::make_shared<Mapping>(p, bytes);
          ring->hdr = static_cast<RingHeader*>(p);
          if (ring->hdr->magic != kRingMagic || ring->hdr->version != kProtocolVersion ||
              ring->hdr->entries != entries) {
            fail(EINVAL);
            break;
          }
          ring->sq = SqeArray(p);
          ring->cq = CqeArray(p, static_cast<uint32_t>(entries));
          ring->entries = static_cast<uint32_t>(entries);
          ring->for_read = (req.b & 1) != 0;
          ring->io_depth = io_depth;
          ring->timeout_ms = static_cast<uint32_t>(req.d);
          ring->priority = std::clamp(static_cast<int>(req.d >> 32), 0, 2);
          ring->flags = req.e;
          ring->ctx = &fs_.client().pool().Next();
          ring->ev = std::make_unique<asio::posix::stream_descriptor>(*ring->ctx, take_fd(1));
          rsp.value = conn->Add(conn->rings, ring);
          if (rsp.value == 0) {
            fail(EMFILE);
            break;
          }
          asio::co_spawn(*ring->ctx, RingLoop(conn, ring), asio::detached);
          break;
        }
        case kDeregRing: {
          std::shared_ptr<Ring> ring;
          {
            std::lock_guard lock(conn->mu);
            auto it = conn->rings.find(static_cast<uint32_t>(req.a));
            if (it != conn->rings.end()) {
              ring = it->second;
              conn->rings.erase(it);
            }
          }
          if (!ring) {
            fail(EINVAL);
          } else {
            StopRing(ring);  // the answer promises the daemon no longer touches the ring
          }
          break;
        }
        case kRegFd: {
          struct statfs sfs;
          hf3fs_ioc_usrbio_bind b{};
          if (fds.size() != 1 || fstatfs(fds[0], &sfs) != 0 || sfs.f_type != kFuseMagic) {
            fail(EINVAL);
            break;
          }
          // The bind ioctl reaches our own FUSE handler with the file's handle (a descriptor of
          // another mount answers ENOTTY or EPERM).
          if (ioctl(fds[0], HF3FS_IOC_USRBIO_BIND, &b) != 0) {
            fail(errno == EBADF ? EBADF : EINVAL);
            break;
          }
          auto bound = fs_.TakeBinding(b.token);
          if (!bound) {
            fail(EINVAL);
            break;
          }
          // (Our copy of the descriptor is closed below, from this thread: its FLUSH is answered
          // by the FUSE threads; the handle lives on through the binding's reference.)
          rsp.value = conn->Add(conn->files, std::make_shared<UsrbioFile>(fs_, std::move(*bound)));
          if (rsp.value == 0) fail(EMFILE);  // (the binding's reference went with the file)
          rsp.value2 = b.inode;
          break;
        }
        case kDeregFd: {
          std::lock_guard lock(conn->mu);
          if (conn->files.erase(static_cast<uint32_t>(req.a)) == 0) fail(EINVAL);
          break;
        }
        default:
          fail(EINVAL);
      }
    }
    for (int fd : fds) {
      if (fd >= 0) close(fd);
    }
    if (send(conn->sock, &rsp, sizeof(rsp), MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof(rsp))) {
      break;
    }
  }
  Cleanup(*conn);
}

void UsrbioServer::Cleanup(Connection& conn) {
  std::map<uint32_t, std::shared_ptr<Ring>> rings;
  size_t files, iovs;
  {
    std::lock_guard lock(conn.mu);
    rings.swap(conn.rings);
  }
  for (auto& [h, ring] : rings) StopRing(ring);
  {
    std::lock_guard lock(conn.mu);
    files = conn.files.size();
    iovs = conn.iovs.size();
    conn.files.clear();  // handle references dropped (a handle the kernel released ends now)
    conn.iovs.clear();
  }
  HF3FS_LOG_INFO("usrbio.disconnected pid={} rings={} files={} iovs={}", conn.peer, rings.size(),
                 files, iovs);
  std::lock_guard lock(mu_);
  close(conn.sock);
  std::erase_if(conns_, [&conn](const auto& c) { return c.get() == &conn; });
  conns_cv_.notify_all();  // Stop waits for the last one
}

void UsrbioServer::StopRing(const std::shared_ptr<Ring>& ring) {
  ring->stopping = true;
  asio::post(*ring->ctx, [ring] { ring->ev->cancel(); });
  std::unique_lock lock(ring->mu);
  ring->cv.wait(lock, [&ring] { return ring->loop_done && ring->active == 0; });
}

awaitable<void> UsrbioServer::RingLoop(std::shared_ptr<Connection> conn,
                                       std::shared_ptr<Ring> ring) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex);
  uint64_t head = ring->hdr->sq_head.load(std::memory_order_relaxed);
  std::optional<Clock::time_point> first_seen;
  const auto timeout = std::chrono::milliseconds(ring->timeout_ms);
  while (!ring->stopping) {
    uint64_t tail = ring->hdr->sq_tail.load(std::memory_order_acquire);
    uint64_t diff = tail - head;
    if (diff > ring->entries) {
      HF3FS_LOG_WARN("usrbio.ring_corrupt pid={} sq_head={} sq_tail={} entries={}: ring stopped",
                     conn->peer, head, tail, ring->entries);
      break;
    }
    auto avail = static_cast<uint32_t>(diff);
    auto now = Clock::now();
    uint32_t n = 0;
    if (avail > 0) {
      if (!first_seen) first_seen = now;
      bool waited = now - *first_seen >= timeout;
      if (ring->io_depth == 0) {
        n = avail;
      } else if (ring->io_depth > 0) {
        auto depth = static_cast<uint32_t>(ring->io_depth);
        n = avail >= depth ? depth : (ring->timeout_ms > 0 && waited ? avail : 0);
      } else {
        auto limit = static_cast<uint32_t>(-ring->io_depth);
        n = avail >= limit ? limit : (waited ? avail : 0);
      }
    }
    if (n == 0) {
      // Sleep until submit_ios, the batch deadline or the next poll.
      auto deadline = now + options_.poll_interval;
      if (avail > 0 && ring->timeout_ms > 0) deadline = std::min(deadline, *first_seen + timeout);
      timer.expires_at(deadline);
      co_await (ring->ev->async_wait(asio::posix::descriptor_base::wait_read,
                                     asio::as_tuple(asio::use_awaitable)) ||
                timer.async_wait(asio::as_tuple(asio::use_awaitable)));
      uint64_t v;
      [[maybe_unused]] ssize_t r = read(ring->ev->native_handle(), &v, sizeof(v));
      continue;
    }
    first_seen.reset();
    std::vector<Sqe> batch(n);
    for (uint32_t i = 0; i < n; ++i) batch[i] = ring->sq[(head + i) % ring->entries];
    head += n;
    ring->hdr->sq_head.store(head, std::memory_order_release);
    co_await gate_->Acquire(ring->priority);
    {
      std::lock_guard lock(ring->mu);
      ++ring->active;
    }
    asio::co_spawn(ex, RunBatch(conn, ring, std::move(batch)), [this, ring](std::exception_ptr e) {
      gate_->Release();
      if (e) HF3FS_LOG_ERROR("usrbio.batch_threw");
      std::lock_guard lock(ring->mu);
      --ring->active;
      ring->cv.notify_all();
    });
  }
  std::lock_guard lock(ring->mu);
  ring->loop_done = true;
  ring->cv.notify_all();
}

awaitable<void> UsrbioServer::RunBatch(std::shared_ptr<Connection> conn, std::shared_ptr<Ring> ring,
                                       std::vector<Sqe> batch) {
  const size_t n = batch.size();
  std::vector<int64_t> results(n, -EINVAL);
  std::vector<std::shared_ptr<Mapping>> iovs(n);
  std::vector<std::shared_ptr<UsrbioFile>> files(n);
  {
    std::lock_guard lock(conn->mu);
    for (size_t i = 0; i < n; ++i) {
      auto it = conn->iovs.find(batch[i].iov);
      if (it != conn->iovs.end()) iovs[i] = it->second;
      auto ft = conn->files.find(batch[i].file);
      if (ft != conn->files.end()) files[i] = ft->second;
    }
  }
  // Every field came from memory the application can write: check it all.
  std::vector<size_t> valid;
  for (size_t i = 0; i < n; ++i) {
    const Sqe& e = batch[i];
    bool read = (e.flags & kSqeRead) != 0;
    if (e.index >= ring->entries || read != ring->for_read || !iovs[i] || e.len == 0 ||
        e.len > HF3FS_IO_MAX_BYTES || e.iov_offset >= iovs[i]->size ||
        e.len > iovs[i]->size - e.iov_offset || e.file_offset > (1ull << 62) || !files[i]) {
      results[i] = -EINVAL;  // (an unregistered file too: the library never sends one)
    } else if (read ? !files[i]->bound.readable : !files[i]->bound.writable) {
      results[i] = -EBADF;  // as read(2)/write(2) on a descriptor not open for it
    } else if (iovs[i]->broken()) {
      results[i] = -EFAULT;
    } else {
      valid.push_back(i);
    }
  }
  // Bytes this mount buffered from FUSE writes go first (read-your-writes, write ordering).
  std::set<InodeState*> seen;
  for (size_t i : valid) {
    auto& st = *files[i]->bound.state;
    if (!seen.insert(&st).second) continue;
    bool buffered;
    {
      std::lock_guard lock(st.mu);
      buffered = !st.buf.empty() || st.flushing;
    }
    if (buffered) {
      Status s = co_await fs_.FlushBuffer(st);
      if (!s.ok()) HF3FS_LOG_WARN("usrbio.flush_failed inode={} error=\"{}\"", st.id, s);
    }
  }
  // Completions are posted as soon as their part of the batch is done (in submission order
  // within it). After a deregistration nobody reads them; our mapping of the ring is still
  // valid, so posting is harmless.
  auto post = [&ring, &batch, &results](const std::vector<size_t>& which) {
    std::lock_guard lock(ring->cq_mu);
    for (size_t i : which) {
      uint64_t pos = ring->hdr->cq_tail.load(std::memory_order_relaxed);
      Cqe& c = ring->cq[pos % ring->entries];
      c.index = static_cast<int32_t>(batch[i].index);
      c.reserved = 0;
      c.result = results[i];
      ring->hdr->cq_tail.store(pos + 1, std::memory_order_release);
      sem_post(&ring->hdr->cq_sem);
    }
  };
  {
    std::vector<size_t> bad;
    for (size_t i = 0, k = 0; i < n; ++i) {
      if (k < valid.size() && valid[k] == i) {
        ++k;
      } else {
        bad.push_back(i);
      }
    }
    if (!bad.empty()) post(bad);
  }
  // The batch is cut into groups of up to group_bytes that run at once: small I/Os share storage
  // requests (one per node per group), large ones each get their own and complete on their own,
  // so a slow piece does not hold back the rest of the batch.
  std::vector<std::vector<size_t>> groups;
  uint64_t group_bytes = 0;
  for (size_t i : valid) {
    if (groups.empty() || group_bytes + batch[i].len > options_.group_bytes) {
      groups.emplace_back();
      group_bytes = 0;
    }
    groups.back().push_back(i);
    group_bytes += batch[i].len;
  }
  auto& io = fs_.client().io();
  auto run = [&](const std::vector<size_t>& group) -> awaitable<void> {
    if (ring->for_read) {
      std::vector<client::FileIo::BatchRead> reads(group.size());
      std::vector<meta::Inode> inodes(group.size());  // (copies: the state's may change)
      for (size_t k = 0; k < group.size(); ++k) {
        const Sqe& e = batch[group[k]];
        auto& st = *files[group[k]]->bound.state;
        {
          std::lock_guard lock(st.mu);
          inodes[k] = st.inode;
          reads[k].inode = &inodes[k];
          reads[k].length = std::max(st.inode.length(), st.written_end);
        }
        reads[k].offset = e.file_offset;
        reads[k].out = std::span<uint8_t>(iovs[group[k]]->base + e.iov_offset, e.len);
      }
      co_await io.ReadMany(reads, (ring->flags & HF3FS_IOR_ALLOW_READ_UNCOMMITTED) != 0);
      for (size_t k = 0; k < group.size(); ++k) {
        if (iovs[group[k]]->broken()) {
          results[group[k]] = -EFAULT;  // the buffer was truncated while we filled it
        } else if (!reads[k].status.ok()) {
          results[group[k]] = NegErrno(reads[k].status);
        } else if (reads[k].hole && (ring->flags & HF3FS_IOR_FORBID_READ_HOLES)) {
          results[group[k]] = -ENODATA;
        } else {
          results[group[k]] = static_cast<int64_t>(reads[k].bytes);
        }
      }
      post(group);
      co_return;
    }
    auto ex = co_await asio::this_coro::executor;
    // The chains written are recorded like those of FUSE writes, so fsync(2) covers them.
    auto one = [this, &io](InodeState* st, meta::Inode inode, uint64_t off,
                           std::span<const uint8_t> d) -> awaitable<Status> {
      std::vector<ChainId> chains;
      Status s = co_await io.Write(inode, off, d, &chains);
      fs_.NoteWritten(*st, chains);
      co_return s;
    };
    std::vector<decltype(asio::co_spawn(ex, one(nullptr, {}, 0, {}), asio::deferred))> ops;
    for (size_t i : group) {
      const Sqe& e = batch[i];
      meta::Inode inode;
      {
        auto& st = *files[i]->bound.state;
        std::lock_guard lock(st.mu);
        inode = st.inode;
      }
      ops.push_back(asio::co_spawn(ex,
                                   one(files[i]->bound.state.get(), std::move(inode), e.file_offset,
                                       {iovs[i]->base + e.iov_offset, e.len}),
                                   asio::deferred));
    }
    auto [order, excs, statuses] =
        co_await asio::experimental::make_parallel_group(std::move(ops))
            .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
    std::set<uint64_t> written;
    for (size_t k = 0; k < group.size(); ++k) {
      size_t i = group[k];
      if (excs[k]) {
        results[i] = -EIO;
      } else if (iovs[i]->broken()) {
        results[i] = -EFAULT;  // the data came (partly) from the anonymous stand-in
      } else if (!statuses[k].ok()) {
        results[i] = NegErrno(statuses[k]);
      } else {
        results[i] = static_cast<int64_t>(batch[i].len);
        auto& st = *files[i]->bound.state;
        fs_.NoteExternalWrite(st, batch[i].file_offset + batch[i].len);
        written.insert(st.id);
      }
    }
    for (uint64_t ino : written) Defer([this, ino] { fs_.InvalidatePages(ino); });
    post(group);
  };
  if (groups.size() == 1) {
    co_await run(groups[0]);
  } else if (groups.size() > 1) {
    auto ex = co_await asio::this_coro::executor;
    std::vector<decltype(asio::co_spawn(ex, run(groups[0]), asio::deferred))> ops;
    for (const auto& g : groups) ops.push_back(asio::co_spawn(ex, run(g), asio::deferred));
    co_await asio::experimental::make_parallel_group(std::move(ops))
        .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
  }
}

}  // namespace hf3fs::fuse
