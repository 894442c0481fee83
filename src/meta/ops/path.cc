#include "meta/ops/path.h"

#include "meta/permission.h"
#include "meta/store/meta_store.h"

namespace hf3fs::meta {

Result<std::vector<std::string>> SplitPath(std::string_view path) {
  if (path.size() > kMaxPathBytes) {
    return MakeStatus(StatusCode::kMetaNameTooLong, "path of {} bytes", path.size());
  }
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) {
      if (j - i > kMaxNameBytes) {
        return MakeStatus(StatusCode::kMetaNameTooLong, "a name of {} bytes", j - i);
      }
      out.emplace_back(path.substr(i, j - i));
    }
    i = j + 1;
  }
  return out;
}

Result<Inode> Resolver::Load(uint64_t id) {
  HF3FS_TRY_ASSIGN(auto inode, store::GetInode(txn_, InodeId(id)));
  if (!inode) return MakeStatus(StatusCode::kMetaNotFound, "inode {} does not exist", id);
  return std::move(*inode);
}

Result<Inode> Resolver::StartDir(const PathAt& at, bool absolute) {
  uint64_t id = absolute || at.parent() == 0 ? kRootInodeId.value() : at.parent();
  auto dir = Load(id);
  if (!dir.ok() && dir.status().code() == StatusCode::kMetaNotFound && id == 1) {
    return Status(StatusCode::kMetaNotInitialized, "the namespace has no root directory");
  }
  return dir;
}

Result<Inode> Resolver::FollowSymlink(const Inode& dir, const Inode& link) {
  if (++symlinks_ > limits_.max_symlinks) {
    return MakeStatus(StatusCode::kMetaTooManySymlinks, "more than {} symlinks",
                      limits_.max_symlinks);
  }
  PathAt at;
  at.set_parent(dir.id());
  at.set_path(link.symlink_target());
  return Resolve(at, true);
}

Result<Inode> Resolver::Step(const Inode& dir, const std::string& name) {
  if (dir.type() != INODE_DIRECTORY) {
    return MakeStatus(StatusCode::kMetaNotDirectory, "inode {} is not a directory", dir.id());
  }
  HF3FS_TRY(CheckAccess(user_, dir, kMayExec));
  Inode next;
  if (name == ".") {
    return dir;
  } else if (name == "..") {
    HF3FS_TRY_ASSIGN(next, Load(dir.parent()));
  } else {
    HF3FS_TRY_ASSIGN(auto e, store::GetEntry(txn_, InodeId(dir.id()), name));
    if (!e) return MakeStatus(StatusCode::kMetaNotFound, "no entry '{}' in {}", name, dir.id());
    HF3FS_TRY_ASSIGN(next, Load(e->inode_id()));
  }
  if (next.type() == INODE_SYMLINK) {
    HF3FS_TRY_ASSIGN(next, FollowSymlink(dir, next));
  }
  if (next.type() != INODE_DIRECTORY) {
    return MakeStatus(StatusCode::kMetaNotDirectory, "'{}' is not a directory", name);
  }
  return next;
}

std::vector<std::string> PrefetchKeys(const PathAt& at) {
  const std::string& path = at.path();
  if (path.empty() || path == "." || path == ".." || path.find('/') != std::string::npos ||
      path.size() > kMaxNameBytes) {
    return {};
  }
  InodeId dir(at.parent() == 0 ? kRootInodeId.value() : at.parent());
  return {store::InodeKey(dir), store::EntryKey(dir, path)};
}

Result<ParentLookup> Resolver::Parent(const PathAt& at) {
  // One round trip for the two reads below on stores that have round trips (PostgreSQL).
  if (auto keys = PrefetchKeys(at); !keys.empty()) HF3FS_TRY(txn_.Prefetch(keys));
  HF3FS_TRY_ASSIGN(auto comps, SplitPath(at.path()));
  bool absolute = !at.path().empty() && at.path()[0] == '/';
  ParentLookup p;
  HF3FS_TRY_ASSIGN(p.dir, StartDir(at, absolute));
  if (comps.empty()) return p;
  p.trailing_slash = at.path().back() == '/';
  for (size_t i = 0; i + 1 < comps.size(); ++i) {
    HF3FS_TRY_ASSIGN(p.dir, Step(p.dir, comps[i]));
  }
  if (p.dir.type() != INODE_DIRECTORY) {
    return MakeStatus(StatusCode::kMetaNotDirectory, "inode {} is not a directory", p.dir.id());
  }
  HF3FS_TRY(CheckAccess(user_, p.dir, kMayExec));
  p.name = std::move(comps.back());
  if (p.name == ".") {
    p.kind = LastKind::kDot;
  } else if (p.name == "..") {
    p.kind = LastKind::kDotDot;
  } else {
    p.kind = LastKind::kNormal;
    HF3FS_TRY_ASSIGN(p.entry, store::GetEntry(txn_, InodeId(p.dir.id()), p.name));
  }
  return p;
}

Result<Inode> Resolver::Target(const ParentLookup& p, bool follow) {
  Inode inode;
  switch (p.kind) {
    case LastKind::kNone:
    case LastKind::kDot:
      return p.dir;
    case LastKind::kDotDot:
      return Load(p.dir.parent());
    case LastKind::kNormal:
      if (!p.entry) {
        return MakeStatus(StatusCode::kMetaNotFound, "no entry '{}' in {}", p.name, p.dir.id());
      }
      HF3FS_TRY_ASSIGN(inode, Load(p.entry->inode_id()));
  }
  if (inode.type() == INODE_SYMLINK && (follow || p.trailing_slash)) {
    HF3FS_TRY_ASSIGN(inode, FollowSymlink(p.dir, inode));
  }
  if (p.trailing_slash && inode.type() != INODE_DIRECTORY) {
    return MakeStatus(StatusCode::kMetaNotDirectory, "'{}' is not a directory", p.name);
  }
  return inode;
}

Result<Inode> Resolver::Resolve(const PathAt& at, bool follow) {
  HF3FS_TRY_ASSIGN(auto p, Parent(at));
  return Target(p, follow);
}

}  // namespace hf3fs::meta
