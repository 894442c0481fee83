// POSIX ACLs (system.posix_acl_access / system.posix_acl_default) with Linux semantics: the
// xattr encoding, validation, the access check, chmod of an ACL and inheritance on create.
//
// Encoding (Linux posix_acl_xattr): a 4-byte little-endian version (2), then 8-byte entries
// {tag u16, perm u16, id u32}, all little-endian, sorted by tag then id.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "meta.pb.h"

namespace hf3fs::meta::acl {

inline constexpr std::string_view kAccessXattr = "system.posix_acl_access";
inline constexpr std::string_view kDefaultXattr = "system.posix_acl_default";

enum Tag : uint16_t {
  kUserObj = 0x01,
  kUser = 0x02,
  kGroupObj = 0x04,
  kGroup = 0x08,
  kMask = 0x10,
  kOther = 0x20,
};

struct Entry {
  uint16_t tag;
  uint16_t perm;  // rwx bits
  uint32_t id;    // uid or gid for kUser / kGroup
};
using Acl = std::vector<Entry>;

// Parses and validates (one owner, group and other entry; a mask when named entries exist; sorted,
// no duplicates; perms within rwx): kMetaInvalid (EINVAL) otherwise.
Result<Acl> Parse(std::string_view bytes);
std::string Serialize(const Acl& acl);

// The check of Linux's posix_acl_permission for a caller that is not root: ok or EACCES.
Status Check(const UserInfo& user, const Inode& inode, const Acl& acl, uint32_t mask);

// Whether the ACL says nothing beyond the mode bits (then only the mode is kept).
bool EquivalentToMode(const Acl& acl);
// The permission bits the access ACL implies (owner, mask or group, other).
uint32_t ModeOf(const Acl& acl);
// Rewrites the owner, mask (or group) and other entries from `mode` (chmod with an ACL).
void ApplyMode(Acl& acl, uint32_t mode);

// Inheritance: a new inode created with `mode` in a directory whose default ACL is `dflt`. Sets
// the new inode's mode and access ACL (and default ACL for a directory) as Linux's
// posix_acl_create does.
void Inherit(const std::string& dflt, Inode& child);

// Applies a setxattr / removexattr of an ACL name to `inode` (value empty: remove). EACCES for a
// default ACL on a non-directory.
Status SetOnInode(std::string_view name, std::string_view value, Inode& inode);

}  // namespace hf3fs::meta::acl
