#include "mgmtd/chain_state.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace hf3fs::mgmtd {
namespace {

using PS = PublicState;
using LS = LocalState;

// A chain written as "1:S 2:S 3:O" and observations as {id: "U"|"N"|"O"|"-"} where "-" means the
// node stopped heartbeating (U = UPTODATE, N = ONLINE, O = OFFLINE, each with a live node).
Chain C(std::vector<std::pair<uint64_t, PS>> ts, uint32_t version = 1) {
  Chain c{ChainId(7), ChainVersion(version), {}};
  for (auto [id, s] : ts) c.targets.push_back({TargetId(id), s});
  return c;
}

ObserveFn Obs(std::map<uint64_t, std::string> m) {
  return [m](TargetId id) {
    auto it = m.find(id.value());
    std::string v = it == m.end() ? "U" : it->second;
    if (v == "-") return TargetObservation{LS::kUpToDate, false};
    LS l = v == "U" ? LS::kUpToDate : v == "N" ? LS::kOnline : LS::kOffline;
    return TargetObservation{l, true};
  };
}

struct Case {
  const char* name;
  Chain before;
  std::map<uint64_t, std::string> obs;
  Chain after;
};

TEST(ChainStateMachine, EveryTransition) {
  const uint32_t v = 1, b = 2;  // unchanged / bumped version
  std::vector<Case> cases = {
      {"all healthy: no change",
       C({{1, PS::kServing}, {2, PS::kServing}, {3, PS::kServing}}),
       {},
       C({{1, PS::kServing}, {2, PS::kServing}, {3, PS::kServing}}, v)},
      {"serving node stops heartbeating -> OFFLINE, moved to the tail",
       C({{1, PS::kServing}, {2, PS::kServing}, {3, PS::kServing}}),
       {{1, "-"}},
       C({{2, PS::kServing}, {3, PS::kServing}, {1, PS::kOffline}}, b)},
      {"serving target reports local OFFLINE -> OFFLINE",
       C({{1, PS::kServing}, {2, PS::kServing}}),
       {{2, "O"}},
       C({{1, PS::kServing}, {2, PS::kOffline}}, b)},
      {"last serving target fails -> LASTSRV",
       C({{1, PS::kServing}, {2, PS::kOffline}}),
       {{1, "-"}, {2, "-"}},
       C({{1, PS::kLastSrv}, {2, PS::kOffline}}, b)},
      {"all serving fail together -> earliest becomes LASTSRV",
       C({{1, PS::kServing}, {2, PS::kServing}, {3, PS::kServing}}),
       {{1, "-"}, {2, "-"}, {3, "-"}},
       C({{1, PS::kLastSrv}, {2, PS::kOffline}, {3, PS::kOffline}}, b)},
      {"LASTSRV stays while down",
       C({{1, PS::kLastSrv}, {2, PS::kOffline}}),
       {{1, "-"}, {2, "-"}},
       C({{1, PS::kLastSrv}, {2, PS::kOffline}}, v)},
      {"others return while LASTSRV is down -> WAITING",
       C({{1, PS::kLastSrv}, {2, PS::kOffline}}),
       {{1, "-"}, {2, "N"}},
       C({{1, PS::kLastSrv}, {2, PS::kWaiting}}, b)},
      {"LASTSRV returns -> SERVING, then a waiting target syncs",
       C({{1, PS::kLastSrv}, {2, PS::kWaiting}}),
       {{1, "N"}, {2, "N"}},
       C({{1, PS::kServing}, {2, PS::kSyncing}}, b)},
      {"returning target -> SYNCING",
       C({{1, PS::kServing}, {2, PS::kOffline}}),
       {{2, "N"}},
       C({{1, PS::kServing}, {2, PS::kSyncing}}, b)},
      {"only one SYNCING at a time; the other WAITS",
       C({{1, PS::kServing}, {2, PS::kOffline}, {3, PS::kOffline}}),
       {{2, "N"}, {3, "N"}},
       C({{1, PS::kServing}, {2, PS::kSyncing}, {3, PS::kWaiting}}, b)},
      {"SYNCING reports ONLINE -> stays SYNCING",
       C({{1, PS::kServing}, {2, PS::kSyncing}}),
       {{2, "N"}},
       C({{1, PS::kServing}, {2, PS::kSyncing}}, v)},
      {"SYNCING reports UPTODATE -> SERVING as the new tail; next WAITING starts syncing",
       C({{1, PS::kServing}, {2, PS::kSyncing}, {3, PS::kWaiting}}),
       {{2, "U"}, {3, "N"}},
       C({{1, PS::kServing}, {2, PS::kServing}, {3, PS::kSyncing}}, b)},
      {"SYNCING node dies -> OFFLINE",
       C({{1, PS::kServing}, {2, PS::kSyncing}}),
       {{2, "-"}},
       C({{1, PS::kServing}, {2, PS::kOffline}}, b)},
      {"source of a sync dies -> syncing target WAITS, source becomes LASTSRV",
       C({{1, PS::kServing}, {2, PS::kSyncing}}),
       {{1, "-"}, {2, "N"}},
       C({{1, PS::kLastSrv}, {2, PS::kWaiting}}, b)},
      {"WAITING target dies -> OFFLINE",
       C({{1, PS::kServing}, {2, PS::kSyncing}, {3, PS::kWaiting}}),
       {{3, "-"}, {2, "N"}},
       C({{1, PS::kServing}, {2, PS::kSyncing}, {3, PS::kOffline}}, b)},
      {"newly failed target goes behind older OFFLINE ones",
       C({{1, PS::kServing}, {2, PS::kServing}, {3, PS::kOffline}}),
       {{1, "-"}, {3, "-"}},
       C({{2, PS::kServing}, {3, PS::kOffline}, {1, PS::kOffline}}, b)},
      {"single replica chain: fail and return",
       C({{1, PS::kServing}}),
       {{1, "-"}},
       C({{1, PS::kLastSrv}}, b)},
  };
  for (const auto& c : cases) {
    auto got = NextChain(c.before, Obs(c.obs));
    EXPECT_EQ(got, c.after) << c.name;
    EXPECT_EQ(CheckChainInvariants(got), "") << c.name;
  }
}

TEST(ChainStateMachine, RestartedLastSrvIsServingAgainOnNextRun) {
  auto c = C({{1, PS::kLastSrv}});
  auto next = NextChain(c, Obs({{1, "N"}}));
  EXPECT_EQ(next, C({{1, PS::kServing}}, 2));
}

TEST(ChainStateMachine, UpToDateFromAnOlderChainVersionDoesNotEndRecovery) {
  // Target 2 was cut off while SERVING and still reports the UPTODATE it decided under version 3;
  // the chain moved on (it is SYNCING at version 5), so it must be resynced first.
  Chain before = C({{1, PS::kServing}, {2, PS::kSyncing}}, 5);
  auto observe = [](uint32_t seen) {
    return [seen](TargetId) { return TargetObservation{LS::kUpToDate, true, seen}; };
  };
  EXPECT_EQ(NextChain(before, observe(3)), before);
  EXPECT_EQ(NextChain(before, observe(5)), C({{1, PS::kServing}, {2, PS::kServing}}, 6));
  EXPECT_EQ(NextChain(before, observe(0)), C({{1, PS::kServing}, {2, PS::kServing}}, 6));
}

TEST(ChainStateMachine, RotateLastSrvPromotesAnAliveWaitingTarget) {
  auto c = C({{1, PS::kLastSrv}, {2, PS::kWaiting}, {3, PS::kOffline}});
  auto r = RotateLastSrv(c, Obs({{1, "-"}, {2, "N"}, {3, "-"}}));
  EXPECT_EQ(r, C({{2, PS::kServing}, {3, PS::kOffline}, {1, PS::kOffline}}, 2));
  // No alive candidate: nothing changes.
  EXPECT_EQ(RotateLastSrv(c, Obs({{1, "-"}, {2, "-"}, {3, "-"}})), c);
  // Nothing to rotate.
  auto healthy = C({{1, PS::kServing}});
  EXPECT_EQ(RotateLastSrv(healthy, Obs({})), healthy);
}

TEST(ChainStateMachine, RotateToPreferredReordersServingOnly) {
  auto c = C({{1, PS::kServing}, {2, PS::kServing}, {3, PS::kServing}, {4, PS::kOffline}});
  auto r = RotateToPreferred(c, {TargetId(3), TargetId(1)});
  EXPECT_EQ(r, C({{3, PS::kServing}, {1, PS::kServing}, {2, PS::kServing}, {4, PS::kOffline}}, 2));
  EXPECT_EQ(r.Head(), TargetId(3));
  EXPECT_EQ(r.Tail(), TargetId(2));
  EXPECT_EQ(RotateToPreferred(r, {TargetId(3)}), r);
}

// Random histories of node failures and returns: invariants hold after every step, versions only
// grow, and a chain never loses its last copy silently (some target is SERVING or LASTSRV).
TEST(ChainStateMachine, RandomizedInvariants) {
  std::mt19937 rng(20261125);
  for (int trial = 0; trial < 2000; ++trial) {
    int r = 1 + rng() % 4;
    std::vector<std::pair<uint64_t, PS>> init;
    for (int i = 1; i <= r; ++i) init.push_back({uint64_t(i), PS::kServing});
    Chain c = C(init);
    std::map<uint64_t, std::string> obs;
    for (int step = 0; step < 40; ++step) {
      uint64_t t = 1 + rng() % r;
      const char* choices[] = {"U", "N", "O", "-"};
      obs[t] = choices[rng() % 4];
      auto next = NextChain(c, Obs(obs));
      ASSERT_EQ(CheckChainInvariants(next), "") << "trial " << trial << " step " << step;
      ASSERT_GE(next.version, c.version);
      bool has_copy = false;
      for (auto& ct : next.targets) {
        has_copy |= ct.state == PS::kServing || ct.state == PS::kLastSrv;
      }
      ASSERT_TRUE(has_copy) << "trial " << trial << " step " << step;
      // A fixpoint: running again with the same observations changes nothing further except
      // completing at most one more transition per target.
      c = next;
    }
  }
}

}  // namespace
}  // namespace hf3fs::mgmtd
