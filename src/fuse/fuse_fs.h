// FuseFs: the hf3fs file system served through the libfuse3 low-level API
// (docs/design/0007-client-fuse.md).
//
// FUSE inode numbers are meta inode ids (the root is 1 in both). Each request is answered from a
// coroutine on the client's io pool, so a FUSE thread never waits on the network. Namespace
// operations go to meta with the caller's uid, gid and supplementary groups; meta checks
// permissions exactly like Linux; the kernel checks them as well from cached attributes and ACLs
// (FUSE_CAP_POSIX_ACL turns on default_permissions).
//
// Data: reads go through the page cache (direct I/O for O_DIRECT, or everywhere with
// mount.direct_io) and are bounded by the file length this mount knows (meta's length at open,
// raised by this mount's own writes). Sequential writes collect in a per-inode write buffer
// flushed when full, on a gap, on flush/fsync/close, before reads and truncates, and by a timer.
// Written lengths and mtimes reach meta on fsync, close and the same timer. A flush failure is
// reported by the next write, flush or fsync of the file. fsync, fsync of a directory, O_SYNC and
// O_DSYNC writes and HF3FS_IOC_SYNCFS make what they cover power-safe on every replica and in the
// metadata store (docs/design/0009-durability.md).
#pragma once

#include <fuse_lowlevel.h>

#include <atomic>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>

#include "client/fs_client.h"
#include "fuse/lookahead.h"
#include "fuse/mount_config.h"
#include "net/async_mutex.h"

namespace hf3fs::fuse {

// What this mount knows about one inode with open handles.
struct InodeState {
  explicit InodeState(uint64_t id) : id(id) {}
  const uint64_t id;
  std::mutex mu;              // guards the fields below
  meta::Inode inode;          // latest from meta (layout, length, truncate version)
  uint64_t written_end = 0;   // highest byte + 1 written through this mount since the last sync
  bool length_dirty = false;  // written since lengths were last reported to meta
  int64_t mtime_ns = 0;       // time of the last local write
  uint64_t buf_offset = 0;    // write buffer: bytes [buf_offset, buf_offset + buf.size())
  std::vector<uint8_t> buf;
  std::chrono::steady_clock::time_point buf_since;
  // A flush holds buffered bytes that storage has not acknowledged yet (set and cleared under
  // `io`): readers wait for it on `io`, since the bytes are no longer in `buf`.
  bool flushing = false;
  Status error;              // a failed background flush, reported once
  uint32_t handles = 0;      // open handles of this mount
  uint64_t any_session = 0;  // a write session of this mount (for timer syncs)
  // Chains this mount's writes of the file went to since its last fsync (what fsync flushes).
  std::vector<ChainId> dirty_chains;
  net::AsyncMutex io;  // orders buffer flushes against direct writes and truncates
};

struct FileHandle {
  std::shared_ptr<InodeState> state;
  uint64_t session_id = 0;  // meta write session (0: read-only)
  bool readable = false;
  bool writable = false;
  bool direct = false;  // opened with O_DIRECT (or mount.direct_io): no write buffering
  bool sync = false;    // opened with O_SYNC or O_DSYNC: every write is durable when answered
  // USRBIO registrations of this open file (guarded by FuseFs::bind_mu_). While there are any, a
  // kernel release only marks the handle; the last unbinding finishes it.
  uint32_t usrbio_refs = 0;
  bool released = false;
};

// An open directory: the entries listed so far. Shared by the requests on it and the prefetch
// of its next page, so that a releasedir never frees it under them.
struct DirHandle {
  std::mutex mu;  // guards the fields below
  uint64_t parent = 1;
  meta::UserInfo user;                      // who opened it: pages are listed with their rights
  std::vector<meta::ReaddirEntry> entries;  // fetched so far
  bool has_more = true;
  std::string cursor;
  net::AsyncMutex fetch;  // one page fetch at a time
};

class UsrbioServer;

// An open file of this mount bound to USRBIO (HF3FS_IOC_USRBIO_BIND): what the daemon's ring
// executor needs of its handle. Valid until UnbindHandle(handle).
struct BoundFile {
  FileHandle* handle = nullptr;  // referenced (usrbio_refs) until UnbindHandle
  std::shared_ptr<InodeState> state;
  uint64_t session_id = 0;
  bool readable = false;
  bool writable = false;
};

class FuseFs {
 public:
  FuseFs(client::FsClient& client, MountSection& config);
  ~FuseFs();

  // Creates the session and mounts; then Run() serves on fuse_threads threads until Exit() or an
  // external unmount.
  Status Mount();
  void Start();  // starts the serving threads and the flush timer
  void Exit();   // stops serving and unmounts (idempotent)
  bool Ended() const { return ended_; }
  void SetOnEnded(std::function<void()> fn) { on_ended_ = std::move(fn); }

  // ---- low-level operations (called by libfuse through the static table) ----
  void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name);
  void Getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void Setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi);
  void Readlink(fuse_req_t req, fuse_ino_t ino);
  void Mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev);
  void Mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode);
  void Unlink(fuse_req_t req, fuse_ino_t parent, const char* name, bool dir);
  void Symlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name);
  void Rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
              const char* newname, unsigned int flags);
  void Link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname);
  void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void Create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi);
  void Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi);
  void Write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
             fuse_file_info* fi);
  void Flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void Release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  // flock(2), cluster-wide (docs/design/0012-cluster-locks.md): meta grants or refuses at once;
  // a blocking request retries here until granted or interrupted.
  void Flock(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, int op);
  void Fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi);
  void Fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi);
  void Opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void Readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi,
               bool plus);
  // Lists pages of the directory until entry `want` + 64 is known (or the end): readdirplus pages
  // of 1024 names with the inodes of the first 128, readdir pages of 4096 names without.
  net::awaitable<Status> FetchDir(std::shared_ptr<DirHandle> d, uint64_t ino, bool plus,
                                  size_t want);
  void Releasedir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void Statfs(fuse_req_t req, fuse_ino_t ino);
  void Setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                int flags);
  void Getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size);
  void Listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
  void Removexattr(fuse_req_t req, fuse_ino_t ino, const char* name);
  void Access(fuse_req_t req, fuse_ino_t ino, int mask);
  void Fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                 fuse_file_info* fi);
  void Ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void* arg, fuse_file_info* fi,
             unsigned flags, const void* in_buf, size_t in_bufsz, size_t out_bufsz);
  void Init(fuse_conn_info* conn);

  // ---- for USRBIO (usrbio_server.h) ----
  void SetUsrbio(UsrbioServer* server) { usrbio_ = server; }
  // The binding HF3FS_IOC_USRBIO_BIND made under `token` (taken once).
  std::optional<BoundFile> TakeBinding(uint64_t token);
  // Drops a binding's reference on its handle; finishes the handle's release if the kernel
  // already released it.
  void UnbindHandle(FileHandle* handle);
  // Writes this mount's buffered bytes of the file before I/O that bypasses the buffer.
  net::awaitable<Status> FlushBuffer(InodeState& st);
  // Records a write of [.., end) done outside FUSE: the length and mtime reach meta like those of
  // FUSE writes, and the kernel's cached pages of the file are dropped.
  void NoteExternalWrite(InodeState& st, uint64_t end);
  void InvalidatePages(uint64_t ino);
  client::FsClient& client() { return client_; }

  // ---- durability (docs/design/0009-durability.md) ----
  // Records the chains a write of the file went to (for its fsync and the mount's syncfs).
  void NoteWritten(InodeState& st, const std::vector<ChainId>& chains);
  // What syncfs(2) would do, had the kernel passed it on: flushes every write buffer of the
  // mount, then makes every chain the mount wrote since its last syncfs and the metadata store
  // power-safe (HF3FS_IOC_SYNCFS, `hf3fs sync`).
  net::awaitable<Status> SyncFs();

 private:
  meta::UserInfo User(fuse_req_t req);
  std::shared_ptr<InodeState> State(uint64_t ino);                // null when not open here
  std::shared_ptr<InodeState> Acquire(const meta::Inode& inode);  // one more handle
  void ReleaseState(const std::shared_ptr<InodeState>& st);
  void FillAttr(const meta::Inode& inode, struct stat* st);
  // The directory attribute cache: directories' attributes as meta last reported them (GETATTR,
  // LOOKUP, READDIRPLUS, and the parent in the replies of namespace operations), answered to
  // GETATTR while younger than attr_timeout. The kernel drops a directory's attributes after
  // every create or unlink in it and, checking permissions itself, asks for them again before
  // the next operation there; this answers that without a meta round trip, and is as fresh as
  // the kernel's own cache would have been.
  void RememberDir(const meta::Inode& inode);
  std::optional<meta::Inode> CachedDir(uint64_t ino);
  void ForgetDir(uint64_t ino);
  // Lookahead (fuse/lookahead.h): fetches the part of `parent` after `from` for fetch `token`.
  void FetchAhead(uint64_t parent, const meta::UserInfo& user, uint64_t token, std::string from);
  // Applies this mount's namespace change of `name` in `parent` to the lookahead: `added` is
  // the new entry's inode (null: removed); a failure whose outcome is unknown forgets the
  // directory.
  void NamespaceChanged(uint64_t parent, const std::string& name, const Status& st,
                        const meta::Inode* added);
  void FillEntry(const meta::Inode& inode, fuse_entry_param* e);
  void ReplyEntry(fuse_req_t req, const meta::Inode& inode);
  // A handle for an open (or create) that meta granted; sets info's fh and cache flags.
  FileHandle* NewHandle(const meta::Inode& inode, uint64_t session_id, fuse_file_info& info);
  // Whether an open may keep the kernel's cached pages of `inode` (meta's copy, at this open):
  // it matches the stamp of this mount's last open of it. Records the new stamp either way;
  // `changed`: the mtime or length differs from the stamp's.
  bool KeepCache(const meta::Inode& inode, bool* changed);
  void ForgetCache(uint64_t ino);  // this mount changes the file's bytes outside its page cache
  void ReplyAttr(fuse_req_t req, const meta::Inode& inode);
  meta::Inode Overlay(meta::Inode inode);  // with this mount's unreported length and mtime
  template <typename F>
  void Spawn(F&& f);
  static uint64_t FuseConnectionId(const std::string& mountpoint);
  void AbortConnection();  // ends a connection a lazy unmount left alive (files still open)
  void ApplyReadahead();   // sets the connection's backing device readahead (mount.readahead)

  // Writes the buffered bytes of `st` (callers hold st->io).
  net::awaitable<Status> FlushBufferLocked(InodeState& st);
  // Flushes, queues the close of the handle's write session at meta and frees the handle.
  net::awaitable<void> FinishRelease(FileHandle* h);
  void DropFlock(uint64_t ino, uint64_t owner);  // in the background (a release's flock)
  // Closes of write sessions travel in batches (META_CLOSE_BATCH): a release needs no answer
  // from meta, and one request and one transaction end the sessions of many closed files.
  void QueueClose(meta::CloseReq r);
  net::awaitable<void> DrainCloses();
  net::awaitable<void> SendCloses(meta::CloseBatchReq batch);
  net::awaitable<void> DrainClosesNow();  // Exit(): what is still queued, at once
  // Flushes, then reports the written length and mtime to meta with `session`. `durable`
  // (fsync): also makes the file's data on every replica and the metadata store power-safe.
  net::awaitable<Status> SyncInode(InodeState& st, uint64_t session, bool query_length,
                                   bool durable = false);
  // Flushes the chains the file was written to (and every chain a truncate cut), on every
  // replica; the chains stay recorded when it fails.
  net::awaitable<Status> SyncData(InodeState& st);
  // Chains a truncate or hole punch of `inode` may have changed through meta or storage.
  net::awaitable<void> NoteCut(const meta::Inode& inode);
  net::awaitable<void> TimerLoop();
  // fuse_threads = 0: reads and answers FUSE requests on the first io thread.
  net::awaitable<void> ReadLoop();

  client::FsClient& client_;
  MountSection& config_;
  fuse_session* session_ = nullptr;
  std::vector<std::thread> threads_;
  std::thread loop_;
  std::unique_ptr<boost::asio::posix::stream_descriptor> fuse_fd_;  // fuse_threads = 0
  std::atomic<bool> ended_{false};
  std::atomic<bool> exiting_{false};
  std::function<void()> on_ended_;
  std::mutex mu_;
  std::map<uint64_t, std::shared_ptr<InodeState>> open_;  // inodes with open handles
  std::mutex groups_mu_;
  std::map<pid_t, std::pair<std::chrono::steady_clock::time_point, std::vector<uint32_t>>> groups_;
  boost::asio::steady_timer timer_;
  UsrbioServer* usrbio_ = nullptr;
  uint64_t conn_id_ = 0;  // /sys/fs/fuse/connections/<conn_id_>
  std::mutex bind_mu_;
  std::map<uint64_t, BoundFile> bindings_;  // HF3FS_IOC_USRBIO_BIND tokens not yet taken
  uint64_t next_token_ = 1;
  std::atomic<bool> timer_running_{false};
  std::mutex dirty_mu_;  // guards the four fields below; taken after mu_ and InodeState::mu
  std::set<ChainId> mount_dirty_;  // chains written since the last syncfs
  std::set<ChainId> cut_chains_;   // chains truncated or punched and not flushed since
  // Chains of files closed with writes not fsync'd, for the fsync of a later open.
  static constexpr size_t kMaxClosedDirty = 65536;
  std::map<uint64_t, std::vector<ChainId>> closed_dirty_;
  std::set<ChainId> evicted_dirty_;  // chains of closed_dirty_ entries dropped past the bound
  struct CachedDirAttr {
    meta::Inode inode;
    std::chrono::steady_clock::time_point at;
  };
  static constexpr size_t kMaxCachedDirs = 65536;
  static constexpr size_t kMaxCloseBatch = 256;
  std::mutex close_mu_;
  std::vector<meta::CloseReq> close_queue_;
  bool close_draining_ = false;  // a DrainCloses coroutine runs
  Lookahead lookahead_;
  std::mutex dir_attr_mu_;
  std::unordered_map<uint64_t, CachedDirAttr> dir_attrs_;
  // Page cache across opens (docs/design/0007-client-fuse.md, "Page cache across opens"): what
  // meta said of each file at this mount's last open of it. An open whose inode matches keeps
  // the kernel's cached pages; a write, truncate or hole punch through this mount forgets the
  // file, so its next open drops them.
  struct CacheStamp {
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;
    uint64_t length = 0;
    uint64_t truncate_version = 0;
    bool operator==(const CacheStamp&) const = default;
  };
  static constexpr size_t kMaxCacheStamps = 1 << 20;
  std::mutex stamp_mu_;
  std::unordered_map<uint64_t, CacheStamp> stamps_;
};

}  // namespace hf3fs::fuse
