// ChannelCache: exactly-once handling of retried client updates at the head (ARCHITECTURE.md 3.2
// step 6). A client sends each update on a channel (client id, channel number) with a sequence
// number that grows by one per new update on that channel; a retry reuses the number.
//
//   Begin(seq) on a channel whose last sequence is L:
//     seq > L                   -> kNew: run the update (the channel is now busy with seq)
//     seq == L, finished ok     -> kDuplicate: answer with the cached response
//     seq == L, still running   -> kBusy (retryable kChannelBusy)
//     seq == L, failed          -> kNew: run it again
//     seq < L                   -> kStale (kStaleSequence: the client moved on long ago)
//
// Replicas keep the same cache for the updates forwarded to them (Observe, then Finish), so a
// replica that becomes the head after a failover recognizes a client's retry of an update the
// chain already applied, instead of applying it a second time over newer writes (design 0006).
//
// In memory and bounded: at most `max_channels` channels, least recently used evicted. Thread-safe.
#pragma once

#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "storage.pb.h"

namespace hf3fs::storage {

class ChannelCache {
 public:
  enum class Outcome { kNew, kDuplicate, kBusy, kStale };
  struct Begun {
    Outcome outcome;
    UpdateRsp cached;  // kDuplicate only
  };

  explicit ChannelCache(size_t max_channels) : max_channels_(max_channels) {}

  Begun Begin(uint64_t client_id, uint32_t channel, uint64_t seq);
  // A forwarded update carrying (client, channel, seq) reached this replica: the channel is busy
  // with seq from now on, as if Begin had run here, but nothing is refused (the head decided).
  // Returns false when there is nothing to track: seq is older than the channel's last, or this
  // replica already finished seq (a repeated forward); then Finish must not be called.
  bool Observe(uint64_t client_id, uint32_t channel, uint64_t seq);
  // Records the end of the update started with Begin(seq) or Observe(seq): ok responses are cached,
  // failures make the same sequence runnable again.
  void Finish(uint64_t client_id, uint32_t channel, uint64_t seq, const UpdateRsp* ok_response);

  size_t size() const;

 private:
  struct Key {
    uint64_t client;
    uint32_t channel;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const { return k.client * 1000003u ^ k.channel; }
  };
  struct Entry {
    uint64_t seq = 0;
    enum class State { kRunning, kDone, kFailed } state = State::kRunning;
    UpdateRsp response;
    std::list<Key>::iterator lru;
  };

  const size_t max_channels_;
  mutable std::mutex mu_;
  std::list<Key> lru_;  // most recent first
  std::unordered_map<Key, Entry, KeyHash> entries_;

  // The entry of a channel, created (evicting the least recently used) when missing, and moved to
  // the front of the LRU list. `created` says which. Called with mu_ held.
  Entry& Touch(const Key& key, uint64_t seq, bool& created);
};

}  // namespace hf3fs::storage
