#include "kv/occ/write_buffer.h"

namespace hf3fs::kv::occ {

void WriteBuffer::Set(std::string_view key, std::string_view value) {
  bytes_ += key.size() + value.size();
  auto it = points_.find(key);
  if (it == points_.end()) {
    points_.emplace(std::string(key), std::string(value));
  } else {
    it->second.emplace(value);
  }
}

void WriteBuffer::Clear(std::string_view key) {
  bytes_ += key.size();
  auto it = points_.find(key);
  if (it == points_.end()) {
    points_.emplace(std::string(key), std::nullopt);
  } else {
    it->second.reset();
  }
}

void WriteBuffer::ClearRange(std::string_view begin, std::string_view end) {
  if (begin >= end) return;
  bytes_ += begin.size() + end.size();
  points_.erase(points_.lower_bound(begin), points_.lower_bound(end));

  // Merge with every cleared range that overlaps or touches [begin, end).
  std::string new_begin(begin);
  std::string new_end(end);
  auto it = cleared_.upper_bound(begin);
  if (it != cleared_.begin()) {
    auto prev = std::prev(it);
    if (prev->second >= begin) it = prev;
  }
  while (it != cleared_.end() && it->first <= new_end) {
    if (it->first < new_begin) new_begin = it->first;
    if (it->second > new_end) new_end = it->second;
    it = cleared_.erase(it);
  }
  cleared_.emplace(std::move(new_begin), std::move(new_end));
}

const std::pair<const std::string, std::string>* WriteBuffer::ClearedRangeAt(
    std::string_view key) const {
  auto it = cleared_.upper_bound(key);
  if (it == cleared_.begin()) return nullptr;
  --it;
  return key < it->second ? &*it : nullptr;
}

WriteBuffer::Lookup WriteBuffer::Find(std::string_view key, const std::string** value) const {
  auto it = points_.find(key);
  if (it != points_.end()) {
    if (!it->second) return Lookup::kCleared;
    *value = &*it->second;
    return Lookup::kValue;
  }
  return ClearedRangeAt(key) ? Lookup::kCleared : Lookup::kNotWritten;
}

KeyRangeSet WriteBuffer::WriteSet() const {
  KeyRangeSet set;
  for (const auto& [key, value] : points_) set.AddKey(key);
  for (const auto& [begin, end] : cleared_) set.AddRange(begin, end);
  set.Normalize();
  return set;
}

}  // namespace hf3fs::kv::occ
