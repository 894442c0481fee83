// FUSE directory operations: opendir, readdir and readdirplus (over meta's paged readdir),
// releasedir.
#include "fuse/fuse_fs.h"
#include "fuse/fuse_util.h"
#include "meta/permission.h"

namespace hf3fs::fuse {

void FuseFs::Opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto user = User(req);
  fuse_file_info info = *fi;
  auto open = [this, req, user, info](const meta::Inode& inode) mutable {
    if (inode.type() != meta::INODE_DIRECTORY) {
      reply::Err(req, ENOTDIR);
      return;
    }
    // Listing needs read permission (search permission is checked by each readdir page).
    Status acc = meta::CheckAccess(user, inode, meta::kMayRead);
    if (!acc.ok()) {
      reply::Err(req, Errno(acc));
      return;
    }
    auto d = std::make_shared<DirHandle>();
    d->parent = inode.parent() == 0 ? inode.id() : inode.parent();
    d->user = user;
    auto* holder = new std::shared_ptr<DirHandle>(std::move(d));
    info.fh = reinterpret_cast<uint64_t>(holder);
    info.cache_readdir = 0;
    if (reply::Open(req, &info) == -ENOENT) delete holder;
  };
  if (auto cached = CachedDir(ino)) {
    open(*cached);
    return;
  }
  meta::BatchStatReq r;
  *r.mutable_user() = user;
  r.add_inode_ids(ino);
  Spawn([this, req, r, open]() mutable -> awaitable<void> {
    auto rsp = co_await client_.meta().Call<meta::BatchStatRsp>(meta::META_BATCH_STAT, r);
    if (!rsp.ok()) {
      reply::Err(req, Errno(rsp.status()));
      co_return;
    }
    if (rsp->inodes_size() != 1 || rsp->inodes(0).id() == 0) {
      reply::Err(req, ENOENT);
      co_return;
    }
    RememberDir(rsp->inodes(0));
    open(rsp->inodes(0));
  });
}

awaitable<Status> FuseFs::FetchDir(std::shared_ptr<DirHandle> d, uint64_t ino, bool plus,
                                   size_t want) {
  auto listed = [&] {
    std::lock_guard lock(d->mu);
    return want + 64 <= d->entries.size() || !d->has_more;
  };
  // A request whose entries are listed does not wait for a prefetch that is still running.
  if (listed()) co_return Status::Ok();
  auto guard = co_await d->fetch.Scoped();
  for (;;) {
    meta::ReaddirReq r;
    {
      std::lock_guard lock(d->mu);
      if (want + 64 <= d->entries.size() || !d->has_more) co_return Status::Ok();
      *r.mutable_user() = d->user;
      *r.mutable_path() = At(ino);
      r.set_cursor(d->cursor);
      // Readdirplus fills ~25 entries per request and needs their inodes; plain readdir ~128
      // names per request and no inodes. A readdirplus page lists up to 1024 names with the
      // inodes of the first 128, so a directory of a few hundred entries is one round trip.
      r.set_limit(plus ? 1024 : 4096);
      r.set_with_inodes(plus);
      if (plus) r.set_inodes_limit(128);
    }
    auto rsp = co_await client_.meta().Call<meta::ReaddirRsp>(meta::META_READDIR, r);
    if (!rsp.ok()) co_return rsp.status();
    std::lock_guard lock(d->mu);
    for (auto& e : *rsp->mutable_entries()) {
      d->cursor = e.name();
      d->entries.push_back(std::move(e));
    }
    d->has_more = rsp->has_more() && rsp->entries_size() > 0;
  }
}

void FuseFs::Readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi,
                     bool plus) {
  std::shared_ptr<DirHandle> d = Dh(fi);
  Spawn([this, req, ino, size, off, d, plus]() -> awaitable<void> {
    // Offsets: 0 start, 1 after ".", 2 after "..", 2 + i after entry i.
    size_t want_index = off <= 2 ? 0 : static_cast<size_t>(off - 2);
    Status s = co_await FetchDir(d, ino, plus, want_index);
    if (!s.ok()) {
      reply::Err(req, Errno(s));
      co_return;
    }
    std::vector<char> buf(size);
    size_t pos = 0;
    size_t next_index = want_index;
    bool prefetch = false;
    {
      std::lock_guard lock(d->mu);
      auto add = [&](const std::string& name, const meta::Inode* inode, uint64_t ino_num,
                     mode_t type, off_t next) -> bool {
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
          struct stat st;
          std::memset(&st, 0, sizeof(st));
          st.st_ino = ino_num;
          st.st_mode = type;
          n = fuse_add_direntry(req, buf.data() + pos, size - pos, name.c_str(), &st, next);
        }
        if (n > size - pos) return false;
        pos += n;
        return true;
      };
      off_t cur = off;
      bool full = false;
      if (cur == 0) {
        full = !add(".", nullptr, ino, S_IFDIR, 1);
        if (!full) cur = 1;
      }
      if (cur == 1 && !full) {
        full = !add("..", nullptr, d->parent, S_IFDIR, 2);
        if (!full) cur = 2;
      }
      for (size_t i = static_cast<size_t>(std::max<off_t>(cur, 2) - 2);
           !full && cur >= 2 && i < d->entries.size(); ++i) {
        const auto& e = d->entries[i];
        const meta::Inode* inode = e.has_inode() && e.inode().id() != 0 ? &e.inode() : nullptr;
        if (!add(e.name(), inode, e.inode_id(), TypeBits(e.type()), static_cast<off_t>(i + 3))) {
          break;
        }
        next_index = i + 1;
      }
      // Keep a page listed ahead of the program, fetched while it reads this one.
      prefetch = d->has_more && d->entries.size() < next_index + 4096;
    }
    if (prefetch) {
      Spawn([this, d, ino, next_index]() -> awaitable<void> {
        (void)co_await FetchDir(d, ino, false, next_index + 4096);
      });
    }
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
  delete &Dh(fi);  // a prefetch still running keeps the handle itself alive
  reply::Err(req, 0);
}

}  // namespace hf3fs::fuse
