// Lookahead: the mount's answer to lookups that walk a directory in name order (docs/design/
// 0009-durability.md, "Fewer round trips"; Lustre calls the same idea statahead).
//
// Programs that create, stat or remove many files of one directory look names up one after
// another in increasing order (`ls -l`, `tar x`, a checkpoint writer, `rm -r`). After a few such
// lookups that meta had to answer, the mount fetches the next part of the directory in one
// READDIR with inodes and answers the following lookups of names in that part itself: an entry
// in it is found, a name in its range but not in it does not exist. A part is trusted for the
// entry timeout from the moment meta listed it, like an entry the kernel caches; this mount's own
// creates, removes and renames in the directory are applied to it, also those made while it was
// being fetched, so the mount always sees its own changes. Another mount's change becomes visible
// once the part expires (at most entry_timeout), as with the kernel's entry cache.
//
// Thread-safe. Bounded: one window of at most `max_entries` names per directory, at most
// `max_dirs` directories (the oldest is dropped).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "meta.pb.h"

namespace hf3fs::fuse {

class Lookahead {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    uint32_t max_entries = 1024;  // names fetched per window; 0: off
    std::chrono::nanoseconds ttl = std::chrono::seconds(1);
    uint32_t trigger = 4;  // consecutive increasing misses in one directory that start a fetch
    uint32_t max_dirs = 256;
  };
  explicit Lookahead(Options options) : options_(options) {}

  enum class Answer { kUnknown, kMissing, kFound };
  struct Result {
    Answer answer = Answer::kUnknown;
    meta::Inode inode;                     // kFound
    std::chrono::nanoseconds ttl_left{0};  // how long the answer may be cached (kFound, kMissing)
    // Fetch the window that starts after `fetch_from` (exclusive) now (fetch_token != 0).
    uint64_t fetch_token = 0;
    std::string fetch_from;
  };
  // Answers a lookup of `name` in `dir` when a fresh window covers it, and says when to fetch the
  // next window (after enough increasing misses, or when a hit nears the end of the window).
  Result Lookup(uint64_t dir, std::string_view name, Clock::time_point now = Clock::now());

  // The answer to fetch `token` of `dir`: names after `from` in order, with their inodes, as meta
  // listed them at `listed_at`; `to_end` when the listing reached the end of the directory.
  void Fill(uint64_t dir, uint64_t token, std::vector<std::pair<std::string, meta::Inode>> entries,
            bool to_end, Clock::time_point listed_at);
  // A fetch failed: the next lookup may try again.
  void FetchFailed(uint64_t dir, uint64_t token);

  // This mount changed `dir`: applied to its window, and recorded for fetches in flight.
  void Added(uint64_t dir, const std::string& name, const meta::Inode& inode);
  void Removed(uint64_t dir, const std::string& name);
  // Forgets everything about `dir` (an operation whose outcome is unknown).
  void Forget(uint64_t dir);

  bool enabled() const { return options_.max_entries > 0; }

 private:
  struct Change {
    std::string name;
    std::optional<meta::Inode> inode;  // nullopt: removed
  };
  struct Dir {
    // The window: names in (lo, hi], or (lo, end) when to_end, as listed at `at`.
    bool valid = false;
    std::string lo;
    std::string hi;
    bool to_end = false;
    Clock::time_point at;
    std::map<std::string, meta::Inode, std::less<>> entries;
    // Miss detection.
    std::string last_name;
    uint32_t run = 0;
    // The fetch in flight (0: none) and this mount's changes since it started.
    uint64_t fetching = 0;
    std::string fetching_from;
    std::vector<Change> changes;
    Clock::time_point used;
  };
  bool Covers(const Dir& d, std::string_view name, Clock::time_point now) const;
  void Apply(Dir& d, const Change& c);
  Dir& Get(uint64_t dir, Clock::time_point now);

  const Options options_;
  std::mutex mu_;
  std::unordered_map<uint64_t, Dir> dirs_;
  uint64_t next_token_ = 1;
};

}  // namespace hf3fs::fuse
