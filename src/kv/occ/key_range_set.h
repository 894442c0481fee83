// Sets of half-open key ranges: the read and write sets of optimistic transactions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace hf3fs::kv::occ {

struct KeyRange {
  std::string begin;  // inclusive
  std::string end;    // exclusive
};

// Ranges are added in any order; Normalize() sorts them and merges overlapping or adjacent ones,
// after which Intersects() may be called. Adding after Normalize() is allowed (normalize again).
// Not thread-safe.
class KeyRangeSet {
 public:
  void AddKey(std::string_view key);                            // [key, key + '\0')
  void AddRange(std::string_view begin, std::string_view end);  // ignored when begin >= end
  void Normalize();

  // True when some key lies in both sets. Both sets must be normalized.
  bool Intersects(const KeyRangeSet& other) const;
  // True when `key` lies in one of the ranges. The set must be normalized.
  bool Contains(std::string_view key) const;

  bool empty() const { return ranges_.empty(); }
  size_t size() const { return ranges_.size(); }
  size_t bytes() const { return bytes_; }  // bound bytes added so far (before merging)
  const std::vector<KeyRange>& ranges() const { return ranges_; }

 private:
  std::vector<KeyRange> ranges_;
  size_t bytes_ = 0;
  bool normalized_ = true;
};

}  // namespace hf3fs::kv::occ
