#include "meta/acl.h"

#include <algorithm>

#include "meta/permission.h"

namespace hf3fs::meta::acl {

namespace {

constexpr uint32_t kVersion = 2;
constexpr uint32_t kUndefinedId = 0xffffffff;

uint32_t Read32(std::string_view s, size_t at) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = v << 8 | static_cast<unsigned char>(s[at + i]);
  return v;
}
void Write32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>(v >> (8 * i)));
}

Status Invalid(std::string_view why) {
  return MakeStatus(StatusCode::kMetaInvalid, "invalid ACL: {}", why);
}

Status Validate(const Acl& acl) {
  int user_obj = 0, group_obj = 0, other = 0, mask = 0, named = 0;
  for (size_t i = 0; i < acl.size(); ++i) {
    const Entry& e = acl[i];
    if (e.perm & ~7u) return Invalid("permission bits beyond rwx");
    if (i > 0 && (acl[i - 1].tag > e.tag || (acl[i - 1].tag == e.tag && acl[i - 1].id >= e.id))) {
      return Invalid("entries out of order or duplicated");
    }
    switch (e.tag) {
      case kUserObj:
        ++user_obj;
        break;
      case kGroupObj:
        ++group_obj;
        break;
      case kOther:
        ++other;
        break;
      case kMask:
        ++mask;
        break;
      case kUser:
      case kGroup:
        ++named;
        break;
      default:
        return Invalid("unknown tag");
    }
  }
  if (user_obj != 1 || group_obj != 1 || other != 1 || mask > 1) return Invalid("base entries");
  if (named > 0 && mask == 0) return Invalid("named entries need a mask");
  return Status::Ok();
}

Entry* Find(Acl& acl, uint16_t tag) {
  for (auto& e : acl) {
    if (e.tag == tag) return &e;
  }
  return nullptr;
}

}  // namespace

Result<Acl> Parse(std::string_view bytes) {
  if (bytes.size() < 4 || (bytes.size() - 4) % 8 != 0) return Invalid("size");
  if (Read32(bytes, 0) != kVersion) return Invalid("version");
  Acl acl;
  for (size_t at = 4; at < bytes.size(); at += 8) {
    uint32_t tag_perm = Read32(bytes, at);
    Entry e{static_cast<uint16_t>(tag_perm & 0xffff), static_cast<uint16_t>(tag_perm >> 16),
            Read32(bytes, at + 4)};
    if (e.tag != kUser && e.tag != kGroup) e.id = kUndefinedId;
    acl.push_back(e);
  }
  HF3FS_TRY(Validate(acl));
  return acl;
}

std::string Serialize(const Acl& acl) {
  std::string s;
  Write32(s, kVersion);
  for (const auto& e : acl) {
    Write32(s, uint32_t{e.tag} | uint32_t{e.perm} << 16);
    Write32(s, e.tag == kUser || e.tag == kGroup ? e.id : kUndefinedId);
  }
  return s;
}

Status Check(const UserInfo& user, const Inode& inode, const Acl& acl, uint32_t want) {
  uint32_t mask_perm = 7;
  for (const auto& e : acl) {
    if (e.tag == kMask) mask_perm = e.perm;
  }
  bool group_matched = false;
  for (const auto& e : acl) {
    bool granted;
    switch (e.tag) {
      case kUserObj:
        if (user.uid() != inode.uid()) continue;
        granted = (e.perm & want) == want;
        return granted ? Status::Ok() : Status(StatusCode::kMetaAccessDenied, "ACL: owner");
      case kUser:
        if (user.uid() != e.id) continue;
        granted = (e.perm & mask_perm & want) == want;
        return granted ? Status::Ok() : Status(StatusCode::kMetaAccessDenied, "ACL: user");
      case kGroupObj:
      case kGroup:
        if (!InGroup(user, e.tag == kGroupObj ? inode.gid() : e.id)) continue;
        group_matched = true;
        if ((e.perm & mask_perm & want) == want) return Status::Ok();
        continue;
      case kOther:
        if (group_matched) return Status(StatusCode::kMetaAccessDenied, "ACL: group");
        granted = (e.perm & want) == want;
        return granted ? Status::Ok() : Status(StatusCode::kMetaAccessDenied, "ACL: other");
      default:
        continue;
    }
  }
  return Status(StatusCode::kMetaAccessDenied, "ACL");
}

bool EquivalentToMode(const Acl& acl) {
  return std::all_of(acl.begin(), acl.end(), [](const Entry& e) {
    return e.tag == kUserObj || e.tag == kGroupObj || e.tag == kOther;
  });
}

uint32_t ModeOf(const Acl& acl) {
  uint32_t owner = 0, group = 0, other = 0, mask = 8;
  for (const auto& e : acl) {
    if (e.tag == kUserObj) owner = e.perm;
    if (e.tag == kGroupObj) group = e.perm;
    if (e.tag == kOther) other = e.perm;
    if (e.tag == kMask) mask = e.perm;
  }
  return owner << 6 | (mask != 8 ? mask : group) << 3 | other;
}

void ApplyMode(Acl& acl, uint32_t mode) {
  Find(acl, kUserObj)->perm = (mode >> 6) & 7;
  Entry* mask = Find(acl, kMask);
  (mask ? mask : Find(acl, kGroupObj))->perm = (mode >> 3) & 7;
  Find(acl, kOther)->perm = mode & 7;
}

void Inherit(const std::string& dflt, Inode& child) {
  if (dflt.empty()) return;
  auto parsed = Parse(dflt);
  if (!parsed.ok()) return;  // validated when it was set
  Acl acl = std::move(*parsed);
  if (child.type() == INODE_DIRECTORY) child.set_acl_default(dflt);
  // posix_acl_create_masq: the ACL's owner/other (and mask, else group) are limited by the mode
  // the caller asked for, and the mode takes the resulting bits.
  uint32_t mode = child.mode();
  Entry* owner = Find(acl, kUserObj);
  Entry* other = Find(acl, kOther);
  Entry* mask = Find(acl, kMask);
  Entry* group = mask ? mask : Find(acl, kGroupObj);
  owner->perm &= (mode >> 6) & 7;
  group->perm &= (mode >> 3) & 7;
  other->perm &= mode & 7;
  child.set_mode((mode & ~0777u) | ModeOf(acl));
  child.set_acl_access(EquivalentToMode(acl) ? std::string() : Serialize(acl));
}

Status SetOnInode(std::string_view name, std::string_view value, Inode& inode) {
  bool is_default = name == kDefaultXattr;
  if (is_default && inode.type() != INODE_DIRECTORY) {
    return Status(StatusCode::kMetaAccessDenied, "default ACLs are for directories");
  }
  if (value.empty()) {
    is_default ? inode.clear_acl_default() : inode.clear_acl_access();
    return Status::Ok();
  }
  HF3FS_TRY_ASSIGN(auto parsed, Parse(value));
  if (is_default) {
    inode.set_acl_default(Serialize(parsed));
    return Status::Ok();
  }
  inode.set_mode((inode.mode() & ~0777u) | ModeOf(parsed));
  inode.set_acl_access(EquivalentToMode(parsed) ? std::string() : Serialize(parsed));
  return Status::Ok();
}

}  // namespace hf3fs::meta::acl
