#include "mgmtd/chain_state.h"

#include <fmt/format.h>

#include <algorithm>
#include <string>

namespace hf3fs::mgmtd {

std::string_view ToString(PublicState s) {
  switch (s) {
    case PublicState::kServing: return "SERVING";
    case PublicState::kSyncing: return "SYNCING";
    case PublicState::kWaiting: return "WAITING";
    case PublicState::kLastSrv: return "LASTSRV";
    case PublicState::kOffline: return "OFFLINE";
  }
  return "UNKNOWN";
}

std::string_view ToString(LocalState s) {
  switch (s) {
    case LocalState::kUpToDate: return "UPTODATE";
    case LocalState::kOnline: return "ONLINE";
    case LocalState::kOffline: return "OFFLINE";
  }
  return "UNKNOWN";
}

TargetId Chain::Head() const {
  for (const auto& t : targets) {
    if (t.state == PublicState::kServing) return t.id;
  }
  return TargetId();
}

TargetId Chain::Tail() const {
  TargetId tail;
  for (const auto& t : targets) {
    if (t.state == PublicState::kServing) tail = t.id;
  }
  return tail;
}

std::string Describe(const Chain& c) {
  std::string out = fmt::format("chain {} v{} [", c.id, c.version);
  for (size_t i = 0; i < c.targets.size(); ++i) {
    out += fmt::format("{}{}:{}", i ? " " : "", c.targets[i].id, ToString(c.targets[i].state));
  }
  return out + "]";
}

namespace {

// Position of a state's group in a chain: SERVING, LASTSRV, SYNCING, WAITING, OFFLINE.
int GroupRank(PublicState s) {
  switch (s) {
    case PublicState::kServing: return 0;
    case PublicState::kLastSrv: return 1;
    case PublicState::kSyncing: return 2;
    case PublicState::kWaiting: return 3;
    case PublicState::kOffline: return 4;
  }
  return 5;
}

bool Any(const std::vector<ChainTarget>& ts, PublicState s) {
  return std::any_of(ts.begin(), ts.end(), [s](const ChainTarget& t) { return t.state == s; });
}

// Stable regrouping: targets that kept their state first, then the ones that entered the group.
std::vector<ChainTarget> Regroup(const std::vector<ChainTarget>& old_order,
                                 const std::vector<ChainTarget>& next) {
  std::vector<std::pair<int, size_t>> keys;  // (group rank * 2 + entered, old index)
  for (size_t i = 0; i < next.size(); ++i) {
    bool entered = next[i].state != old_order[i].state;
    keys.emplace_back(GroupRank(next[i].state) * 2 + (entered ? 1 : 0), i);
  }
  std::stable_sort(keys.begin(), keys.end());
  std::vector<ChainTarget> out;
  for (auto [k, i] : keys) out.push_back(next[i]);
  return out;
}

Chain Finish(const Chain& old, std::vector<ChainTarget> next) {
  Chain out = old;
  out.targets = Regroup(old.targets, next);
  if (out.targets != old.targets) out.version = ChainVersion(old.version.value() + 1);
  return out;
}

}  // namespace

Chain NextChain(const Chain& old, const ObserveFn& observe) {
  std::vector<ChainTarget> next = old.targets;
  std::vector<TargetObservation> obs;
  for (const auto& t : old.targets) obs.push_back(observe(t.id));

  // 1. Failures.
  bool serving_survives = false;
  for (size_t i = 0; i < next.size(); ++i) {
    if (next[i].state == PublicState::kServing && obs[i].alive()) serving_survives = true;
  }
  bool lastsrv_assigned = Any(next, PublicState::kLastSrv);
  for (size_t i = 0; i < next.size(); ++i) {
    if (obs[i].alive()) continue;
    switch (next[i].state) {
      case PublicState::kServing:
        if (!serving_survives && !lastsrv_assigned) {
          next[i].state = PublicState::kLastSrv;
          lastsrv_assigned = true;
        } else {
          next[i].state = PublicState::kOffline;
        }
        break;
      case PublicState::kSyncing:
      case PublicState::kWaiting:
        next[i].state = PublicState::kOffline;
        break;
      default:
        break;
    }
  }

  // 2. The last serving replica returns.
  if (!Any(next, PublicState::kServing)) {
    for (size_t i = 0; i < next.size(); ++i) {
      if (next[i].state == PublicState::kLastSrv && obs[i].alive()) {
        next[i].state = PublicState::kServing;
        break;
      }
    }
  }

  // 3. Recovery finished, or lost its source.
  bool serving = Any(next, PublicState::kServing);
  for (size_t i = 0; i < next.size(); ++i) {
    if (next[i].state != PublicState::kSyncing) continue;
    if (!serving) {
      next[i].state = PublicState::kWaiting;
    } else if (obs[i].local == LocalState::kUpToDate &&
               (obs[i].seen_chain_version == 0 ||
                obs[i].seen_chain_version >= old.version.value())) {
      next[i].state = PublicState::kServing;
    }
  }

  // 4. Start at most one recovery.
  bool syncing = Any(next, PublicState::kSyncing);
  for (size_t i = 0; i < next.size(); ++i) {
    auto s = next[i].state;
    if ((s != PublicState::kOffline && s != PublicState::kWaiting) || !obs[i].alive()) continue;
    if (serving && !syncing) {
      next[i].state = PublicState::kSyncing;
      syncing = true;
    } else {
      next[i].state = PublicState::kWaiting;
    }
  }
  return Finish(old, std::move(next));
}

Chain RotateLastSrv(const Chain& old, const ObserveFn& observe) {
  std::vector<ChainTarget> next = old.targets;
  auto last = std::find_if(next.begin(), next.end(),
                           [](const ChainTarget& t) { return t.state == PublicState::kLastSrv; });
  if (last == next.end()) return old;
  for (auto& t : next) {
    if (t.state == PublicState::kWaiting && observe(t.id).alive()) {
      last->state = PublicState::kOffline;
      t.state = PublicState::kServing;
      return Finish(old, std::move(next));
    }
  }
  return old;
}

Chain RotateToPreferred(const Chain& old, const std::vector<TargetId>& preferred) {
  std::vector<ChainTarget> serving, rest;
  for (const auto& t : old.targets) {
    (t.state == PublicState::kServing ? serving : rest).push_back(t);
  }
  auto rank = [&](TargetId id) {
    auto it = std::find(preferred.begin(), preferred.end(), id);
    return it == preferred.end() ? preferred.size() : static_cast<size_t>(it - preferred.begin());
  };
  std::stable_sort(serving.begin(), serving.end(),
                   [&](const ChainTarget& a, const ChainTarget& b) { return rank(a.id) < rank(b.id); });
  Chain out = old;
  out.targets = serving;
  out.targets.insert(out.targets.end(), rest.begin(), rest.end());
  if (out.targets != old.targets) out.version = ChainVersion(old.version.value() + 1);
  return out;
}

std::string CheckChainInvariants(const Chain& chain) {
  int syncing = 0, lastsrv = 0, serving = 0;
  for (size_t i = 0; i < chain.targets.size(); ++i) {
    auto s = chain.targets[i].state;
    if (i > 0 && GroupRank(chain.targets[i - 1].state) > GroupRank(s)) {
      return fmt::format("chain {}: {} after {} breaks the group order", chain.id,
                         ToString(s), ToString(chain.targets[i - 1].state));
    }
    syncing += s == PublicState::kSyncing;
    lastsrv += s == PublicState::kLastSrv;
    serving += s == PublicState::kServing;
  }
  if (syncing > 1) return fmt::format("chain {}: {} SYNCING targets", chain.id, syncing);
  if (lastsrv > 1) return fmt::format("chain {}: {} LASTSRV targets", chain.id, lastsrv);
  if (lastsrv && serving) return fmt::format("chain {}: LASTSRV while a target serves", chain.id);
  if (syncing && !serving) return fmt::format("chain {}: SYNCING without a source", chain.id);
  return "";
}

}  // namespace hf3fs::mgmtd
