// IoBuffer: a byte vector whose storage is aligned for O_DIRECT (4 KiB) and whose growth does not
// zero-fill, so that a disk read can land in it directly (no bounce buffer, no memset of bytes the
// read overwrites anyway). Blocks of 64 KiB and more are kept for reuse (a bounded cache per
// power-of-two size): a fresh mapping per request costs a page fault per 4 KiB on first touch,
// which measured 4× the disk time of a 1 MiB read on a VM.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>
#include <vector>

namespace hf3fs {

inline constexpr size_t kIoAlignment = 4096;

// Aligned storage of at least `bytes`; blocks from 64 KiB up come from (and go back to) a bounded
// cache. Thread-safe.
void* IoAllocate(size_t bytes);
void IoFree(void* p, size_t bytes) noexcept;

template <typename T>
struct IoAllocator {
  using value_type = T;
  IoAllocator() = default;
  template <typename U>
  IoAllocator(const IoAllocator<U>&) noexcept {}

  T* allocate(size_t n) { return static_cast<T*>(IoAllocate(n * sizeof(T))); }
  void deallocate(T* p, size_t n) noexcept { IoFree(p, n * sizeof(T)); }
  // resize() default-initializes (leaves bytes as they are) instead of value-initializing.
  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
  template <typename U>
  bool operator==(const IoAllocator<U>&) const noexcept {
    return true;
  }
};

using IoBuffer = std::vector<uint8_t, IoAllocator<uint8_t>>;

}  // namespace hf3fs
