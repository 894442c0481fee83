// FUSE namespace operations: lookup, mknod, mkdir, unlink/rmdir, symlink, readlink, rename, link.
// Each is one meta RPC with the caller's credentials (docs/design/0007-client-fuse.md).
#include <sys/sysmacros.h>

#include "fuse/fuse_fs.h"
#include "fuse/fuse_util.h"

namespace hf3fs::fuse {

void FuseFs::Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  auto user = User(req);
  auto ahead = lookahead_.Lookup(parent, name);
  if (ahead.fetch_token != 0) FetchAhead(parent, user, ahead.fetch_token, ahead.fetch_from);
  if (ahead.answer == Lookahead::Answer::kFound) {
    fuse_entry_param e;
    FillEntry(ahead.inode, &e);
    double left = std::chrono::duration<double>(ahead.ttl_left).count();
    e.entry_timeout = std::min(e.entry_timeout, left);
    e.attr_timeout = std::min(e.attr_timeout, left);
    reply::Entry(req, &e);
    return;
  }
  if (ahead.answer == Lookahead::Answer::kMissing) {
    reply::Err(req, ENOENT);
    return;
  }
  meta::StatReq r;
  *r.mutable_user() = user;
  *r.mutable_path() = At(parent, name);
  r.set_follow(false);
  Spawn([this, req, r]() -> awaitable<void> {
    auto rsp = co_await client_.meta().Call<meta::StatRsp>(meta::META_STAT, r);
    if (rsp.ok()) {
      ReplyEntry(req, rsp->inode());
    } else if (rsp.status().errno_value() == ENOENT && config_.negative_timeout.Get() > 0) {
      fuse_entry_param e;
      std::memset(&e, 0, sizeof(e));
      e.entry_timeout = config_.negative_timeout.Get();
      reply::Entry(req, &e);
    } else {
      reply::Err(req, Errno(rsp.status()));
    }
  });
}

void FuseFs::FetchAhead(uint64_t parent, const meta::UserInfo& user, uint64_t token,
                        std::string from) {
  meta::ReaddirReq r;
  *r.mutable_user() = user;
  *r.mutable_path() = At(parent);
  r.set_cursor(std::move(from));
  r.set_limit(config_.lookahead_entries.Get());
  r.set_with_inodes(true);
  Spawn([this, parent, token, r]() -> awaitable<void> {
    auto listed_at = Clock::now();  // the listing is no older than this
    auto rsp = co_await client_.meta().Call<meta::ReaddirRsp>(meta::META_READDIR, r);
    if (!rsp.ok()) {
      lookahead_.FetchFailed(parent, token);
      co_return;
    }
    std::vector<std::pair<std::string, meta::Inode>> entries;
    entries.reserve(rsp->entries_size());
    for (auto& e : *rsp->mutable_entries()) {
      if (!e.has_inode() || e.inode().id() == 0) {  // removed while listed: trust none of it
        lookahead_.FetchFailed(parent, token);
        co_return;
      }
      entries.emplace_back(std::move(*e.mutable_name()), std::move(*e.mutable_inode()));
    }
    lookahead_.Fill(parent, token, std::move(entries), !rsp->has_more(), listed_at);
  });
}

void FuseFs::NamespaceChanged(uint64_t parent, const std::string& name, const Status& st,
                              const meta::Inode* added) {
  if (st.ok()) {
    if (added != nullptr) {
      lookahead_.Added(parent, name, *added);
    } else {
      lookahead_.Removed(parent, name);
    }
  } else if (st.retryable() || st.errno_value() == EEXIST || st.errno_value() == ENOENT) {
    // The outcome is unknown, or the name's state differs from what this mount believed.
    lookahead_.Forget(parent);
  }
}

void FuseFs::Readlink(fuse_req_t req, fuse_ino_t ino) {
  meta::ReadlinkReq r;
  *r.mutable_user() = User(req);
  *r.mutable_path() = At(ino);
  Spawn([this, req, r]() -> awaitable<void> {
    auto rsp = co_await client_.meta().Call<meta::ReadlinkRsp>(meta::META_READLINK, r);
    if (!rsp.ok()) {
      reply::Err(req, Errno(rsp.status()));
    } else {
      reply::Readlink(req, rsp->target().c_str());
    }
  });
}

void FuseFs::Mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  auto user = User(req);
  if (S_ISREG(mode)) {
    meta::CreateReq r;
    *r.mutable_user() = user;
    *r.mutable_path() = At(parent, name);
    r.set_flags(O_CREAT | O_EXCL | O_RDONLY);
    r.set_mode(mode & 07777);
    r.set_umask(fuse_req_ctx(req)->umask);
    Spawn([this, req, r]() -> awaitable<void> {
      auto rsp = co_await client_.meta().Call<meta::CreateRsp>(meta::META_CREATE, r);
      if (rsp.ok() && rsp->has_parent()) RememberDir(rsp->parent());
      NamespaceChanged(r.path().parent(), r.path().path(), rsp.status(),
                       rsp.ok() ? &rsp->inode() : nullptr);
      if (!rsp.ok()) {
        reply::Err(req, Errno(rsp.status()));
      } else {
        ReplyEntry(req, rsp->inode());
      }
    });
    return;
  }
  meta::MknodReq r;
  *r.mutable_user() = user;
  *r.mutable_path() = At(parent, name);
  if (S_ISFIFO(mode)) {
    r.set_type(meta::INODE_FIFO);
  } else if (S_ISSOCK(mode)) {
    r.set_type(meta::INODE_SOCKET);
  } else if (S_ISCHR(mode)) {
    r.set_type(meta::INODE_CHAR_DEVICE);
  } else if (S_ISBLK(mode)) {
    r.set_type(meta::INODE_BLOCK_DEVICE);
  } else {
    reply::Err(req, EINVAL);
    return;
  }
  r.set_mode(mode & 07777);
  r.set_rdev(rdev);
  r.set_umask(fuse_req_ctx(req)->umask);
  Spawn([this, req, r]() -> awaitable<void> {
    auto rsp = co_await client_.meta().Call<meta::MknodRsp>(meta::META_MKNOD, r);
    if (rsp.ok() && rsp->has_parent()) RememberDir(rsp->parent());
    NamespaceChanged(r.path().parent(), r.path().path(), rsp.status(),
                     rsp.ok() ? &rsp->inode() : nullptr);
    if (!rsp.ok()) {
      reply::Err(req, Errno(rsp.status()));
    } else {
      ReplyEntry(req, rsp->inode());
    }
  });
}

void FuseFs::Mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  meta::MkdirReq r;
  *r.mutable_user() = User(req);
  *r.mutable_path() = At(parent, name);
  r.set_mode(mode & 07777);
  r.set_umask(fuse_req_ctx(req)->umask);
  Spawn([this, req, r]() -> awaitable<void> {
    auto rsp = co_await client_.meta().Call<meta::MkdirRsp>(meta::META_MKDIR, r);
    if (rsp.ok() && rsp->has_parent()) RememberDir(rsp->parent());
    NamespaceChanged(r.path().parent(), r.path().path(), rsp.status(),
                     rsp.ok() ? &rsp->inode() : nullptr);
    if (!rsp.ok()) {
      reply::Err(req, Errno(rsp.status()));
    } else {
      ReplyEntry(req, rsp->inode());
    }
  });
}

void FuseFs::Unlink(fuse_req_t req, fuse_ino_t parent, const char* name, bool dir) {
  meta::RemoveReq r;
  *r.mutable_user() = User(req);
  *r.mutable_path() = At(parent, name);
  r.set_kind(dir ? meta::REMOVE_RMDIR : meta::REMOVE_UNLINK);
  Spawn([this, req, r]() -> awaitable<void> {
    auto rsp = co_await client_.meta().Call<meta::RemoveRsp>(meta::META_REMOVE, r);
    if (rsp.ok() && rsp->has_parent()) RememberDir(rsp->parent());
    NamespaceChanged(r.path().parent(), r.path().path(), rsp.status(), nullptr);
    reply::Err(req, rsp.ok() ? 0 : Errno(rsp.status()));
  });
}

void FuseFs::Symlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
  meta::SymlinkReq r;
  *r.mutable_user() = User(req);
  *r.mutable_path() = At(parent, name);
  r.set_target(link);
  Spawn([this, req, r]() -> awaitable<void> {
    auto rsp = co_await client_.meta().Call<meta::SymlinkRsp>(meta::META_SYMLINK, r);
    if (rsp.ok() && rsp->has_parent()) RememberDir(rsp->parent());
    NamespaceChanged(r.path().parent(), r.path().path(), rsp.status(),
                     rsp.ok() ? &rsp->inode() : nullptr);
    if (!rsp.ok()) {
      reply::Err(req, Errno(rsp.status()));
    } else {
      ReplyEntry(req, rsp->inode());
    }
  });
}

void FuseFs::Rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
                    const char* newname, unsigned int flags) {
  if (flags & ~static_cast<unsigned>(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
    reply::Err(req, EINVAL);  // RENAME_WHITEOUT: no whiteouts (no overlay lower layers here)
    return;
  }
  meta::RenameReq r;
  *r.mutable_user() = User(req);
  *r.mutable_src() = At(parent, name);
  *r.mutable_dst() = At(newparent, newname);
  r.set_no_replace((flags & RENAME_NOREPLACE) != 0);
  r.set_exchange((flags & RENAME_EXCHANGE) != 0);
  Spawn([this, req, r]() -> awaitable<void> {
    auto rsp = co_await client_.meta().Call<meta::RenameRsp>(meta::META_RENAME, r);
    if (rsp.ok() && rsp->has_src_parent()) RememberDir(rsp->src_parent());
    if (rsp.ok() && rsp->has_dst_parent()) RememberDir(rsp->dst_parent());
    if (r.exchange()) {
      lookahead_.Forget(r.src().parent());  // the source name now names the other inode
    } else {
      NamespaceChanged(r.src().parent(), r.src().path(), rsp.status(), nullptr);
    }
    lookahead_.Forget(r.dst().parent());  // what the new name points to is not in the reply
    reply::Err(req, rsp.ok() ? 0 : Errno(rsp.status()));
  });
}

void FuseFs::Link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  meta::LinkReq r;
  *r.mutable_user() = User(req);
  *r.mutable_old_path() = At(ino);
  *r.mutable_new_path() = At(newparent, newname);
  Spawn([this, req, r]() -> awaitable<void> {
    auto rsp = co_await client_.meta().Call<meta::LinkRsp>(meta::META_LINK, r);
    if (rsp.ok() && rsp->has_parent()) RememberDir(rsp->parent());
    NamespaceChanged(r.new_path().parent(), r.new_path().path(), rsp.status(),
                     rsp.ok() ? &rsp->inode() : nullptr);
    if (!rsp.ok()) {
      reply::Err(req, Errno(rsp.status()));
    } else {
      ReplyEntry(req, rsp->inode());
    }
  });
}

}  // namespace hf3fs::fuse
