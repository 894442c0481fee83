/* hf3fs ioctls on files and directories of an hf3fs FUSE mount. Plain C, usable from any program.
 *
 *   HF3FS_IOC_RECURSIVE_REMOVE  on a directory fd: removes the entry `name` of that directory with
 *                               everything below it in one metadata transaction (the tree is
 *                               deleted in the background); flags: HF3FS_REMOVE_TO_TRASH moves it
 *                               to the caller's trash directory instead.
 *   HF3FS_IOC_FSYNC_EXACT       on a file fd: fsync(2), and the file's length becomes what the
 *                               storage nodes hold (instead of the highest offset this mount
 *                               wrote).
 *   HF3FS_IOC_SYNCFS            on any fd of the mount: what syncfs(2) would do if Linux passed it
 *                               to FUSE servers: every write of this mount so far, and every
 *                               metadata change of the cluster, becomes power-safe.
 *   HF3FS_IOC_USRBIO_INFO       on any fd of the mount: fills struct hf3fs_ioc_usrbio_info (how
 *                               libhf3fs_usrbio reaches the mount daemon); also how a program tells
 *                               an hf3fs mount from other FUSE file systems.
 *   HF3FS_IOC_USRBIO_BIND       on a file fd, only from the mount daemon itself: binds the open
 * file to a token (the daemon's side of hf3fs_reg_fd); EPERM otherwise. All return 0 or -1 with
 * errno set like unlink(2)/rmdir(2) and fsync(2).
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

struct hf3fs_ioc_usrbio_info {
  uint32_t version; /* USRBIO protocol version of the daemon */
  uint32_t pid;     /* the daemon's pid */
  char socket[108]; /* the daemon's Unix socket; a leading '@' names an abstract socket */
};

struct hf3fs_ioc_usrbio_bind {
  uint64_t token;
  uint64_t inode;
};

#define HF3FS_IOC_USRBIO_INFO _IOR('H', 3, struct hf3fs_ioc_usrbio_info)
#define HF3FS_IOC_USRBIO_BIND _IOR('H', 4, struct hf3fs_ioc_usrbio_bind)
#define HF3FS_IOC_SYNCFS _IO('H', 5)

#endif
