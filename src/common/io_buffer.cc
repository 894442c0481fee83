#include "common/io_buffer.h"

#include <array>
#include <bit>
#include <mutex>

namespace hf3fs {
namespace {

constexpr size_t kMinCachedLog2 = 16;  // 64 KiB
constexpr size_t kMaxCachedLog2 = 26;  // 64 MiB
constexpr size_t kMaxPerClass = 16;
constexpr size_t kMaxCachedBytes = 256ull << 20;

struct Cache {
  std::mutex mu;
  std::array<std::vector<void*>, kMaxCachedLog2 + 1> free;
  size_t bytes = 0;
};

Cache& TheCache() {
  static Cache* cache = new Cache();  // never destroyed: buffers may be freed during exit
  return *cache;
}

// The cache class of a block of `bytes`, or 0 when such blocks are not cached.
size_t ClassOf(size_t bytes) {
  if (bytes < (size_t{1} << kMinCachedLog2) || bytes > (size_t{1} << kMaxCachedLog2)) return 0;
  return static_cast<size_t>(std::bit_width(bytes - 1));
}

void* Raw(size_t bytes) { return ::operator new(bytes, std::align_val_t(kIoAlignment)); }

}  // namespace

void* IoAllocate(size_t bytes) {
  size_t c = ClassOf(bytes);
  if (c == 0) return Raw(bytes);
  {
    Cache& cache = TheCache();
    std::lock_guard lock(cache.mu);
    auto& list = cache.free[c];
    if (!list.empty()) {
      void* p = list.back();
      list.pop_back();
      cache.bytes -= size_t{1} << c;
      return p;
    }
  }
  return Raw(size_t{1} << c);
}

void IoFree(void* p, size_t bytes) noexcept {
  if (p == nullptr) return;
  size_t c = ClassOf(bytes);
  if (c != 0) {
    Cache& cache = TheCache();
    std::lock_guard lock(cache.mu);
    auto& list = cache.free[c];
    if (list.size() < kMaxPerClass && cache.bytes + (size_t{1} << c) <= kMaxCachedBytes) {
      list.push_back(p);
      cache.bytes += size_t{1} << c;
      return;
    }
  }
  ::operator delete(p, std::align_val_t(kIoAlignment));
}

}  // namespace hf3fs
