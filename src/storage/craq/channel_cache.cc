#include "storage/craq/channel_cache.h"

namespace hf3fs::storage {

ChannelCache::Entry& ChannelCache::Touch(const Key& key, uint64_t seq, bool& created) {
  auto it = entries_.find(key);
  created = it == entries_.end();
  if (created) {
    if (entries_.size() >= max_channels_ && !lru_.empty()) {
      entries_.erase(lru_.back());
      lru_.pop_back();
    }
    lru_.push_front(key);
    Entry e;
    e.seq = seq;
    e.lru = lru_.begin();
    return entries_.emplace(key, std::move(e)).first->second;
  }
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second;
}

ChannelCache::Begun ChannelCache::Begin(uint64_t client_id, uint32_t channel, uint64_t seq) {
  std::lock_guard lock(mu_);
  bool created;
  Entry& e = Touch(Key{client_id, channel}, seq, created);
  if (created) return {Outcome::kNew, {}};
  if (seq < e.seq) return {Outcome::kStale, {}};
  if (seq == e.seq) {
    if (e.state == Entry::State::kDone) return {Outcome::kDuplicate, e.response};
    if (e.state == Entry::State::kRunning) return {Outcome::kBusy, {}};
  }
  e.seq = seq;
  e.state = Entry::State::kRunning;
  e.response.Clear();
  return {Outcome::kNew, {}};
}

bool ChannelCache::Observe(uint64_t client_id, uint32_t channel, uint64_t seq) {
  std::lock_guard lock(mu_);
  bool created;
  Entry& e = Touch(Key{client_id, channel}, seq, created);
  if (created) return true;
  if (seq < e.seq || (seq == e.seq && e.state == Entry::State::kDone)) return false;
  e.seq = seq;
  e.state = Entry::State::kRunning;
  e.response.Clear();
  return true;
}

void ChannelCache::Finish(uint64_t client_id, uint32_t channel, uint64_t seq,
                          const UpdateRsp* ok_response) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(Key{client_id, channel});
  if (it == entries_.end() || it->second.seq != seq) return;  // evicted or superseded
  if (ok_response) {
    it->second.state = Entry::State::kDone;
    it->second.response = *ok_response;
  } else {
    it->second.state = Entry::State::kFailed;
  }
}

size_t ChannelCache::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace hf3fs::storage
