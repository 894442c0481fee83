/* hf3fs USRBIO: the zero-copy native client API of an hf3fs FUSE mount (docs/usrbio.md).
 *
 * Plain C (C99 and C++), link with -lhf3fs_usrbio (libhf3fs_usrbio.so). The calls and structures
 * keep the names of the Fire-Flyer File System's USRBIO, so code written for it ports with a
 * recompile.
 *
 * The model. An application moves file data through shared memory it shares with the mount
 * daemon (`hf3fs mount`), never through the kernel's FUSE path:
 *   - an iov is a shared-memory buffer (in /dev/shm) registered with the daemon, which maps it and
 *     reads file data straight into it or writes from it;
 *   - an ior is a ring of submission and completion entries, also in shared memory, for reads or
 *     for writes; prep_io puts an I/O on it, submit_ios wakes the daemon, wait_for_ios reaps
 *     completions;
 *   - a file takes part after hf3fs_reg_fd on a descriptor the application opened on the mount:
 *     the daemon does an I/O only if the descriptor allows it (O_RDONLY/O_RDWR for reads,
 *     O_WRONLY/O_RDWR for writes).
 * The daemon talks to each process over one Unix socket; when the process dies, the daemon
 * finishes the I/Os already taken from its rings and frees everything the process registered.
 *
 * Conventions. Calls that return int return 0 (or a count or index) on success and a negated
 * errno value on failure; errno is not used. Every call is thread-safe unless it says otherwise.
 * A process that forks must create new iovs and iors in the child (the child's first call
 * connects afresh).
 */
#ifndef HF3FS_USRBIO_H
#define HF3FS_USRBIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HF3FS_USRBIO_VERSION 1

#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

typedef void *hf3fs_iov_handle;
typedef void *hf3fs_ior_handle;

/* A shared-memory I/O buffer. Fill it with hf3fs_iovcreate / hf3fs_iovopen / hf3fs_iovwrap;
 * treat every field as read-only. */
struct hf3fs_iov {
  uint8_t *base;          /* the buffer: `size` bytes, mapped in this process */
  hf3fs_iov_handle iovh;  /* library-private */
  uint8_t id[16];         /* names the buffer: /dev/shm/hf3fs-iov-<32 hex digits of id> */
  char mount_point[256];  /* the mount it is registered with */
  size_t size;
  size_t block_size;      /* 0: one block; kept for transports that register memory in blocks */
  int numa;               /* NUMA node the pages prefer, or -1 */
};

/* A submission/completion ring. Fill it with hf3fs_iorcreate*; treat every field as read-only. */
struct hf3fs_ior {
  struct hf3fs_iov iov;   /* the ring's own shared memory */
  hf3fs_ior_handle iorh;  /* library-private */
  char mount_point[256];
  bool for_read;          /* true: a ring of reads; false: a ring of writes */
  int io_depth;           /* batching policy, see hf3fs_iorcreate4 */
  int priority;           /* HF3FS_IOR_PRIO_* */
  int timeout;            /* milliseconds, see hf3fs_iorcreate4 */
  uint64_t flags;         /* HF3FS_IOR_* */
};

/* One completion. */
struct hf3fs_cqe {
  int32_t index;         /* what hf3fs_prep_io returned for the I/O */
  int32_t reserved;
  int64_t result;        /* bytes read or written (a read stops at the end of the file), or -errno */
  const void *userdata;  /* what was passed to hf3fs_prep_io */
};

/* Ring priorities (hf3fs_iorcreate2 and later). */
#define HF3FS_IOR_PRIO_HIGH 0
#define HF3FS_IOR_PRIO_NORMAL 1
#define HF3FS_IOR_PRIO_LOW 2

/* Ring flags (hf3fs_iorcreate4). */
#define HF3FS_IOR_ALLOW_READ_UNCOMMITTED 1ull /* reads may return data a chain has not committed */
#define HF3FS_IOR_FORBID_READ_HOLES 2ull      /* a read that touches a hole fails with -ENODATA */

/* Largest ring (entries) and largest single I/O (bytes). */
#define HF3FS_IOR_MAX_ENTRIES 65536
#define HF3FS_IO_MAX_BYTES (1ull << 30)

/* ---- mount points ------------------------------------------------------------------------ */

/* True when `fd` is open on an hf3fs mount. */
bool hf3fs_is_hf3fs(int fd);

/* Writes the hf3fs mount point that holds `path` (absolute or relative, need not exist below an
 * existing directory) into `hf3fs_mount_point` (`size` bytes, NUL-terminated). Returns the length
 * of the mount point, -EINVAL when `path` is not on an hf3fs mount, -ERANGE when `size` is too
 * small, or the -errno of resolving the path. */
int hf3fs_extract_mount_point(char *hf3fs_mount_point, int size, const char *path);

/* ---- iovs: shared buffers ---------------------------------------------------------------- */

/* Creates a buffer of `size` bytes in /dev/shm under a fresh random id, maps it and registers it
 * with the daemon of `hf3fs_mount_point`. `block_size` must be 0 or divide `size`. `numa` >= 0
 * asks for pages on that NUMA node (a preference; -1 for none). Returns 0, -EINVAL (bad sizes,
 * not an hf3fs mount), -ENOENT (no such mount point), -ENOMEM/-ENOSPC (no shared memory),
 * -ENOTCONN (the daemon does not answer). */
int hf3fs_iovcreate(struct hf3fs_iov *iov, const char *hf3fs_mount_point, size_t size,
                    size_t block_size, int numa);

/* Opens the existing buffer `id` (created by this or another process with hf3fs_iovcreate and
 * not yet unlinked), maps its first `size` bytes and registers them; the buffer must be at least
 * `size` bytes (-EINVAL otherwise). Errors as hf3fs_iovcreate, and -ENOENT when no such buffer
 * exists. */
int hf3fs_iovopen(struct hf3fs_iov *iov, const uint8_t id[16], const char *hf3fs_mount_point,
                  size_t size, size_t block_size, int numa);

/* Registers `buf`, which must be this process's mapping of the shared-memory buffer `id` (e.g. one
 * a Python SharedMemory named hf3fs-iov-<hex id> made), without mapping it again. The caller keeps
 * `buf` mapped until hf3fs_iovdestroy. Errors as hf3fs_iovopen. */
int hf3fs_iovwrap(struct hf3fs_iov *iov, void *buf, const uint8_t id[16],
                  const char *hf3fs_mount_point, size_t size, size_t block_size, int numa);

/* Removes the buffer's name from /dev/shm; mappings that exist stay valid. */
void hf3fs_iovunlink(struct hf3fs_iov *iov);

/* Deregisters the buffer and unmaps it (unless it was wrapped). I/Os prepared on it must have
 * completed. The name in /dev/shm stays until hf3fs_iovunlink. */
void hf3fs_iovdestroy(struct hf3fs_iov *iov);

/* ---- iors: rings ------------------------------------------------------------------------- */

/* Bytes of shared memory a ring of `entries` uses. */
size_t hf3fs_ior_size(int entries);

/* Creates a ring for reads (`for_read`) or writes with room for `entries` I/Os in flight
 * (prepared and not yet reaped; 1..HF3FS_IOR_MAX_ENTRIES) and registers it.
 *
 * Batching (`io_depth`), how the daemon takes prepared I/Os off the ring:
 *   io_depth > 0   in batches of exactly io_depth, waiting until that many are prepared;
 *   io_depth == 0  whatever is prepared when the daemon looks (after hf3fs_submit_ios);
 *   io_depth < 0   up to -io_depth at a time, waiting at most `timeout` ms for a full batch once
 *                  the first I/O is there (timeout 0: no waiting).
 * `timeout` (ms) also bounds an io_depth > 0 wait when it is > 0: a partial batch then goes out.
 * `priority` is one of HF3FS_IOR_PRIO_*: when rings of one daemon compete, higher-priority rings'
 * batches are started first. `flags`: HF3FS_IOR_*. Returns 0, -EINVAL, -ENOMEM, -ENOTCONN. */
int hf3fs_iorcreate4(struct hf3fs_ior *ior, const char *hf3fs_mount_point, int entries,
                     bool for_read, int io_depth, int priority, int timeout, int numa,
                     uint64_t flags);
/* hf3fs_iorcreate4 with flags 0. */
int hf3fs_iorcreate3(struct hf3fs_ior *ior, const char *hf3fs_mount_point, int entries,
                     bool for_read, int io_depth, int priority, int timeout, int numa);
/* ... with timeout 0. */
int hf3fs_iorcreate2(struct hf3fs_ior *ior, const char *hf3fs_mount_point, int entries,
                     bool for_read, int io_depth, int priority, int numa);
/* ... with normal priority. */
int hf3fs_iorcreate(struct hf3fs_ior *ior, const char *hf3fs_mount_point, int entries,
                    bool for_read, int io_depth, int numa);

/* Deregisters and frees the ring. I/Os still in flight complete in the daemon; their results are
 * dropped. */
void hf3fs_iordestroy(struct hf3fs_ior *ior);

/* ---- files ------------------------------------------------------------------------------- */

/* Registers `fd` (open on an hf3fs mount) for I/O through rings; `flags` must be 0. The daemon
 * keeps a reference on the open file, so closing `fd` before hf3fs_dereg_fd does not end the
 * registration. Returns 0, -EBADF (not open), -EINVAL (not a regular file of an hf3fs mount),
 * -EEXIST (already registered), -ENOTCONN. */
int hf3fs_reg_fd(int fd, uint64_t flags);

/* Ends the registration of `fd`; written lengths reach the metadata service as on close(2). */
void hf3fs_dereg_fd(int fd);

/* ---- I/O --------------------------------------------------------------------------------- */

/* Puts one I/O on the ring: `len` bytes between `ptr` (inside `iov`) and offset `off` of the
 * registered file `fd`; `read` must match the ring's direction. Returns the entry's index
 * (0..entries-1, echoed in its completion), -EINVAL (ptr/len outside the iov, len 0 or above
 * HF3FS_IO_MAX_BYTES, wrong direction), -EBADF (fd not registered), -EAGAIN (`entries` I/Os are
 * already in flight: reap some first). The daemon may start the I/O before hf3fs_submit_ios. */
int hf3fs_prep_io(const struct hf3fs_ior *ior, const struct hf3fs_iov *iov, bool read, void *ptr,
                  int fd, size_t off, uint64_t len, const void *userdata);

/* Wakes the daemon for the I/Os prepared on the ring. Returns 0. */
int hf3fs_submit_ios(const struct hf3fs_ior *ior);

/* Reaps up to `cqec` completions into `cqes`, waiting until at least `min_results` are there or
 * `abs_timeout` (CLOCK_REALTIME; NULL: no limit) passes. Several threads may reap one ring; each
 * completion goes to exactly one of them. Returns the number reaped (fewer than min_results only
 * on timeout), or -EINVAL. */
int hf3fs_wait_for_ios(const struct hf3fs_ior *ior, struct hf3fs_cqe *cqes, int cqec,
                       int min_results, const struct timespec *abs_timeout);

/* ---- helpers ----------------------------------------------------------------------------- */

/* link(2) for two paths on one hf3fs mount. Returns 0 or -errno. */
int hf3fs_hardlink(const char *target, const char *link_name);

/* Makes the `n` byte ranges [start[i], end[i]) of `fd` read as zeros, freeing whole chunks on the
 * storage nodes; `flags` must be 0. Returns 0 or -errno (as fallocate(2) with PUNCH_HOLE). */
int hf3fs_punchhole(int fd, int n, const size_t *start, const size_t *end, size_t flags);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* HF3FS_USRBIO_H */
