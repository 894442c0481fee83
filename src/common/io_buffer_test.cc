#include "common/io_buffer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <set>

namespace hf3fs {
namespace {

TEST(IoBuffer, StorageIsAlignedForDirectIo) {
  for (size_t n :
       {size_t{1}, size_t{4096}, size_t{100000}, size_t{1} << 20, (size_t{1} << 20) + 1}) {
    IoBuffer b(n);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % kIoAlignment, 0u) << n;
    b[n - 1] = 7;  // the whole size is usable
  }
}

TEST(IoBuffer, LargeBlocksAreReusedAndManyCanBeHeldAtOnce) {
  void* first = IoAllocate(1 << 20);
  IoFree(first, 1 << 20);
  void* again = IoAllocate((1 << 20) - 100);  // same power-of-two class
  EXPECT_EQ(again, first) << "a freed 1 MiB block is handed out again";
  IoFree(again, (1 << 20) - 100);
  // More blocks than the cache keeps (16 per size): all are distinct while held, and freeing them
  // all works (the bound itself is not observable from here).
  std::set<void*> held;
  for (int i = 0; i < 64; ++i) held.insert(IoAllocate(4 << 20));
  EXPECT_EQ(held.size(), 64u);
  for (void* p : held) IoFree(p, 4 << 20);
  IoFree(nullptr, 4 << 20);
}

}  // namespace
}  // namespace hf3fs
