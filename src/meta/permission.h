// POSIX permission checks with Linux semantics: owner/group/other classes (the first class that
// matches decides, as Linux does), supplementary groups, root bypass (CAP_DAC_OVERRIDE: read and
// write always, execute when any execute bit is set or for directories), the sticky bit and
// ownership rules.
#pragma once

#include <cstdint>

#include "common/status.h"
#include "meta.pb.h"

namespace hf3fs::meta {

inline constexpr uint32_t kMayRead = 4;
inline constexpr uint32_t kMayWrite = 2;
inline constexpr uint32_t kMayExec = 1;

inline constexpr uint32_t kSetUid = 04000;
inline constexpr uint32_t kSetGid = 02000;
inline constexpr uint32_t kSticky = 01000;

inline bool IsRoot(const UserInfo& user) { return user.uid() == 0; }
bool InGroup(const UserInfo& user, uint32_t gid);
inline bool IsOwnerOrRoot(const UserInfo& user, const Inode& inode) {
  return IsRoot(user) || user.uid() == inode.uid();
}

// kMetaAccessDenied (EACCES) unless `user` may access `inode` for every bit of `mask`.
Status CheckAccess(const UserInfo& user, const Inode& inode, uint32_t mask);

// The sticky-bit rule for removing or renaming `victim` out of `dir`: kMetaNotPermitted (EPERM)
// when `dir` is sticky and `user` owns neither `victim` nor `dir` and is not root.
Status CheckSticky(const UserInfo& user, const Inode& dir, const Inode& victim);

}  // namespace hf3fs::meta
