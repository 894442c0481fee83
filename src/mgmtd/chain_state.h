// The chain state machine (ARCHITECTURE.md 2.1) as a pure function: old chain + what is known of
// each target's node now -> new chain. mgmtd runs it periodically for every chain; nothing here
// touches storage, clocks or the network, so every transition is unit-tested.
//
// Public states (decided here, published in routing info):
//   SERVING  holds all committed data; serves reads and writes. The first SERVING target is the
//            head, the last is the tail.
//   SYNCING  alive and being recovered by its predecessor; receives writes, serves no reads.
//   WAITING  alive, but recovery cannot start yet (no SERVING target, or another is SYNCING).
//   LASTSRV  down, but was the last SERVING target, so it holds the newest data: the chain waits
//            for it instead of promoting a replica that may be behind.
//   OFFLINE  down (or refused), holds nothing the chain relies on.
// Local states (reported by the storage node in heartbeats): UPTODATE, ONLINE, OFFLINE. A target
// whose node stopped heartbeating counts as locally OFFLINE.
//
// Transitions, applied in this order on every run:
//   1. SERVING and down  -> LASTSRV if no other target stays SERVING (of several failing together,
//      the earliest in chain order), else OFFLINE. SYNCING/WAITING and down -> OFFLINE.
//   2. LASTSRV and alive -> SERVING, when no target is SERVING (it has the newest data).
//   3. SYNCING and alive: UPTODATE (reported under the chain's current version, or without a
//      version) -> SERVING; with no SERVING target left -> WAITING.
//   4. OFFLINE/WAITING and alive -> SYNCING when a target is SERVING and none is SYNCING (at most
//      one recovery per chain), else WAITING.
//   5. Reorder SERVING, LASTSRV, SYNCING, WAITING, OFFLINE; within a group, targets that kept their
//      state keep their order and targets that just entered the group go after them (a recovered
//      replica joins as the tail; a failed one moves to the end).
//   Any change of a state or of the order bumps the chain version.
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "common/ids.h"

namespace hf3fs::mgmtd {

enum class PublicState : uint8_t { kServing = 1, kSyncing = 2, kWaiting = 3, kLastSrv = 4, kOffline = 5 };
enum class LocalState : uint8_t { kUpToDate = 1, kOnline = 2, kOffline = 3 };

std::string_view ToString(PublicState s);
std::string_view ToString(LocalState s);

struct ChainTarget {
  TargetId id;
  PublicState state = PublicState::kServing;
  bool operator==(const ChainTarget&) const = default;
};

struct Chain {
  ChainId id;
  ChainVersion version;
  std::vector<ChainTarget> targets;  // ordered; see the group order above
  bool operator==(const Chain&) const = default;

  // The head (first SERVING target), or an invalid id when none serves.
  TargetId Head() const;
  TargetId Tail() const;
};

// "chain 7 v2 [2:SERVING 3:SERVING 1:OFFLINE]"
std::string Describe(const Chain& chain);
inline void PrintTo(const Chain& c, std::ostream* os) { *os << Describe(c); }

// What mgmtd knows of one target right now.
struct TargetObservation {
  LocalState local = LocalState::kOffline;
  bool node_alive = false;  // its node heartbeated within the timeout and is enabled
  // The chain version the node decided `local` under (0: not reported). An UPTODATE decided under
  // an older version than the chain's cannot end a recovery (rule 3): it may predate the target's
  // removal from SERVING, so the target may have missed writes.
  uint32_t seen_chain_version = 0;

  bool alive() const { return node_alive && local != LocalState::kOffline; }
};

using ObserveFn = std::function<TargetObservation(TargetId)>;

// Applies the transitions above. The result's version is old.version + 1 when anything changed,
// else old.version.
Chain NextChain(const Chain& old, const ObserveFn& observe);

// Admin: give up on a LASTSRV target whose node will not come back. The LASTSRV target becomes
// OFFLINE and the first alive WAITING target becomes SERVING (it may lack the newest writes:
// callers log this as possible data loss). Returns the chain unchanged if it has no LASTSRV target
// or no alive candidate.
Chain RotateLastSrv(const Chain& old, const ObserveFn& observe);

// Admin: reorder the SERVING targets to follow `preferred` (targets not listed keep their relative
// order after the listed ones); other groups are untouched. Bumps the version when the order
// changes.
Chain RotateToPreferred(const Chain& old, const std::vector<TargetId>& preferred);

// Invariants every chain produced by NextChain satisfies: states grouped in the order above, at
// most one SYNCING, at most one LASTSRV, no LASTSRV while a target serves, no SYNCING without a
// SERVING target. Returns an empty string when they hold, else what is wrong.
std::string CheckChainInvariants(const Chain& chain);

}  // namespace hf3fs::mgmtd
