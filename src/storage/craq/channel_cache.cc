#include "storage/craq/channel_cache.h"

namespace hf3fs::storage {

ChannelCache::Begun ChannelCache::Begin(uint64_t client_id, uint32_t channel, uint64_t seq) {
  std::lock_guard lock(mu_);
  Key key{client_id, channel};
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= max_channels_ && !lru_.empty()) {
      entries_.erase(lru_.back());
      lru_.pop_back();
    }
    lru_.push_front(key);
    Entry e;
    e.seq = seq;
    e.lru = lru_.begin();
    entries_.emplace(key, std::move(e));
    return {Outcome::kNew, {}};
  }
  Entry& e = it->second;
  lru_.splice(lru_.begin(), lru_, e.lru);
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
