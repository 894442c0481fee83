// Path resolution inside an op's transaction (docs/design/0005-meta.md, "Operations").
//
// Every entry and inode on the way is read with a read conflict, so a concurrent change of a
// traversed entry aborts the op's transaction. Search permission is checked on every directory
// looked up in, including the one holding the last component. Intermediate symlinks are followed;
// at most limits.max_symlinks per Resolver (ELOOP past it).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "kv/engine.h"
#include "meta.pb.h"
#include "meta/ops/ops.h"

namespace hf3fs::meta {

inline constexpr size_t kMaxNameBytes = 255;
inline constexpr size_t kMaxPathBytes = 4096;

// What the last component of a path is.
enum class LastKind {
  kNone,    // the path names its start directory itself ("" or "/")
  kDot,     // "."
  kDotDot,  // ".."
  kNormal,  // a name
};

struct ParentLookup {
  Inode dir;  // the directory holding the last component (the start directory for kNone)
  std::string name;
  LastKind kind = LastKind::kNone;
  bool trailing_slash = false;
  std::optional<DirEntry> entry;  // the entry of `name` when it exists (kNormal only)
};

// The keys resolving `at` reads first when it names one entry of a directory given by id (the
// directory's inode and the entry): what a FUSE request carries. Empty otherwise.
std::vector<std::string> PrefetchKeys(const PathAt& at);

class Resolver {
 public:
  Resolver(kv::Transaction& txn, const UserInfo& user, const MetaLimits& limits)
      : txn_(txn), user_(user), limits_(limits) {}

  // Resolves every component but the last and looks the last one up in its directory.
  // ENOENT / ENOTDIR / EACCES / ELOOP / ENAMETOOLONG on the way.
  Result<ParentLookup> Parent(const PathAt& at);

  // Resolves the whole path. A final symlink is followed when `follow` (or the path ends in '/').
  Result<Inode> Resolve(const PathAt& at, bool follow);

  // The inode a lookup produced (ENOENT for kNormal without entry), following a final symlink
  // when `follow`.
  Result<Inode> Target(const ParentLookup& p, bool follow);

  // Reads inode `id` with a read conflict; kMetaNotFound when it does not exist.
  Result<Inode> Load(uint64_t id);

 private:
  Result<Inode> StartDir(const PathAt& at, bool absolute);
  // One intermediate step from directory `dir` through `name`; the result is a directory.
  Result<Inode> Step(const Inode& dir, const std::string& name);
  Result<Inode> FollowSymlink(const Inode& dir, const Inode& link);

  kv::Transaction& txn_;
  const UserInfo& user_;
  const MetaLimits& limits_;
  uint32_t symlinks_ = 0;
};

// Splits a path into its non-empty components; kMetaNameTooLong for a path over kMaxPathBytes or
// a component over kMaxNameBytes.
Result<std::vector<std::string>> SplitPath(std::string_view path);

}  // namespace hf3fs::meta
