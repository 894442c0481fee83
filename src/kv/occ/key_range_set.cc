#include "kv/occ/key_range_set.h"

#include <algorithm>

#include "common/check.h"

namespace hf3fs::kv::occ {

void KeyRangeSet::AddKey(std::string_view key) {
  KeyRange r;
  r.begin.assign(key);
  r.end.reserve(key.size() + 1);
  r.end.append(key);
  r.end.push_back('\0');
  bytes_ += r.begin.size() + r.end.size();
  ranges_.push_back(std::move(r));
  normalized_ = false;
}

void KeyRangeSet::AddRange(std::string_view begin, std::string_view end) {
  if (begin >= end) return;
  bytes_ += begin.size() + end.size();
  ranges_.push_back(KeyRange{std::string(begin), std::string(end)});
  normalized_ = false;
}

void KeyRangeSet::Normalize() {
  if (normalized_) return;
  std::sort(ranges_.begin(), ranges_.end(),
            [](const KeyRange& a, const KeyRange& b) { return a.begin < b.begin; });
  size_t out = 0;
  for (size_t i = 0; i < ranges_.size(); ++i) {
    if (out > 0 && ranges_[i].begin <= ranges_[out - 1].end) {
      if (ranges_[i].end > ranges_[out - 1].end) ranges_[out - 1].end = std::move(ranges_[i].end);
      continue;
    }
    if (out != i) ranges_[out] = std::move(ranges_[i]);
    ++out;
  }
  ranges_.resize(out);
  normalized_ = true;
}

bool KeyRangeSet::Intersects(const KeyRangeSet& other) const {
  HF3FS_CHECK(normalized_ && other.normalized_);
  size_t i = 0;
  size_t j = 0;
  const auto& a = ranges_;
  const auto& b = other.ranges_;
  while (i < a.size() && j < b.size()) {
    if (a[i].end <= b[j].begin) {
      ++i;
    } else if (b[j].end <= a[i].begin) {
      ++j;
    } else {
      return true;
    }
  }
  return false;
}

bool KeyRangeSet::Contains(std::string_view key) const {
  HF3FS_CHECK(normalized_);
  // The last range that begins at or before `key`.
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), key,
                             [](std::string_view k, const KeyRange& r) { return k < r.begin; });
  if (it == ranges_.begin()) return false;
  --it;
  return key < it->end;
}

}  // namespace hf3fs::kv::occ
