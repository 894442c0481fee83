// kill -9: a child process (chunk_kill9_writer) updates and commits chunks in a loop, reporting
// each acknowledged state on a pipe; the parent kills it with SIGKILL at a random moment, reopens
// the engine and checks that every chunk is at its last acknowledged state or at the state of the
// one update that was in flight, with bytes matching the checksum (no torn chunk). Repeated, with
// the child resuming from what the previous one left.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <random>

#include "chunk/chunk_engine.h"
#include "chunk/chunk_test_util.h"
#include "chunk/kill9_protocol.h"

namespace hf3fs::chunk {
namespace {

using namespace testing;

struct State {
  bool exists = false;
  uint64_t version = 0;
  uint32_t checksum = 0;
  uint32_t length = 0;
  bool operator==(const State&) const = default;
};

State FromRecord(const Kill9Record& r) {
  if (!r.exists) return State{};
  return State{true, r.version, r.checksum, r.length};
}

std::string Describe(const State& s) {
  return s.exists ? fmt::format("v{} len={} crc={:08x}", s.version, s.length, s.checksum)
                  : "absent";
}

// Kills and reaps the child on every exit path of a round.
class Child {
 public:
  Child(const std::string& dir, uint64_t seed) {
    int fds[2];
    HF3FS_CHECK(::pipe2(fds, O_CLOEXEC) == 0);
    read_fd_ = fds[0];
    // Everything the child needs is prepared before fork: only async-signal-safe calls after it.
    std::string fd_arg = std::to_string(kChildFd);
    std::string seed_arg = std::to_string(seed);
    const char* argv[] = {HF3FS_CHUNK_KILL9_WRITER, dir.c_str(), fd_arg.c_str(), seed_arg.c_str(),
                          nullptr};
    pid_ = ::fork();
    HF3FS_CHECK(pid_ >= 0);
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test
      ::dup2(fds[1], kChildFd);            // the duplicate does not inherit O_CLOEXEC
      int devnull = ::open("/dev/null", O_WRONLY);
      ::dup2(devnull, STDOUT_FILENO);  // keep the engine's logs out of the test output
      ::execv(argv[0], const_cast<char* const*>(argv));
      ::_exit(127);
    }
    ::close(fds[1]);
  }
  ~Child() {
    Kill();
    ::close(read_fd_);
  }

  // Reads one record, waiting at most `timeout_ms`; nullopt on timeout or end of stream.
  std::optional<Kill9Record> Next(int timeout_ms) {
    Kill9Record r;
    size_t got = 0;
    while (got < sizeof(r)) {
      pollfd p{read_fd_, POLLIN, 0};
      if (::poll(&p, 1, got == 0 ? timeout_ms : 1000) <= 0) return std::nullopt;
      ssize_t n = ::read(read_fd_, reinterpret_cast<char*>(&r) + got, sizeof(r) - got);
      if (n <= 0) {
        closed_ = true;  // the writer is gone
        return std::nullopt;
      }
      got += static_cast<size_t>(n);
    }
    EXPECT_EQ(r.magic, Kill9Record::kMagic);
    return r;
  }

  bool closed() const { return closed_; }

  // SIGKILL and wait; returns the wait status.
  int Kill() {
    if (pid_ <= 0) return status_;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status_, 0);
    pid_ = -1;
    return status_;
  }

 private:
  static constexpr int kChildFd = 100;
  pid_t pid_ = -1;
  int read_fd_ = -1;
  int status_ = 0;
  bool closed_ = false;
};

TEST(ChunkKill9, AcknowledgedVersionsSurviveSigkillAndNoChunkIsTorn) {
  TempDir dir;  // a real disk: the child uses O_DIRECT
  std::mt19937_64 rng(::testing::UnitTest::GetInstance()->random_seed() + 42);
  std::vector<State> known(kKill9Chunks);  // the state each chunk was left in
  int total_acks = 0;
  for (int round = 0; round < 8; ++round) {
    SCOPED_TRACE(fmt::format("round {}", round));
    int acks_this_round = 0;
    std::vector<State> acked = known;
    std::vector<std::optional<State>> inflight(kKill9Chunks);
    auto apply = [&](const Kill9Record& r) {
      ASSERT_LT(r.chunk, kKill9Chunks);
      if (r.kind == Kill9Record::kIntent) {
        inflight[r.chunk] = FromRecord(r);
      } else {
        acked[r.chunk] = FromRecord(r);
        inflight[r.chunk].reset();
        ++total_acks;
        ++acks_this_round;
      }
    };
    {
      Child child(dir.path(), rng());
      // Let it run: at least a few acknowledged updates, then a random extra delay.
      int wanted = 5 + static_cast<int>(rng() % 40);
      int acks = 0;
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (acks < wanted && !child.closed() && std::chrono::steady_clock::now() < deadline) {
        auto r = child.Next(1000);
        if (!r) continue;
        apply(*r);
        acks += r->kind == Kill9Record::kAck;
      }
      ASSERT_GE(acks, wanted) << "the writer made no progress";
      ::usleep(static_cast<useconds_t>(rng() % 30000));
      int status = child.Kill();
      EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
          << "the writer exited on its own, status " << status;
      while (auto r = child.Next(0)) apply(*r);  // records written before it died
    }

    metrics::Registry registry;
    auto opened = ChunkEngine::Open(dir.path(), SmallOptions(&registry));
    ASSERT_TRUE(opened.ok()) << opened.status();
    ChunkEngine& e = **opened;
    int inflight_applied = 0;
    int inflight_lost = 0;
    for (int i = 0; i < kKill9Chunks; ++i) {
      ChunkId id = MakeChunkId(InodeId(kKill9Inode), i);
      auto meta = e.GetMeta(TargetId(1), id);
      State actual;
      if (meta.ok() && meta->committed) {
        auto full = e.ReadFull(TargetId(1), id, ReadMode::kLastCommitted);
        ASSERT_TRUE(full.ok()) << "chunk " << i << ": " << full.status();  // torn => corruption
        actual = State{true, meta->commit_version(), full->checksum,
                       static_cast<uint32_t>(full->data.size())};
      } else if (!meta.ok()) {
        ASSERT_EQ(meta.status().code(), StatusCode::kChunkNotFound) << meta.status();
      }
      if (meta.ok() && meta->pending && !meta->pending->removal) {
        auto latest = e.ReadFull(TargetId(1), id, ReadMode::kLatest);
        EXPECT_TRUE(latest.ok()) << "chunk " << i << " torn pending: " << latest.status();
      }
      bool ok = actual == acked[i] || (inflight[i] && actual == *inflight[i]);
      if (inflight[i] && !(*inflight[i] == acked[i])) {
        (actual == *inflight[i] ? inflight_applied : inflight_lost) += 1;
      }
      EXPECT_TRUE(ok) << "chunk " << i << " is " << Describe(actual) << "; acknowledged "
                      << Describe(acked[i]) << ", in flight "
                      << (inflight[i] ? Describe(*inflight[i]) : "none");
      known[i] = actual;
    }
    ExpectNoLeakedSlots(e, TargetId(1));
    int inflight_count = 0;
    for (const auto& f : inflight) inflight_count += f.has_value();
    std::printf("kill9 round %d: %d updates acknowledged, %d in flight: %s\n", round,
                acks_this_round, inflight_count,
                inflight_applied ? "durable" : (inflight_lost ? "not durable" : "no change"));
  }
  EXPECT_GT(total_acks, 25);
}

}  // namespace
}  // namespace hf3fs::chunk
