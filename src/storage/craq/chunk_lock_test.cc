#include "storage/craq/chunk_lock.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <thread>
#include <vector>

namespace hf3fs::storage {
namespace {

namespace asio = boost::asio;

TEST(ChunkLocks, SerializesHoldersOfOneChunkInFifoOrder) {
  asio::io_context io;
  ChunkLocks locks;
  std::vector<int> order;
  int inside = 0, max_inside = 0;
  for (int i = 0; i < 5; ++i) {
    asio::co_spawn(
        io,
        [&, i]() -> asio::awaitable<void> {
          auto g = co_await locks.Lock(TargetId(1), "chunk");
          ++inside;
          max_inside = std::max(max_inside, inside);
          order.push_back(i);
          asio::steady_timer t(io, std::chrono::milliseconds(2));
          co_await t.async_wait(asio::use_awaitable);
          --inside;
        },
        asio::detached);
  }
  io.run();
  EXPECT_EQ(max_inside, 1);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(locks.locked(), 0u);
}

TEST(ChunkLocks, DifferentChunksAndTargetsDoNotBlockEachOther) {
  asio::io_context io;
  ChunkLocks locks;
  int held = 0;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto a = co_await locks.Lock(TargetId(1), "a");
        auto b = co_await locks.Lock(TargetId(1), "b");
        auto c = co_await locks.Lock(TargetId(2), "a");
        held = static_cast<int>(locks.locked());
      },
      asio::detached);
  io.run();
  EXPECT_EQ(held, 3);
  EXPECT_EQ(locks.locked(), 0u);
}

TEST(ChunkLocks, ExcludesAcrossThreads) {
  asio::io_context io1, io2;
  ChunkLocks locks;
  std::atomic<int> inside{0};
  std::atomic<bool> overlap{false};
  int done = 0;
  auto body = [&](asio::io_context& io) -> asio::awaitable<void> {
    for (int i = 0; i < 2000; ++i) {
      auto g = co_await locks.Lock(TargetId(7), "x");
      if (inside.fetch_add(1) != 0) overlap = true;
      inside.fetch_sub(1);
    }
    (void)io;
    ++done;
  };
  asio::co_spawn(io1, body(io1), asio::detached);
  asio::co_spawn(io2, body(io2), asio::detached);
  std::thread t([&] { io2.run(); });
  io1.run();
  t.join();
  EXPECT_FALSE(overlap.load());
  EXPECT_EQ(done, 2);
  EXPECT_EQ(locks.locked(), 0u);
}

}  // namespace
}  // namespace hf3fs::storage
