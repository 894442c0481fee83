// libhf3fs_usrbio: the application side of USRBIO (hf3fs_usrbio.h, docs/design/0008-usrbio.md).
//
// Per process and mount daemon one control connection (a SOCK_SEQPACKET Unix socket found through
// HF3FS_IOC_USRBIO_INFO); iovs are POSIX shm objects and rings memfds, both handed to the daemon
// as file descriptors. The data path never touches the socket: prep_io writes a submission entry
// into the ring, submit_ios bumps the ring's eventfd, and completions are counted by a
// process-shared semaphore in the ring.
#include "usrbio/hf3fs_usrbio.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fuse/hf3fs_ioctl.h"
#include "usrbio/usrbio_protocol.h"

namespace {

using namespace hf3fs::usrbio;

#ifndef FUSE_SUPER_MAGIC
constexpr long kFuseMagic = 0x65735546;
#else
constexpr long kFuseMagic = FUSE_SUPER_MAGIC;
#endif

// One control connection to a mount daemon.
struct Conn {
  std::string address;  // HF3FS_IOC_USRBIO_INFO's socket
  pid_t pid = 0;        // the process that connected (a forked child connects afresh)
  int sock = -1;
  std::mutex mu;  // one request at a time

  ~Conn() {
    // In a forked child the socket is the parent's connection: leave it to the parent.
    if (sock >= 0 && pid == getpid()) close(sock);
  }

  // Sends `req` (with `fds` attached) and waits for the answer. Returns the answer's result, or
  // -ENOTCONN when the daemon is gone.
  int Call(const CtlReq& req, const int* fds, int nfds, CtlRsp* rsp) {
    std::lock_guard lock(mu);
    msghdr msg{};
    iovec io{const_cast<CtlReq*>(&req), sizeof(req)};
    msg.msg_iov = &io;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
    if (nfds > 0) {
      msg.msg_control = control;
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
      std::memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    ssize_t n;
    do {
      n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n != static_cast<ssize_t>(sizeof(req))) return -ENOTCONN;
    do {
      n = recv(sock, rsp, sizeof(*rsp), 0);
    } while (n < 0 && errno == EINTR);
    if (n != static_cast<ssize_t>(sizeof(*rsp))) return -ENOTCONN;
    return rsp->result;
  }
};

// Ends a registration (kDeregIov, kDeregRing, kDeregFd). In a forked child the connection is the
// parent's: nothing to end there.
void Deregister(Conn& conn, CtlOp op, uint32_t handle) {
  if (conn.pid != getpid()) return;
  CtlReq req;
  req.op = op;
  req.a = handle;
  CtlRsp rsp;
  conn.Call(req, nullptr, 0, &rsp);
}

struct Registry {
  std::mutex mu;
  std::map<std::string, std::shared_ptr<Conn>> conns;  // by daemon socket address
  struct File {
    std::shared_ptr<Conn> conn;
    uint32_t handle;
    uint64_t inode;
  };
  std::map<int, File> files;  // registered fds of this process
  pid_t pid = 0;

  // After a fork the parent's connections and registrations are not the child's.
  void ForgetIfForked() {
    if (pid != getpid()) {
      conns.clear();
      files.clear();
      pid = getpid();
    }
  }
};

Registry& Reg() {
  static auto* r = new Registry;  // never destroyed: calls may come from static destructors
  return *r;
}

int InfoOf(int fd, hf3fs_ioc_usrbio_info* info) {
  struct statfs fs;
  if (fstatfs(fd, &fs) != 0) return -errno;
  if (fs.f_type != kFuseMagic) return -EINVAL;
  if (ioctl(fd, HF3FS_IOC_USRBIO_INFO, info) != 0) return errno == EBADF ? -EBADF : -EINVAL;
  info->socket[sizeof(info->socket) - 1] = '\0';
  return 0;
}

int Connect(const std::string& address, std::shared_ptr<Conn>* out) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  socklen_t len;
  if (address.size() >= sizeof(sa.sun_path) || address.empty()) return -EINVAL;
  if (address[0] == '@') {
    std::memcpy(sa.sun_path + 1, address.data() + 1, address.size() - 1);
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size());
  } else {
    std::memcpy(sa.sun_path, address.data(), address.size());
    len = static_cast<socklen_t>(sizeof(sa));
  }
  int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (s < 0) return -errno;
  if (connect(s, reinterpret_cast<sockaddr*>(&sa), len) != 0) {
    close(s);
    return -ENOTCONN;
  }
  auto conn = std::make_shared<Conn>();
  conn->address = address;
  conn->pid = getpid();
  conn->sock = s;
  CtlReq req;
  req.op = kHello;
  req.a = kProtocolVersion;
  CtlRsp rsp;
  int rc = conn->Call(req, nullptr, 0, &rsp);
  if (rc != 0) return rc;
  *out = std::move(conn);
  return 0;
}

// The connection to the daemon serving `fd` (any fd on the mount).
int ConnOf(int fd, std::shared_ptr<Conn>* out) {
  hf3fs_ioc_usrbio_info info;
  int rc = InfoOf(fd, &info);
  if (rc != 0) return rc;
  auto& reg = Reg();
  std::lock_guard lock(reg.mu);
  reg.ForgetIfForked();
  auto& slot = reg.conns[info.socket];
  if (!slot) {
    rc = Connect(info.socket, &slot);
    if (rc != 0) {
      reg.conns.erase(info.socket);
      return rc;
    }
  }
  *out = slot;
  return 0;
}

int ConnOfMount(const char* mount, std::shared_ptr<Conn>* out) {
  if (!mount) return -EINVAL;
  int fd = open(mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? -ENOENT : -EINVAL;
  int rc = ConnOf(fd, out);
  close(fd);
  return rc;
}

void CopyMount(char (&dst)[256], const char* src) {
  std::snprintf(dst, sizeof(dst), "%s", src ? src : "");
}

std::string ShmName(const uint8_t id[16]) {
  static const char* hex = "0123456789abcdef";
  std::string name = "/hf3fs-iov-";
  for (int i = 0; i < 16; ++i) {
    name += hex[id[i] >> 4];
    name += hex[id[i] & 15];
  }
  return name;
}

void PreferNode(void* base, size_t size, int numa) {
  if (numa < 0 || numa >= 1024) return;
  // MPOL_PREFERRED: a preference only; failure (no NUMA support) is not an error.
  unsigned long mask[1024 / (8 * sizeof(unsigned long))] = {};
  mask[numa / (8 * sizeof(unsigned long))] |= 1ul << (numa % (8 * sizeof(unsigned long)));
  constexpr int kMpolPreferred = 1;
  (void)syscall(SYS_mbind, base, size, kMpolPreferred, mask, 1024, 0);
}

struct Iov {
  std::shared_ptr<Conn> conn;
  uint32_t handle = 0;
  uint8_t* base = nullptr;
  size_t size = 0;
  bool wrapped = false;
};

struct Ring {
  std::shared_ptr<Conn> conn;
  uint32_t handle = 0;
  void* base = nullptr;
  size_t bytes = 0;
  RingHeader* hdr = nullptr;
  Sqe* sq = nullptr;
  Cqe* cq = nullptr;
  uint32_t entries = 0;
  int evfd = -1;
  bool for_read = true;
  std::mutex prep_mu;           // producers
  std::vector<int32_t> free;    // free I/O indices
  std::vector<const void*> userdata;
  std::mutex reap_mu;           // consumers
};

// Registers the shm `fd` as an iov and fills `iov`. Takes ownership of nothing.
int RegisterIov(hf3fs_iov* iov, const std::shared_ptr<Conn>& conn, int fd, const uint8_t id[16],
                uint8_t* base, size_t size, size_t block_size, int numa, bool wrapped,
                const char* mount) {
  CtlReq req;
  req.op = kRegIov;
  req.a = size;
  req.b = block_size;
  std::memcpy(req.id, id, 16);
  CtlRsp rsp;
  int rc = conn->Call(req, &fd, 1, &rsp);
  if (rc != 0) return rc;
  auto* h = new Iov{conn, static_cast<uint32_t>(rsp.value), base, size, wrapped};
  iov->base = base;
  iov->iovh = h;
  std::memcpy(iov->id, id, 16);
  CopyMount(iov->mount_point, mount);
  iov->size = size;
  iov->block_size = block_size;
  iov->numa = numa;
  return 0;
}

bool SizesOk(size_t size, size_t block_size) {
  if (size == 0) return false;
  if (block_size != 0 && size % block_size != 0) return false;
  return true;
}

int OpenAndRegister(hf3fs_iov* iov, const uint8_t id[16], const char* mount, size_t size,
                    size_t block_size, int numa, void* wrap_buf) {
  if (!iov || !id || !SizesOk(size, block_size)) return -EINVAL;
  std::shared_ptr<Conn> conn;
  int rc = ConnOfMount(mount, &conn);
  if (rc != 0) return rc;
  int fd = shm_open(ShmName(id).c_str(), O_RDWR | O_CLOEXEC, 0);
  if (fd < 0) return -errno;
  struct stat st;
  if (fstat(fd, &st) != 0 || static_cast<size_t>(st.st_size) < size) {
    close(fd);
    return -EINVAL;
  }
  uint8_t* base = static_cast<uint8_t*>(wrap_buf);
  if (!base) {
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      rc = -errno;
      close(fd);
      return rc;
    }
    base = static_cast<uint8_t*>(p);
    PreferNode(base, size, numa);
  }
  rc = RegisterIov(iov, conn, fd, id, base, size, block_size, numa, wrap_buf != nullptr, mount);
  close(fd);
  if (rc != 0 && !wrap_buf) munmap(base, size);
  return rc;
}

}  // namespace

extern "C" {

bool hf3fs_is_hf3fs(int fd) {
  hf3fs_ioc_usrbio_info info;
  return InfoOf(fd, &info) == 0;
}

int hf3fs_extract_mount_point(char* hf3fs_mount_point, int size, const char* path) {
  if (!hf3fs_mount_point || size <= 0 || !path || !*path) return -EINVAL;
  // The deepest existing ancestor of `path` (path itself when it exists).
  std::string p = path;
  char resolved[PATH_MAX];
  while (!realpath(p.c_str(), resolved)) {
    if (errno != ENOENT) return -errno;
    auto slash = p.find_last_of('/');
    if (slash == std::string::npos) {
      p = ".";
    } else if (slash == 0) {
      p = "/";
    } else {
      p.resize(slash);
    }
  }
  std::string cur = resolved;
  struct stat st;
  if (stat(cur.c_str(), &st) != 0) return -errno;
  if (!S_ISDIR(st.st_mode)) {
    auto slash = cur.find_last_of('/');
    cur = slash == 0 ? "/" : cur.substr(0, slash);
    if (stat(cur.c_str(), &st) != 0) return -errno;
  }
  // Walk up while the parent is on the same file system.
  while (cur != "/") {
    auto slash = cur.find_last_of('/');
    std::string parent = slash == 0 ? "/" : cur.substr(0, slash);
    struct stat pst;
    if (stat(parent.c_str(), &pst) != 0 || pst.st_dev != st.st_dev) break;
    cur = parent;
  }
  int fd = open(cur.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  bool ok = hf3fs_is_hf3fs(fd);
  close(fd);
  if (!ok) return -EINVAL;
  if (cur.size() + 1 > static_cast<size_t>(size)) return -ERANGE;
  std::memcpy(hf3fs_mount_point, cur.c_str(), cur.size() + 1);
  return static_cast<int>(cur.size());
}

int hf3fs_iovcreate(hf3fs_iov* iov, const char* hf3fs_mount_point, size_t size,
                    size_t block_size, int numa) {
  if (!iov || !SizesOk(size, block_size)) return -EINVAL;
  std::shared_ptr<Conn> conn;
  int rc = ConnOfMount(hf3fs_mount_point, &conn);
  if (rc != 0) return rc;
  uint8_t id[16];
  int fd = -1;
  std::string name;
  for (int attempt = 0; attempt < 8 && fd < 0; ++attempt) {
    if (getrandom(id, sizeof(id), 0) != sizeof(id)) return -EIO;
    name = ShmName(id);
    fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST) return -errno;
  }
  if (fd < 0) return -EEXIST;
  auto fail = [&](int code, void* base) {
    if (base) munmap(base, size);
    close(fd);
    shm_unlink(name.c_str());
    return code;
  };
  // posix_fallocate reserves the pages now, so a full /dev/shm fails here and not with SIGBUS
  // on first touch.
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) return fail(-errno, nullptr);
  if (int e = posix_fallocate(fd, 0, static_cast<off_t>(size)); e != 0) {
    return fail(e == ENOSPC ? -ENOSPC : -e, nullptr);
  }
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return fail(-errno, nullptr);
  PreferNode(p, size, numa);
  rc = RegisterIov(iov, conn, fd, id, static_cast<uint8_t*>(p), size, block_size, numa, false,
                   hf3fs_mount_point);
  if (rc != 0) return fail(rc, p);
  close(fd);
  return 0;
}

int hf3fs_iovopen(hf3fs_iov* iov, const uint8_t id[16], const char* hf3fs_mount_point, size_t size,
                  size_t block_size, int numa) {
  return OpenAndRegister(iov, id, hf3fs_mount_point, size, block_size, numa, nullptr);
}

int hf3fs_iovwrap(hf3fs_iov* iov, void* buf, const uint8_t id[16], const char* hf3fs_mount_point,
                  size_t size, size_t block_size, int numa) {
  if (!buf) return -EINVAL;
  return OpenAndRegister(iov, id, hf3fs_mount_point, size, block_size, numa, buf);
}

void hf3fs_iovunlink(hf3fs_iov* iov) {
  if (iov) shm_unlink(ShmName(iov->id).c_str());
}

void hf3fs_iovdestroy(hf3fs_iov* iov) {
  if (!iov || !iov->iovh) return;
  auto* h = static_cast<Iov*>(iov->iovh);
  Deregister(*h->conn, kDeregIov, h->handle);
  if (!h->wrapped) munmap(h->base, h->size);
  delete h;
  iov->iovh = nullptr;
  iov->base = nullptr;
}

size_t hf3fs_ior_size(int entries) {
  if (entries <= 0 || entries > HF3FS_IOR_MAX_ENTRIES) return 0;
  return RingBytes(static_cast<uint32_t>(entries));
}

int hf3fs_iorcreate4(hf3fs_ior* ior, const char* hf3fs_mount_point, int entries, bool for_read,
                     int io_depth, int priority, int timeout, int numa, uint64_t flags) {
  if (!ior || entries <= 0 || entries > HF3FS_IOR_MAX_ENTRIES) return -EINVAL;
  if (io_depth > entries || io_depth < -entries || timeout < 0) return -EINVAL;
  if (priority < HF3FS_IOR_PRIO_HIGH || priority > HF3FS_IOR_PRIO_LOW) return -EINVAL;
  if (flags & ~(HF3FS_IOR_ALLOW_READ_UNCOMMITTED | HF3FS_IOR_FORBID_READ_HOLES)) return -EINVAL;
  std::shared_ptr<Conn> conn;
  int rc = ConnOfMount(hf3fs_mount_point, &conn);
  if (rc != 0) return rc;
  auto n = static_cast<uint32_t>(entries);
  size_t bytes = RingBytes(n);
  int mfd = memfd_create("hf3fs-ior", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mfd < 0) return -errno;
  // Sealed against shrinking: the daemon maps it and must never fault on a truncated ring.
  if (ftruncate(mfd, static_cast<off_t>(bytes)) != 0 ||
      fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    rc = -errno;
    close(mfd);
    return rc;
  }
  void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, mfd, 0);
  if (base == MAP_FAILED) {
    rc = -errno;
    close(mfd);
    return rc;
  }
  PreferNode(base, bytes, numa);
  auto* hdr = new (base) RingHeader;
  hdr->magic = kRingMagic;
  hdr->version = kProtocolVersion;
  hdr->entries = n;
  hdr->sq_tail.store(0);
  hdr->sq_head.store(0);
  hdr->cq_tail.store(0);
  hdr->cq_head.store(0);
  sem_init(&hdr->cq_sem, 1, 0);
  int evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (evfd < 0) {
    rc = -errno;
    munmap(base, bytes);
    close(mfd);
    return rc;
  }
  CtlReq req;
  req.op = kRegRing;
  req.a = n;
  req.b = for_read ? 1 : 0;
  req.c = static_cast<uint64_t>(static_cast<int64_t>(io_depth));
  req.d = static_cast<uint64_t>(static_cast<uint32_t>(timeout)) |
          (static_cast<uint64_t>(static_cast<uint32_t>(priority)) << 32);
  req.e = flags;
  int fds[2] = {mfd, evfd};
  CtlRsp rsp;
  rc = conn->Call(req, fds, 2, &rsp);
  close(mfd);
  if (rc != 0) {
    munmap(base, bytes);
    close(evfd);
    return rc;
  }
  auto* r = new Ring;
  r->conn = conn;
  r->handle = static_cast<uint32_t>(rsp.value);
  r->base = base;
  r->bytes = bytes;
  r->hdr = hdr;
  r->sq = SqeArray(base);
  r->cq = CqeArray(base, n);
  r->entries = n;
  r->evfd = evfd;
  r->for_read = for_read;
  r->userdata.assign(n, nullptr);
  r->free.reserve(n);
  for (int32_t i = static_cast<int32_t>(n) - 1; i >= 0; --i) r->free.push_back(i);

  std::memset(ior, 0, sizeof(*ior));
  ior->iov.base = static_cast<uint8_t*>(base);
  ior->iov.size = bytes;
  ior->iov.numa = numa;
  CopyMount(ior->iov.mount_point, hf3fs_mount_point);
  ior->iorh = r;
  CopyMount(ior->mount_point, hf3fs_mount_point);
  ior->for_read = for_read;
  ior->io_depth = io_depth;
  ior->priority = priority;
  ior->timeout = timeout;
  ior->flags = flags;
  return 0;
}

int hf3fs_iorcreate3(hf3fs_ior* ior, const char* hf3fs_mount_point, int entries, bool for_read,
                     int io_depth, int priority, int timeout, int numa) {
  return hf3fs_iorcreate4(ior, hf3fs_mount_point, entries, for_read, io_depth, priority, timeout,
                          numa, 0);
}

int hf3fs_iorcreate2(hf3fs_ior* ior, const char* hf3fs_mount_point, int entries, bool for_read,
                     int io_depth, int priority, int numa) {
  return hf3fs_iorcreate4(ior, hf3fs_mount_point, entries, for_read, io_depth, priority, 0, numa,
                          0);
}

int hf3fs_iorcreate(hf3fs_ior* ior, const char* hf3fs_mount_point, int entries, bool for_read,
                    int io_depth, int numa) {
  return hf3fs_iorcreate4(ior, hf3fs_mount_point, entries, for_read, io_depth,
                          HF3FS_IOR_PRIO_NORMAL, 0, numa, 0);
}

void hf3fs_iordestroy(hf3fs_ior* ior) {
  if (!ior || !ior->iorh) return;
  auto* r = static_cast<Ring*>(ior->iorh);
  Deregister(*r->conn, kDeregRing, r->handle);  // answered once the daemon leaves the ring alone
  sem_destroy(&r->hdr->cq_sem);
  munmap(r->base, r->bytes);
  close(r->evfd);
  delete r;
  ior->iorh = nullptr;
  ior->iov.base = nullptr;
}

int hf3fs_reg_fd(int fd, uint64_t flags) {
  if (flags != 0) return -EINVAL;
  struct stat st;
  if (fstat(fd, &st) != 0) return -EBADF;
  if (!S_ISREG(st.st_mode)) return -EINVAL;
  std::shared_ptr<Conn> conn;
  int rc = ConnOf(fd, &conn);
  if (rc != 0) return rc;
  {
    auto& reg = Reg();
    std::lock_guard lock(reg.mu);
    if (reg.files.count(fd)) return -EEXIST;
  }
  CtlReq req;
  req.op = kRegFd;
  CtlRsp rsp;
  rc = conn->Call(req, &fd, 1, &rsp);
  if (rc != 0) return rc;
  auto& reg = Reg();
  std::lock_guard lock(reg.mu);
  reg.files[fd] = Registry::File{conn, static_cast<uint32_t>(rsp.value), rsp.value2};
  return 0;
}

void hf3fs_dereg_fd(int fd) {
  Registry::File f;
  {
    auto& reg = Reg();
    std::lock_guard lock(reg.mu);
    reg.ForgetIfForked();
    auto it = reg.files.find(fd);
    if (it == reg.files.end()) return;
    f = it->second;
    reg.files.erase(it);
  }
  Deregister(*f.conn, kDeregFd, f.handle);
}

int hf3fs_prep_io(const hf3fs_ior* ior, const hf3fs_iov* iov, bool read, void* ptr, int fd,
                  size_t off, uint64_t len, const void* userdata) {
  if (!ior || !ior->iorh || !iov || !iov->iovh) return -EINVAL;
  auto* r = static_cast<Ring*>(ior->iorh);
  auto* v = static_cast<Iov*>(iov->iovh);
  if (read != r->for_read || len == 0 || len > HF3FS_IO_MAX_BYTES) return -EINVAL;
  auto* p = static_cast<uint8_t*>(ptr);
  if (p < v->base || p >= v->base + v->size || len > static_cast<uint64_t>(v->base + v->size - p)) {
    return -EINVAL;
  }
  if (v->conn != r->conn) return -EINVAL;  // iov and ring of different mounts
  uint32_t file;
  {
    auto& reg = Reg();
    std::lock_guard lock(reg.mu);
    auto it = reg.files.find(fd);
    if (it == reg.files.end()) return -EBADF;
    if (it->second.conn != r->conn) return -EINVAL;
    file = it->second.handle;
  }
  std::lock_guard lock(r->prep_mu);
  if (r->free.empty()) return -EAGAIN;
  int32_t index = r->free.back();
  r->free.pop_back();
  r->userdata[index] = userdata;
  uint64_t pos = r->hdr->sq_tail.load(std::memory_order_relaxed);
  Sqe& e = r->sq[pos % r->entries];
  e.index = static_cast<uint32_t>(index);
  e.iov = v->handle;
  e.file = file;
  e.flags = read ? kSqeRead : 0;
  e.iov_offset = static_cast<uint64_t>(p - v->base);
  e.file_offset = off;
  e.len = len;
  r->hdr->sq_tail.store(pos + 1, std::memory_order_release);
  return index;
}

int hf3fs_submit_ios(const hf3fs_ior* ior) {
  if (!ior || !ior->iorh) return -EINVAL;
  auto* r = static_cast<Ring*>(ior->iorh);
  uint64_t one = 1;
  // EAGAIN means the counter is saturated: the daemon has a wake-up pending anyway.
  ssize_t n = write(r->evfd, &one, sizeof(one));
  (void)n;
  return 0;
}

int hf3fs_wait_for_ios(const hf3fs_ior* ior, hf3fs_cqe* cqes, int cqec, int min_results,
                       const struct timespec* abs_timeout) {
  if (!ior || !ior->iorh || !cqes || cqec <= 0) return -EINVAL;
  auto* r = static_cast<Ring*>(ior->iorh);
  if (min_results < 0) min_results = 0;
  if (min_results > cqec) min_results = cqec;
  // Each semaphore unit is one published completion this thread may take.
  int got = 0;
  while (got < min_results) {
    int rc = abs_timeout ? sem_timedwait(&r->hdr->cq_sem, abs_timeout) : sem_wait(&r->hdr->cq_sem);
    if (rc == 0) {
      ++got;
    } else if (errno != EINTR) {
      break;  // ETIMEDOUT (or EINVAL from a bad timespec)
    }
  }
  while (got < cqec && sem_trywait(&r->hdr->cq_sem) == 0) ++got;
  std::lock_guard lock(r->reap_mu);
  for (int i = 0; i < got; ++i) {
    uint64_t pos = r->hdr->cq_head.load(std::memory_order_relaxed);
    Cqe c = r->cq[pos % r->entries];
    r->hdr->cq_head.store(pos + 1, std::memory_order_release);
    cqes[i].index = c.index;
    cqes[i].reserved = 0;
    cqes[i].result = c.result;
    bool valid = c.index >= 0 && static_cast<uint32_t>(c.index) < r->entries;
    cqes[i].userdata = valid ? r->userdata[c.index] : nullptr;
    if (valid) {
      std::lock_guard l2(r->prep_mu);
      r->free.push_back(c.index);
    }
  }
  return got;
}

int hf3fs_hardlink(const char* target, const char* link_name) {
  if (!target || !link_name) return -EINVAL;
  return link(target, link_name) == 0 ? 0 : -errno;
}

int hf3fs_punchhole(int fd, int n, const size_t* start, const size_t* end, size_t flags) {
  if (flags != 0 || n < 0 || (n > 0 && (!start || !end))) return -EINVAL;
  for (int i = 0; i < n; ++i) {
    if (end[i] < start[i]) return -EINVAL;
    if (end[i] == start[i]) continue;
    if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(start[i]),
                  static_cast<off_t>(end[i] - start[i])) != 0) {
      return -errno;
    }
  }
  return 0;
}

}  // extern "C"
