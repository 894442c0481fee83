// What libhf3fs_usrbio and the mount daemon share: the control messages on the daemon's Unix
// socket and the layout of a ring in shared memory. Byte layout and rules:
// docs/formats/usrbio.md; design: docs/design/0008-usrbio.md.
//
// Header-only, no dependencies beyond libc and <atomic>, so the C library stays small.
#pragma once

#include <semaphore.h>
#include <stdint.h>

#include <atomic>
#include <cstddef>

namespace hf3fs::usrbio {

inline constexpr uint32_t kProtocolVersion = 1;
inline constexpr uint32_t kCtlMagic = 0x4f495355;  // "USIO" little-endian

// ---- control messages (SOCK_SEQPACKET, one message each way per request) ----------------------

enum CtlOp : uint32_t {
  kHello = 1,      // a = protocol version; reply value = daemon pid
  kRegIov = 2,     // fd: the shm; id; a = size; reply value = iov handle
  kDeregIov = 3,   // a = iov handle
  kRegRing = 4,    // fds: ring shm, eventfd; a = entries; b = flags (bit 0: for_read);
                   // c = io_depth (int64); d = timeout_ms | priority << 32; e = HF3FS_IOR_* flags
                   // reply value = ring handle
  kDeregRing = 5,  // a = ring handle; replied once the ring's in-flight batches are done
  kRegFd = 6,      // fd: the file; reply value = file handle, value2 = inode id
  kDeregFd = 7,    // a = file handle
};

struct CtlReq {
  uint32_t magic = kCtlMagic;
  uint32_t op = 0;
  uint64_t a = 0, b = 0, c = 0, d = 0, e = 0;
  uint8_t id[16] = {};
};
static_assert(sizeof(CtlReq) == 64);

struct CtlRsp {
  int32_t result = 0;  // 0 or -errno
  uint32_t reserved = 0;
  uint64_t value = 0;
  uint64_t value2 = 0;
};
static_assert(sizeof(CtlRsp) == 24);

// ---- the ring ---------------------------------------------------------------------------------
//
// [RingHeader, padded to kRingHeaderBytes][Sqe x entries][Cqe x entries]. The application
// produces Sqes (sq_tail) and consumes Cqes (cq_head); the daemon consumes Sqes (sq_head) and
// produces Cqes (cq_tail). Positions are free-running uint64 counters (they never wrap, so any
// `entries` works); slot = position % entries.

inline constexpr uint64_t kRingMagic = 0x524f495346334648ull;  // "HF3FSIOR" little-endian
inline constexpr size_t kRingHeaderBytes = 4096;

struct alignas(64) RingHeader {
  uint64_t magic;
  uint32_t version;
  uint32_t entries;
  alignas(64) std::atomic<uint64_t> sq_tail;  // written by the application
  alignas(64) std::atomic<uint64_t> sq_head;  // written by the daemon
  alignas(64) std::atomic<uint64_t> cq_tail;  // written by the daemon
  alignas(64) std::atomic<uint64_t> cq_head;  // written by the application
  alignas(64) sem_t cq_sem;                   // process-shared; posted once per Cqe
};
static_assert(sizeof(RingHeader) <= kRingHeaderBytes);
static_assert(std::atomic<uint64_t>::is_always_lock_free);

struct Sqe {
  uint32_t index;        // the application's I/O index (echoed in the Cqe)
  uint32_t iov;          // iov handle
  uint32_t file;         // file handle
  uint32_t flags;        // bit 0: read
  uint64_t iov_offset;   // bytes from the start of the iov
  uint64_t file_offset;
  uint64_t len;
};
static_assert(sizeof(Sqe) == 40);

struct Cqe {
  int32_t index;
  int32_t reserved;
  int64_t result;  // bytes, or -errno
};
static_assert(sizeof(Cqe) == 16);

inline constexpr uint32_t kSqeRead = 1;

inline size_t RingBytes(uint32_t entries) {
  size_t n = kRingHeaderBytes + size_t{entries} * (sizeof(Sqe) + sizeof(Cqe));
  return (n + 4095) & ~size_t{4095};
}
inline Sqe* SqeArray(void* base) {
  return reinterpret_cast<Sqe*>(static_cast<char*>(base) + kRingHeaderBytes);
}
inline Cqe* CqeArray(void* base, uint32_t entries) {
  return reinterpret_cast<Cqe*>(static_cast<char*>(base) + kRingHeaderBytes +
                                size_t{entries} * sizeof(Sqe));
}

}  // namespace hf3fs::usrbio
