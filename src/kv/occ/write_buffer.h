// The buffered writes of an optimistic transaction, and the overlay that gives it
// read-your-writes over its snapshot.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "kv/occ/key_range_set.h"

namespace hf3fs::kv::occ {

// Point writes (a value, or nullopt for Clear) and cleared ranges. A ClearRange drops the point
// writes inside it; a later Set inside a cleared range is kept as a point write, so applying
// "cleared ranges first, then point writes" reproduces the order of the calls.
// Not thread-safe.
class WriteBuffer {
 public:
  using PointMap = std::map<std::string, std::optional<std::string>, std::less<>>;
  using RangeMap = std::map<std::string, std::string, std::less<>>;  // begin -> end, disjoint

  void Set(std::string_view key, std::string_view value);
  void Clear(std::string_view key);
  void ClearRange(std::string_view begin, std::string_view end);

  enum class Lookup {
    kNotWritten,  // read the snapshot
    kCleared,     // the key is absent for this transaction
    kValue,       // *value holds the transaction's own value
  };
  Lookup Find(std::string_view key, const std::string** value) const;

  // The cleared range containing `key`, or nullptr.
  const std::pair<const std::string, std::string>* ClearedRangeAt(std::string_view key) const;

  const PointMap& points() const { return points_; }
  const RangeMap& cleared() const { return cleared_; }
  bool empty() const { return points_.empty() && cleared_.empty(); }
  // Bytes of every write call so far (keys, values, bounds); what kMaxTxnBytes limits.
  uint64_t bytes() const { return bytes_; }

  // Every key the buffer writes, as a normalized set (for conflict detection).
  KeyRangeSet WriteSet() const;

 private:
  PointMap points_;
  RangeMap cleared_;
  uint64_t bytes_ = 0;
};

}  // namespace hf3fs::kv::occ
