/* hf3fs ioctls on files and directories of an hf3fs FUSE mount. Plain C, usable from any program.
 *
 *   HF3FS_IOC_RECURSIVE_REMOVE  on a directory fd: removes the entry `name` of that directory with
 *                               everything below it in one metadata transaction (the tree is
 *                               deleted in the background); flags: HF3FS_REMOVE_TO_TRASH moves it
 *                               to the caller's trash directory instead.
 *   HF3FS_IOC_FSYNC_EXACT       on a file fd: flushes this mount's buffered writes and sets the
 *                               file's length to what the storage nodes hold (instead of the
 *                               highest offset this mount wrote).
 * Both return 0 or -1 with errno set like unlink(2)/rmdir(2) and fsync(2).
 */
#ifndef HF3FS_IOCTL_H
#define HF3FS_IOCTL_H

#include <linux/ioctl.h>
#include <stdint.h>

#define HF3FS_REMOVE_TO_TRASH 1u

struct hf3fs_ioc_remove {
  char name[256]; /* NUL-terminated entry name (no '/') */
  uint32_t flags;
};

#define HF3FS_IOC_RECURSIVE_REMOVE _IOW('H', 1, struct hf3fs_ioc_remove)
#define HF3FS_IOC_FSYNC_EXACT _IO('H', 2)

#endif
