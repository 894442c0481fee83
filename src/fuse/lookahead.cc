#include "fuse/lookahead.h"

namespace hf3fs::fuse {

Lookahead::Dir& Lookahead::Get(uint64_t dir, Clock::time_point now) {
  auto it = dirs_.find(dir);
  if (it != dirs_.end()) return it->second;
  if (dirs_.size() >= options_.max_dirs) {
    // Drop the directory used longest ago (a linear pass; max_dirs is small).
    auto oldest = dirs_.begin();
    for (auto i = dirs_.begin(); i != dirs_.end(); ++i) {
      if (i->second.used < oldest->second.used) oldest = i;
    }
    dirs_.erase(oldest);
  }
  Dir& d = dirs_[dir];
  d.used = now;
  return d;
}

bool Lookahead::Covers(const Dir& d, std::string_view name, Clock::time_point now) const {
  if (!d.valid || now - d.at >= options_.ttl) return false;
  if (name <= std::string_view(d.lo)) return false;
  return d.to_end || name <= std::string_view(d.hi);
}

Lookahead::Result Lookahead::Lookup(uint64_t dir, std::string_view name, Clock::time_point now) {
  Result r;
  if (!enabled() || name == "." || name == "..") return r;
  std::lock_guard lock(mu_);
  Dir& d = Get(dir, now);
  d.used = now;
  std::string prev = d.last_name;
  d.last_name = std::string(name);
  if (Covers(d, name, now)) {
    auto it = d.entries.find(name);
    r.answer = it == d.entries.end() ? Answer::kMissing : Answer::kFound;
    if (it != d.entries.end()) r.inode = it->second;
    r.ttl_left = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.ttl - (now - d.at));
    if (d.fetching != 0) return r;
    // Keep ahead of the walk: fetch the next part when the lookups near the end of this one,
    // or refresh from here when this one is half way to expiring.
    bool near_end = false;
    if (!d.to_end) {
      size_t after =
          static_cast<size_t>(std::distance(d.entries.upper_bound(name), d.entries.end()));
      near_end = after < options_.max_entries / 4;
    }
    bool aging = now - d.at >= options_.ttl / 2;
    if (near_end || aging) {
      d.fetching = next_token_++;
      d.fetching_from = near_end ? d.hi : prev;
      d.changes.clear();
      r.fetch_token = d.fetching;
      r.fetch_from = d.fetching_from;
    }
    return r;
  }
  // A miss: meta answers it. A run of increasing names starts a fetch of what follows.
  d.run = (!prev.empty() && name > std::string_view(prev)) ? d.run + 1 : 1;
  if (d.run >= options_.trigger && d.fetching == 0) {
    d.fetching = next_token_++;
    d.fetching_from = std::string(name);
    d.changes.clear();
    r.fetch_token = d.fetching;
    r.fetch_from = d.fetching_from;
  }
  return r;
}

void Lookahead::Fill(uint64_t dir, uint64_t token,
                     std::vector<std::pair<std::string, meta::Inode>> entries, bool to_end,
                     Clock::time_point listed_at) {
  std::lock_guard lock(mu_);
  auto it = dirs_.find(dir);
  if (it == dirs_.end() || it->second.fetching != token) return;  // forgotten or superseded
  Dir& d = it->second;
  d.fetching = 0;
  if (!to_end && entries.empty()) {
    d.valid = false;  // nothing to trust: "more" without a name to bound the range
    d.changes.clear();
    return;
  }
  d.valid = true;
  d.lo = std::move(d.fetching_from);
  d.hi = entries.empty() ? d.lo : entries.back().first;
  d.to_end = to_end;
  d.at = listed_at;
  d.entries.clear();
  for (auto& [name, inode] : entries) d.entries.emplace(std::move(name), std::move(inode));
  // This mount's changes made while the listing was on its way, in the order they were made.
  for (const Change& c : d.changes) Apply(d, c);
  d.changes.clear();
}

void Lookahead::FetchFailed(uint64_t dir, uint64_t token) {
  std::lock_guard lock(mu_);
  auto it = dirs_.find(dir);
  if (it == dirs_.end() || it->second.fetching != token) return;
  it->second.fetching = 0;
  it->second.changes.clear();
  it->second.run = 0;
}

void Lookahead::Apply(Dir& d, const Change& c) {
  if (!d.valid || c.name <= d.lo || (!d.to_end && c.name > d.hi)) return;
  if (c.inode) {
    d.entries[c.name] = *c.inode;
    // Keep a window that grows with this mount's creates bounded: give up its low end.
    if (d.entries.size() > 2 * static_cast<size_t>(options_.max_entries)) {
      auto first = d.entries.begin();
      d.lo = first->first;
      d.entries.erase(first);
    }
  } else {
    d.entries.erase(c.name);
  }
}

void Lookahead::Added(uint64_t dir, const std::string& name, const meta::Inode& inode) {
  if (!enabled()) return;
  std::lock_guard lock(mu_);
  auto it = dirs_.find(dir);
  if (it == dirs_.end()) return;
  Change c{name, inode};
  if (it->second.fetching != 0) it->second.changes.push_back(c);
  Apply(it->second, c);
}

void Lookahead::Removed(uint64_t dir, const std::string& name) {
  if (!enabled()) return;
  std::lock_guard lock(mu_);
  auto it = dirs_.find(dir);
  if (it == dirs_.end()) return;
  Change c{name, std::nullopt};
  if (it->second.fetching != 0) it->second.changes.push_back(c);
  Apply(it->second, c);
}

void Lookahead::Forget(uint64_t dir) {
  std::lock_guard lock(mu_);
  dirs_.erase(dir);
}

}  // namespace hf3fs::fuse
