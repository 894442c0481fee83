// FUSE directory operations: opendir, readdir and readdirplus (over meta's paged readdir),
// releasedir.
#include "fuse/fuse_fs.h"
#include "fuse/fuse_util.h"
#include "meta/permission.h"

namespace hf3fs::fuse {

void FuseFs::Opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  meta::BatchStatReq r;
  *r.mutable_user() = User(req);
  r.add_inode_ids(ino);
  fuse_file_info info = *fi;
  auto user = r.user();
  Spawn([this, req, r, info, user]() mutable -> awaitable<void> {
    auto rsp = co_await client_.meta().Call<meta::BatchStatRsp>(meta::META_BATCH_STAT, r);
    if (!rsp.ok()) {
      reply::Err(req, Errno(rsp.status()));
      co_return;
    }
    if (rsp->inodes_size() != 1 || rsp->inodes(0).id() == 0) {
      reply::Err(req, ENOENT);
      co_return;
    }
    const auto& inode = rsp->inodes(0);
    if (inode.type() != meta::INODE_DIRECTORY) {
      reply::Err(req, ENOTDIR);
      co_return;
    }
    // Listing needs read permission (search permission is checked by each readdir page).
    Status acc = meta::CheckAccess(user, inode, meta::kMayRead);
    if (!acc.ok()) {
      reply::Err(req, Errno(acc));
      co_return;
    }
    auto* d = new DirHandle;
    d->parent = inode.parent() == 0 ? inode.id() : inode.parent();
    info.fh = reinterpret_cast<uint64_t>(d);
    info.cache_readdir = 0;
    if (reply::Open(req, &info) == -ENOENT) delete d;
  });
}

void FuseFs::Readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi,
                     bool plus) {
  auto* d = Dh(fi);
  auto user = User(req);
  Spawn([this, req, ino, size, off, d, plus, user]() -> awaitable<void> {
    // Offsets: 0 start, 1 after ".", 2 after "..", 2 + i after entry i.
    size_t want_index = off <= 2 ? 0 : static_cast<size_t>(off - 2);
    for (;;) {
      bool need;
      meta::ReaddirReq r;
      {
        std::lock_guard lock(d->mu);
        need = want_index + 64 > d->entries.size() && d->has_more;
        if (need) {
          *r.mutable_user() = user;
          *r.mutable_path() = At(ino);
          r.set_cursor(d->cursor);
          r.set_limit(1024);
          r.set_with_inodes(true);
        }
      }
      if (!need) break;
      auto rsp = co_await client_.meta().Call<meta::ReaddirRsp>(meta::META_READDIR, r);
      if (!rsp.ok()) {
        reply::Err(req, Errno(rsp.status()));
        co_return;
      }
      std::lock_guard lock(d->mu);
      for (auto& e : *rsp->mutable_entries()) {
        d->cursor = e.name();
        d->entries.push_back(std::move(e));
      }
      d->has_more = rsp->has_more() && rsp->entries_size() > 0;
    }
    std::vector<char> buf(size);
    size_t pos = 0;
    // Released before the reply: once the kernel has its answer it may close the directory, and
    // Releasedir frees `d` on another thread.
    std::unique_lock lock(d->mu);
    auto add = [&](const std::string& name, const meta::Inode* inode, uint64_t ino_num, mode_t type,
                   off_t next) -> bool {
      size_t n;
      if (plus) {
        fuse_entry_param e;
        std::memset(&e, 0, sizeof(e));
        if (inode) {
          FillEntry(*inode, &e);
        } else {
          e.attr.st_ino = ino_num;
          e.attr.st_mode = type;
        }
        n = fuse_add_direntry_plus(req, buf.data() + pos, size - pos, name.c_str(), &e, next);
      } else {
        struct stat s;
        std::memset(&s, 0, sizeof(s));
        s.st_ino = ino_num;
        s.st_mode = type;
        n = fuse_add_direntry(req, buf.data() + pos, size - pos, name.c_str(), &s, next);
      }
      if (n > size - pos) return false;
      pos += n;
      return true;
    };
    off_t cur = off;
    if (cur == 0) {
      if (!add(".", nullptr, ino, S_IFDIR, 1)) goto done;
      cur = 1;
    }
    if (cur == 1) {
      if (!add("..", nullptr, d->parent, S_IFDIR, 2)) goto done;
      cur = 2;
    }
    for (size_t i = static_cast<size_t>(cur - 2); i < d->entries.size(); ++i) {
      const auto& e = d->entries[i];
      const meta::Inode* inode = e.has_inode() && e.inode().id() != 0 ? &e.inode() : nullptr;
      if (!add(e.name(), inode, e.inode_id(), TypeBits(e.type()), static_cast<off_t>(i + 3))) {
        break;
      }
    }
  done:
    lock.unlock();
    reply::Buf(req, buf.data(), pos);
  });
}

void FuseFs::Fsyncdir(fuse_req_t req, fuse_ino_t ino, int, fuse_file_info*) {
  // The directory's entries live in the metadata store: flushing it makes them (and every
  // earlier metadata change) power-safe. The request changes nothing, so it needs no session.
  meta::CloseReq r;
  r.mutable_user()->set_uid(0);
  r.set_inode_id(ino);
  r.set_durable(true);
  static auto* syncs = SyncCounter("fsyncdir");
  syncs->Inc();
  Spawn([this, req, r]() -> awaitable<void> {
    auto rsp = co_await client_.meta().Call<meta::CloseRsp>(meta::META_SYNC, r);
    reply::Err(req, rsp.ok() ? 0 : Errno(rsp.status()));
  });
}

void FuseFs::Releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  delete Dh(fi);
  reply::Err(req, 0);
}

}  // namespace hf3fs::fuse
