/* usrbio_cat FILE: writes FILE to standard output, read through libhf3fs_usrbio with a ring of
 * 8 reads of 1 MiB in flight. A plain C11 user of hf3fs_usrbio.h (built with -Werror), and the
 * example docs/usrbio.md walks through; the e2e suite compares its output with the file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "usrbio/hf3fs_usrbio.h"

#define BLOCK (1 << 20)
#define DEPTH 8

static int fail(const char *what, int rc) {
  fprintf(stderr, "usrbio_cat: %s: %s\n", what, strerror(-rc));
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: usrbio_cat FILE\n");
    return 2;
  }
  char mount[256];
  int rc = hf3fs_extract_mount_point(mount, sizeof(mount), argv[1]);
  if (rc < 0) return fail("not on an hf3fs mount", rc);
  int fd = open(argv[1], O_RDONLY);
  if (fd < 0) return fail("open", -errno);
  if ((rc = hf3fs_reg_fd(fd, 0)) != 0) return fail("hf3fs_reg_fd", rc);

  struct hf3fs_iov iov;
  struct hf3fs_ior ior;
  if ((rc = hf3fs_iovcreate(&iov, mount, (size_t)BLOCK * DEPTH, 0, -1)) != 0) {
    return fail("hf3fs_iovcreate", rc);
  }
  hf3fs_iovunlink(&iov); /* nobody else opens it by name */
  if ((rc = hf3fs_iorcreate4(&ior, mount, DEPTH, true, 0, HF3FS_IOR_PRIO_NORMAL, 0, -1, 0)) != 0) {
    return fail("hf3fs_iorcreate4", rc);
  }

  /* Blocks complete in any order; write them out in file order. */
  size_t next_out = 0, next_in = 0;
  long results[DEPTH];
  size_t offsets[DEPTH];
  int busy[DEPTH] = {0}, done[DEPTH] = {0};
  int eof = 0, status = 0;
  for (;;) {
    int prepared = 0;
    for (int s = 0; s < DEPTH && !eof; ++s) {
      if (busy[s]) continue;
      rc = hf3fs_prep_io(&ior, &iov, true, iov.base + (size_t)s * BLOCK, fd, next_in, BLOCK,
                         (void *)(long)s);
      if (rc < 0) return fail("hf3fs_prep_io", rc);
      busy[s] = 1;
      done[s] = 0;
      offsets[s] = next_in;
      next_in += BLOCK;
      ++prepared;
    }
    if (prepared) hf3fs_submit_ios(&ior);
    int any = 0;
    for (int s = 0; s < DEPTH; ++s) any |= busy[s];
    if (!any) break;
    struct hf3fs_cqe cqes[DEPTH];
    int n = hf3fs_wait_for_ios(&ior, cqes, DEPTH, 1, NULL);
    if (n < 0) return fail("hf3fs_wait_for_ios", n);
    for (int i = 0; i < n; ++i) {
      int s = (int)(long)cqes[i].userdata;
      results[s] = (long)cqes[i].result;
      done[s] = 1;
      if (cqes[i].result < 0) {
        fprintf(stderr, "usrbio_cat: read at %zu: %s\n", offsets[s], strerror((int)-cqes[i].result));
        status = 1;
        eof = 1;
      } else if (cqes[i].result < BLOCK) {
        eof = 1; /* a short read is the end of the file */
      }
    }
    /* Emit the finished blocks that are next in file order. */
    for (int progress = 1; progress;) {
      progress = 0;
      for (int s = 0; s < DEPTH; ++s) {
        if (busy[s] && done[s] && offsets[s] == next_out) {
          if (results[s] > 0) fwrite(iov.base + (size_t)s * BLOCK, 1, (size_t)results[s], stdout);
          next_out += BLOCK;
          busy[s] = 0;
          progress = 1;
        }
      }
    }
  }
  hf3fs_iordestroy(&ior);
  hf3fs_iovdestroy(&iov);
  hf3fs_dereg_fd(fd);
  close(fd);
  return status;
}
