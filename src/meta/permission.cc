#include "meta/permission.h"

#include "meta/acl.h"

namespace hf3fs::meta {

bool InGroup(const UserInfo& user, uint32_t gid) {
  if (user.gid() == gid) return true;
  for (uint32_t g : user.groups()) {
    if (g == gid) return true;
  }
  return false;
}

Status CheckAccess(const UserInfo& user, const Inode& inode, uint32_t mask) {
  if (IsRoot(user)) {
    bool exec_ok = inode.type() == INODE_DIRECTORY || (inode.mode() & 0111) != 0;
    if (!(mask & kMayExec) || exec_ok) return Status::Ok();
  } else if (!inode.acl_access().empty()) {
    auto parsed = acl::Parse(inode.acl_access());
    if (!parsed.ok()) return parsed.status();
    return acl::Check(user, inode, *parsed, mask);
  } else {
    uint32_t bits;
    if (user.uid() == inode.uid()) {
      bits = (inode.mode() >> 6) & 7;
    } else if (InGroup(user, inode.gid())) {
      bits = (inode.mode() >> 3) & 7;
    } else {
      bits = inode.mode() & 7;
    }
    if ((bits & mask) == mask) return Status::Ok();
  }
  return MakeStatus(StatusCode::kMetaAccessDenied, "uid {} may not access inode {} (mask {})",
                    user.uid(), inode.id(), mask);
}

Status CheckSticky(const UserInfo& user, const Inode& dir, const Inode& victim) {
  if (!(dir.mode() & kSticky) || IsRoot(user)) return Status::Ok();
  if (user.uid() == dir.uid() || user.uid() == victim.uid()) return Status::Ok();
  return MakeStatus(StatusCode::kMetaNotPermitted,
                    "directory {} is sticky: only the owner of inode {} may remove it", dir.id(),
                    victim.id());
}

}  // namespace hf3fs::meta
