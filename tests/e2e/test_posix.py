"""POSIX behaviour of an hf3fs FUSE mount, end to end (mgmtd, 3 storage nodes, meta, mount).

Deliberate, documented differences from a local file system are asserted as documented (see the
comments): fcntl locks are kernel-local to one machine (docs/design/0007-client-fuse.md); flock
locks are cluster-wide (docs/design/0012-cluster-locks.md).
"""
import ctypes
import errno
import fcntl
import hashlib
import json
import mmap
import os
import stat
import struct
import subprocess
import threading
import time
import time

import pytest

from conftest import drop_caches

libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
FALLOC_FL_KEEP_SIZE = 1
FALLOC_FL_PUNCH_HOLE = 2
FALLOC_FL_ZERO_RANGE = 0x10
MiB = 1 << 20


def _ioc(direction, typ, nr, size):
    return (direction << 30) | (size << 16) | (ord(typ) << 8) | nr


HF3FS_REMOVE_STRUCT = struct.Struct("256sI")
HF3FS_IOC_RECURSIVE_REMOVE = _ioc(1, "H", 1, HF3FS_REMOVE_STRUCT.size)  # _IOW
HF3FS_IOC_FSYNC_EXACT = _ioc(0, "H", 2, 0)                              # _IO


def renameat2(old, new, flags):
    if libc.renameat2(AT_FDCWD, os.fsencode(str(old)), AT_FDCWD, os.fsencode(str(new)),
                      ctypes.c_uint(flags)) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), str(old))


def fallocate(fd, mode, offset, length):
    libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    if libc.fallocate(fd, mode, offset, length) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def read_file(p):
    with open(p, "rb") as f:
        return f.read()


def write_file(p, data, mode="wb"):
    with open(p, mode) as f:
        f.write(data)


def errno_of(fn, *a, **kw):
    try:
        fn(*a, **kw)
    except OSError as e:
        return e.errno
    return 0


# ---- files ------------------------------------------------------------------------------------

def test_file_create_read_write_append_overwrite(work):
    p = work / "f"
    write_file(p, b"hello world")
    assert read_file(p) == b"hello world"
    write_file(p, b", again", "ab")
    assert read_file(p) == b"hello world, again"
    with open(p, "r+b") as f:
        f.seek(6)
        f.write(b"WORLD")
    assert read_file(p) == b"hello WORLD, again"
    write_file(p, b"short")  # O_TRUNC
    assert read_file(p) == b"short"
    assert os.stat(p).st_size == 5
    assert stat.S_ISREG(os.stat(p).st_mode)
    # O_EXCL on an existing file
    assert errno_of(os.open, p, os.O_CREAT | os.O_EXCL | os.O_WRONLY) == errno.EEXIST
    # Visible to a fresh lookup from the cluster after the caches are gone.
    drop_caches()
    assert read_file(p) == b"short"
    os.unlink(p)
    assert not p.exists()
    assert errno_of(os.stat, p) == errno.ENOENT


def test_file_times_and_mode(work):
    p = work / "f"
    write_file(p, b"x")
    os.chmod(p, 0o640)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o640
    os.utime(p, ns=(1_000_000_000, 2_000_000_123))
    st = os.stat(p)
    assert st.st_atime_ns == 1_000_000_000 and st.st_mtime_ns == 2_000_000_123
    before = os.stat(p).st_mtime_ns
    time.sleep(0.01)
    write_file(p, b"y", "ab")
    assert os.stat(p).st_mtime_ns > before


# ---- directories ------------------------------------------------------------------------------

def test_mkdir_p_and_rmdir(work):
    deep = work / "a" / "b" / "c" / "d"
    os.makedirs(deep)
    assert deep.is_dir()
    os.makedirs(deep, exist_ok=True)
    assert errno_of(os.mkdir, deep) == errno.EEXIST
    write_file(deep / "f", b"1")
    assert errno_of(os.rmdir, deep) == errno.ENOTEMPTY
    assert errno_of(os.rmdir, deep / "f") == errno.ENOTDIR
    assert errno_of(os.unlink, deep) in (errno.EISDIR, errno.EPERM)
    os.unlink(deep / "f")
    os.rmdir(deep)
    assert not deep.exists()
    # Documented difference (docs/design/0005-meta.md): a directory's nlink is 1, as on btrfs
    # ("subdirectory count unknown"), so creates in one directory never conflict on the parent.
    assert os.stat(work / "a" / "b").st_nlink == 1


def test_readdir_2000_entries(work):
    d = work / "many"
    d.mkdir()
    names = {f"entry-{i:05d}-{'x' * (i % 40)}" for i in range(2000)}
    for n in names:
        fd = os.open(d / n, os.O_CREAT | os.O_WRONLY, 0o644)
        os.close(fd)
    got = os.listdir(d)
    assert len(got) == len(names)
    assert sorted(got) == sorted(names)
    drop_caches()
    with os.scandir(d) as it:
        entries = list(it)
    assert sorted(e.name for e in entries) == sorted(names)
    assert all(e.is_file() for e in entries)
    # The listing's first page carries inodes for its first entries only: attributes of every
    # entry, listed or looked up, must still be right (what `ls -l` does after a readdirplus).
    drop_caches()
    with os.scandir(d) as it:
        for e in it:
            st = e.stat(follow_symlinks=False)
            assert stat.S_ISREG(st.st_mode) and st.st_size == 0
            assert st.st_ino == os.stat(d / e.name).st_ino


def test_mount_sets_kernel_readahead(work):
    # mount.readahead (1 MiB by default) is applied to the mount's backing device, where the
    # kernel would otherwise keep 128 KiB; sequential reads then arrive as 1 MiB requests.
    dev = os.stat(work).st_dev
    path = f"/sys/class/bdi/{os.major(dev)}:{os.minor(dev)}/read_ahead_kb"
    with open(path) as f:
        assert int(f.read()) == 1024
    data = os.urandom(3 * MiB + 12345)
    write_file(work / "ra", data)
    drop_caches()
    assert read_file(work / "ra") == data


# ---- rename -----------------------------------------------------------------------------------

def test_rename_semantics(work):
    a, b = work / "a", work / "b"
    write_file(a, b"A")
    write_file(b, b"B")
    ino_a = os.stat(a).st_ino
    os.rename(a, b)  # replaces b atomically
    assert not a.exists()
    assert read_file(b) == b"A" and os.stat(b).st_ino == ino_a

    d1, d2 = work / "d1", work / "d2"
    d1.mkdir()
    d2.mkdir()
    write_file(d2 / "x", b"x")
    assert errno_of(os.rename, d1, d2) in (errno.ENOTEMPTY, errno.EEXIST)
    os.unlink(d2 / "x")
    os.rename(d1, d2)  # onto an empty directory
    assert not d1.exists() and d2.is_dir()

    sub = d2 / "s" / "t"
    sub.mkdir(parents=True)
    assert errno_of(os.rename, d2, sub / "inside") == errno.EINVAL
    assert errno_of(os.rename, d2, d2 / "s") == errno.EINVAL
    # file onto dir and dir onto file
    write_file(work / "f", b"f")
    assert errno_of(os.rename, work / "f", d2) == errno.EISDIR
    assert errno_of(os.rename, d2 / "s", work / "f") == errno.ENOTDIR
    # rename across directories keeps the inode
    ino = os.stat(work / "f").st_ino
    os.rename(work / "f", sub / "g")
    assert os.stat(sub / "g").st_ino == ino
    assert errno_of(os.rename, work / "missing", work / "y") == errno.ENOENT


def test_renameat2_noreplace_and_exchange(work):
    a, b = work / "a", work / "b"
    write_file(a, b"A")
    write_file(b, b"B")
    try:
        renameat2(a, b, RENAME_NOREPLACE)
        raised = 0
    except OSError as e:
        raised = e.errno
    if raised == errno.EINVAL and not hasattr(libc, "renameat2"):
        pytest.skip("no renameat2 in libc")
    assert raised == errno.EEXIST
    assert read_file(a) == b"A" and read_file(b) == b"B"
    renameat2(a, work / "c", RENAME_NOREPLACE)
    assert read_file(work / "c") == b"A" and not a.exists()
    renameat2(work / "c", b, RENAME_EXCHANGE)
    assert read_file(work / "c") == b"B" and read_file(b) == b"A"
    # A file and a directory in different directories, seen through the other name at once and
    # after the kernel's caches are dropped.
    os.mkdir(work / "d")
    write_file(work / "d" / "inside", b"I")
    os.mkdir(work / "e")
    renameat2(b, work / "d", RENAME_EXCHANGE)
    assert read_file(work / "d") == b"A" and read_file(work / "b" / "inside") == b"I"
    renameat2(work / "d", work / "e", RENAME_EXCHANGE)
    drop_caches()
    assert read_file(work / "e") == b"A" and os.path.isdir(work / "d")
    assert os.listdir(work / "b") == ["inside"]
    assert errno_of(renameat2, work / "c", work / "missing", RENAME_EXCHANGE) == errno.ENOENT
    assert errno_of(renameat2, work / "b", work / "b" / "inside", RENAME_EXCHANGE) == errno.EINVAL


# ---- links ------------------------------------------------------------------------------------

def test_hard_links(work):
    a = work / "a"
    write_file(a, b"shared")
    os.link(a, work / "b")
    os.mkdir(work / "d")
    os.link(a, work / "d" / "c")
    assert os.stat(a).st_nlink == 3
    assert os.stat(work / "b").st_ino == os.stat(a).st_ino
    write_file(work / "b", b"changed through b")
    assert read_file(work / "d" / "c") == b"changed through b"
    os.unlink(a)
    assert os.stat(work / "b").st_nlink == 2
    drop_caches()
    assert os.stat(work / "d" / "c").st_nlink == 2
    assert read_file(work / "d" / "c") == b"changed through b"
    assert errno_of(os.link, work / "d", work / "dlink") == errno.EPERM
    assert errno_of(os.link, work / "b", work / "d" / "c") == errno.EEXIST


def test_symlinks(work):
    write_file(work / "target", b"T")
    os.symlink("target", work / "l")
    assert os.readlink(work / "l") == "target"
    assert read_file(work / "l") == b"T"
    assert stat.S_ISLNK(os.lstat(work / "l").st_mode)
    assert os.lstat(work / "l").st_size == len("target")
    os.symlink("nowhere/at/all", work / "dangling")
    assert os.readlink(work / "dangling") == "nowhere/at/all"
    assert errno_of(os.stat, work / "dangling") == errno.ENOENT
    os.symlink("loop2", work / "loop1")
    os.symlink("loop1", work / "loop2")
    assert errno_of(os.stat, work / "loop1") == errno.ELOOP
    long_target = "x/" * 1000 + "y"
    os.symlink(long_target, work / "long")
    drop_caches()
    assert os.readlink(work / "long") == long_target
    os.mkdir(work / "dir")
    os.symlink(str(work / "dir"), work / "abs")
    write_file(work / "abs" / "f", b"via link")
    assert read_file(work / "dir" / "f") == b"via link"


# ---- permissions ------------------------------------------------------------------------------

def test_permissions_other_user(work, users):
    A, B = users.A, users.B
    d = work / "private"
    users.py(A, "import os, json, sys; os.mkdir(sys.argv[1], 0o700); "
                "open(sys.argv[1] + '/f', 'w').write('secret'); print(json.dumps(0))", str(d))
    st = os.stat(d)
    assert st.st_uid == users.uid[A] and stat.S_IMODE(st.st_mode) == 0o700
    assert users.errno_of(B, f"os.listdir({str(d)!r})") == errno.EACCES
    assert users.errno_of(B, f"open({str(d / 'f')!r}).read()") == errno.EACCES
    assert users.errno_of(B, f"os.stat({str(d / 'f')!r})") == errno.EACCES
    assert users.errno_of(A, f"open({str(d / 'f')!r}).read()") == 0
    # Only the owner (or root) may chmod; only root may chown.
    assert users.errno_of(B, f"os.chmod({str(d)!r}, 0o777)") == errno.EPERM
    assert users.errno_of(A, f"os.chown({str(d)!r}, {users.uid[B]}, -1)") == errno.EPERM
    # A file readable but not writable by others.
    users.py(A, "import os, json, sys; os.chmod(sys.argv[1], 0o755); "
                "os.chmod(sys.argv[1] + '/f', 0o644); print(json.dumps(0))", str(d))
    assert users.errno_of(B, f"open({str(d / 'f')!r}).read()") == 0
    assert users.errno_of(B, f"open({str(d / 'f')!r}, 'a')") == errno.EACCES
    assert users.errno_of(B, f"open({str(d / 'new')!r}, 'w')") == errno.EACCES
    assert users.errno_of(B, f"os.unlink({str(d / 'f')!r})") == errno.EACCES
    # Group membership (supplementary group) grants group permission.
    os.chown(d / "f", users.uid[A], users.group_gid)
    os.chmod(d / "f", 0o660)
    assert users.errno_of(B, f"open({str(d / 'f')!r}, 'a').write('g')") == 0
    # Root may do anything.
    os.chown(d, 0, 0)
    assert os.stat(d).st_uid == 0


def test_non_owner_write_and_truncate_clear_setuid_setgid(work, users):
    """As on Linux: a write or truncate by a process without CAP_FSETID succeeds and clears
    S_ISUID and S_ISGID (group-executable file), also when it is not the owner (who alone may
    chmod); root's writes keep them."""
    A, B = users.A, users.B
    p = work / "suid"
    write_file(p, b"x")
    os.chown(p, users.uid[A], users.gid[A])
    for stmt in (f"f = open({str(p)!r}, 'r+b'); f.write(b'y'); f.close()",
                 f"os.truncate({str(p)!r}, 0)"):
        os.chmod(p, 0o6777)
        assert users.errno_of(B, stmt) == 0, stmt
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o777, stmt
    os.chmod(p, 0o6777)
    assert users.errno_of(A, f"f = open({str(p)!r}, 'r+b'); f.write(b'z'); f.close()") == 0
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o777
    os.chmod(p, 0o6777)
    with open(p, "r+b") as f:
        f.write(b"r")
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o6777


def test_ftruncate_of_a_file_created_with_mode_zero(work, users):
    """The right to write belongs to the open: a file created O_WRONLY with mode 0 can be
    written and ftruncated through that descriptor (a path truncate is refused)."""
    p = work / "mode0"
    code = ("import os, json, sys\n"
            "fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0)\n"
            "os.write(fd, b'hello world')\n"
            "os.ftruncate(fd, 5)\n"
            "os.close(fd)\n"
            "try:\n"
            "    os.truncate(sys.argv[1], 1)\n"
            "    print(json.dumps(0))\n"
            "except OSError as e:\n"
            "    print(json.dumps(e.errno))\n")
    assert users.py(users.A, code, str(p)) == errno.EACCES
    st = os.stat(p)
    assert st.st_size == 5 and stat.S_IMODE(st.st_mode) == 0
    assert read_file(p) == b"hello"


def test_sticky_directory(work, users):
    A, B = users.A, users.B
    t = work / "tmp"
    t.mkdir()
    os.chmod(t, 0o1777)
    assert os.stat(t).st_mode & stat.S_ISVTX
    users.py(A, "import json, sys; open(sys.argv[1], 'w').write('a'); print(json.dumps(0))",
             str(t / "a_file"))
    assert users.errno_of(B, f"os.unlink({str(t / 'a_file')!r})") == errno.EPERM
    assert users.errno_of(B, f"os.rename({str(t / 'a_file')!r}, {str(t / 'b_file')!r})") \
        == errno.EPERM
    users.py(B, "import json, sys; open(sys.argv[1], 'w').write('b'); print(json.dumps(0))",
             str(t / "b_own"))
    assert users.errno_of(B, f"os.unlink({str(t / 'b_own')!r})") == 0
    assert users.errno_of(A, f"os.unlink({str(t / 'a_file')!r})") == 0


def test_setgid_directory_inheritance(work, users):
    d = work / "sgid"
    d.mkdir()
    os.chown(d, 0, users.group_gid)
    os.chmod(d, 0o2777)
    assert os.stat(d).st_mode & stat.S_ISGID
    users.py(users.A, "import os, json, sys; open(sys.argv[1] + '/f', 'w').close(); "
                      "os.mkdir(sys.argv[1] + '/sub'); print(json.dumps(0))", str(d))
    assert os.stat(d / "f").st_gid == users.group_gid
    assert os.stat(d / "sub").st_gid == users.group_gid
    assert os.stat(d / "sub").st_mode & stat.S_ISGID, "subdirectories inherit the setgid bit"
    assert os.stat(d / "f").st_uid == users.uid[users.A]


# ---- xattrs and ACLs --------------------------------------------------------------------------

def test_xattrs(work):
    p = work / "f"
    write_file(p, b"")
    os.setxattr(p, "user.one", b"1")
    os.setxattr(p, "user.two", b"\x00binary\xff" * 10)
    assert os.getxattr(p, "user.one") == b"1"
    assert os.getxattr(p, "user.two") == b"\x00binary\xff" * 10
    assert {"user.one", "user.two"} <= set(os.listxattr(p))
    assert errno_of(os.setxattr, p, "user.one", b"x", os.XATTR_CREATE) == errno.EEXIST
    assert errno_of(os.setxattr, p, "user.three", b"x", os.XATTR_REPLACE) == errno.ENODATA
    os.setxattr(p, "user.one", b"replaced", os.XATTR_REPLACE)
    assert os.getxattr(p, "user.one") == b"replaced"
    os.removexattr(p, "user.one")
    assert errno_of(os.getxattr, p, "user.one") == errno.ENODATA
    assert errno_of(os.removexattr, p, "user.one") == errno.ENODATA
    assert "user.one" not in os.listxattr(p)
    os.mkdir(work / "d")
    os.setxattr(work / "d", "user.dir", b"yes")
    drop_caches()
    assert os.getxattr(work / "d", "user.dir") == b"yes"
    assert os.getxattr(p, "user.two") == b"\x00binary\xff" * 10


ACL_USER_OBJ, ACL_USER, ACL_GROUP_OBJ, ACL_GROUP, ACL_MASK, ACL_OTHER = 1, 2, 4, 8, 0x10, 0x20
ACL_UNDEFINED_ID = 0xFFFFFFFF


def acl_bytes(entries):
    """The Linux xattr encoding of a POSIX ACL: version 2, then (tag u16, perm u16, id u32)."""
    out = struct.pack("<I", 2)
    for tag, perm, id_ in sorted(entries, key=lambda e: (e[0], e[2])):
        out += struct.pack("<HHI", tag, perm, id_)
    return out


def test_posix_acl_named_user(work, users):
    A, B = users.A, users.B
    d = work / "acl"
    d.mkdir()
    os.chmod(d, 0o700)
    f = d / "f"
    write_file(f, b"acl data")
    os.chmod(f, 0o600)
    assert users.errno_of(B, f"open({str(f)!r}).read()") == errno.EACCES
    # Grant user B r-x on the directory and r-- on the file through named-user entries (what
    # `setfacl -m u:B:rx` stores), set as the raw system.posix_acl_access xattr so the test does
    # not depend on the acl tools.
    uid_b = users.uid[B]
    os.setxattr(d, "system.posix_acl_access", acl_bytes([
        (ACL_USER_OBJ, 7, ACL_UNDEFINED_ID), (ACL_USER, 5, uid_b),
        (ACL_GROUP_OBJ, 0, ACL_UNDEFINED_ID), (ACL_MASK, 5, ACL_UNDEFINED_ID),
        (ACL_OTHER, 0, ACL_UNDEFINED_ID)]))
    os.setxattr(f, "system.posix_acl_access", acl_bytes([
        (ACL_USER_OBJ, 6, ACL_UNDEFINED_ID), (ACL_USER, 4, uid_b),
        (ACL_GROUP_OBJ, 0, ACL_UNDEFINED_ID), (ACL_MASK, 4, ACL_UNDEFINED_ID),
        (ACL_OTHER, 0, ACL_UNDEFINED_ID)]))
    assert users.errno_of(B, f"open({str(f)!r}).read()") == 0
    assert users.errno_of(B, f"open({str(f)!r}, 'a')") == errno.EACCES
    assert users.errno_of(A, f"open({str(f)!r}).read()") == errno.EACCES
    # The mask's bits appear as the group bits of the mode (like Linux).
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o640
    raw = os.getxattr(f, "system.posix_acl_access")
    assert struct.unpack_from("<I", raw)[0] == 2 and len(raw) == 4 + 8 * 5
    # chmod g-r narrows the mask, and with it B's access.
    os.chmod(f, 0o600)
    assert users.errno_of(B, f"open({str(f)!r}).read()") == errno.EACCES
    # Removing the ACL falls back to the mode bits.
    os.chmod(f, 0o644)
    os.removexattr(f, "system.posix_acl_access")
    assert users.errno_of(B, f"open({str(f)!r}).read()") == 0


def test_posix_default_acl_inherited(work, users):
    d = work / "dacl"
    d.mkdir()
    os.chmod(d, 0o777)
    uid_a = users.uid[users.A]
    os.setxattr(d, "system.posix_acl_default", acl_bytes([
        (ACL_USER_OBJ, 7, ACL_UNDEFINED_ID), (ACL_USER, 6, uid_a),
        (ACL_GROUP_OBJ, 5, ACL_UNDEFINED_ID), (ACL_MASK, 7, ACL_UNDEFINED_ID),
        (ACL_OTHER, 0, ACL_UNDEFINED_ID)]))
    old_umask = os.umask(0)  # see test_default_acl_ignores_umask
    try:
        fd = os.open(d / "f", os.O_CREAT | os.O_WRONLY, 0o666)
        os.close(fd)
        os.mkdir(d / "sub")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(os.stat(d / "f").st_mode) == 0o660  # mask rw-, other ---
    acc = os.getxattr(d / "f", "system.posix_acl_access")
    entries = [struct.unpack_from("<HHI", acc, 4 + 8 * i) for i in range((len(acc) - 4) // 8)]
    assert (ACL_USER, 6, uid_a) in entries
    assert os.getxattr(d / "sub", "system.posix_acl_default") == \
        os.getxattr(d, "system.posix_acl_default")
    assert users.errno_of(users.A, f"open({str(d / 'f')!r}, 'a').write('x')") == 0
    assert users.errno_of(users.B, f"open({str(d / 'f')!r}).read()") == errno.EACCES


def test_default_acl_ignores_umask(work, users):
    d = work / "dacl"
    d.mkdir()
    os.setxattr(d, "system.posix_acl_default", acl_bytes([
        (ACL_USER_OBJ, 7, ACL_UNDEFINED_ID), (ACL_USER, 6, users.uid[users.A]),
        (ACL_GROUP_OBJ, 5, ACL_UNDEFINED_ID), (ACL_MASK, 7, ACL_UNDEFINED_ID),
        (ACL_OTHER, 0, ACL_UNDEFINED_ID)]))
    old_umask = os.umask(0o022)
    try:
        os.close(os.open(d / "f", os.O_CREAT | os.O_WRONLY, 0o666))
    finally:
        os.umask(old_umask)
    # Linux: with a default ACL the umask is not applied; the mask becomes rw- (from 0666).
    assert stat.S_IMODE(os.stat(d / "f").st_mode) == 0o660


# ---- locks -------------------------------------------------------------------------------------

LOCKER = r"""
import fcntl, os, sys, time
kind, path = sys.argv[1], sys.argv[2]
fd = os.open(path, os.O_RDWR)
try:
    if kind == "flock":
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    else:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)
    print("locked", flush=True)
except OSError as e:
    print("busy", e.errno, flush=True)
"""


def test_flock_and_fcntl_locks_one_machine(work):
    # Between processes of one machine both kinds exclude each other: flock through meta
    # (cluster-wide, test_flock_is_cluster_wide), fcntl in this machine's kernel only
    # (documented: the daemon implements no byte-range lock operations).
    import sys
    p = work / "lockfile"
    write_file(p, b"0" * 100)
    fd = os.open(p, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        r = subprocess.run(["/usr/bin/python3", "-c", LOCKER, "flock", str(p)],
                           capture_output=True, text=True, timeout=30)
        assert r.stdout.startswith("busy"), r
        fcntl.flock(fd, fcntl.LOCK_UN)
        r = subprocess.run(["/usr/bin/python3", "-c", LOCKER, "flock", str(p)],
                           capture_output=True, text=True, timeout=30)
        assert r.stdout.startswith("locked"), r
        fcntl.lockf(fd, fcntl.LOCK_EX, 10, 0)  # bytes 0..9
        r = subprocess.run(["/usr/bin/python3", "-c", LOCKER, "fcntl", str(p)],
                           capture_output=True, text=True, timeout=30)
        assert r.stdout.startswith("busy"), r
        fcntl.lockf(fd, fcntl.LOCK_UN, 10, 0)
        r = subprocess.run(["/usr/bin/python3", "-c", LOCKER, "fcntl", str(p)],
                           capture_output=True, text=True, timeout=30)
        assert r.stdout.startswith("locked"), r
    finally:
        os.close(fd)


# ---- fallocate, mknod, unlink-while-open, truncate, sparse ------------------------------------

def test_fallocate(work):
    p = work / "f"
    write_file(p, b"a" * 1000)
    fd = os.open(p, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, 3 * MiB)
        assert os.fstat(fd).st_size == 3 * MiB
        fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 5 * MiB)
        assert os.fstat(fd).st_size == 3 * MiB
        data = os.urandom(3 * MiB)
        os.pwrite(fd, data, 0)
        os.fsync(fd)
        # Punch a hole across a chunk boundary (chunks are 1 MiB).
        fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, MiB - 4096, MiB + 8192)
        assert os.fstat(fd).st_size == 3 * MiB
        fallocate(fd, FALLOC_FL_ZERO_RANGE, 2 * MiB + 100, 1000)
    finally:
        os.close(fd)
    drop_caches()
    got = read_file(p)
    expect = bytearray(data)
    expect[MiB - 4096:2 * MiB + 4096] = bytes(MiB + 8192)
    expect[2 * MiB + 100:2 * MiB + 1100] = bytes(1000)
    assert len(got) == 3 * MiB
    assert got == bytes(expect)


def test_mknod_fifo_and_char_device(work):
    os.mkfifo(work / "fifo", 0o644)
    assert stat.S_ISFIFO(os.stat(work / "fifo").st_mode)
    # A FIFO on the mount is a kernel pipe: both ends meet without the daemon.
    got = []
    t = threading.Thread(target=lambda: got.append(read_file(work / "fifo")))
    t.start()
    write_file(work / "fifo", b"through the pipe")
    t.join(10)
    assert got == [b"through the pipe"]
    os.mknod(work / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    st = os.stat(work / "null")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    drop_caches()
    assert os.stat(work / "null").st_rdev == os.makedev(1, 3)
    # The mount is nodev (libfuse's default, kept deliberately: device nodes on a shared file
    # system must not open devices of whichever machine mounts it), so opening one is EACCES.
    with open("/proc/self/mounts") as f:
        opts = [ln.split()[3] for ln in f if ln.split()[1] == str(work.parents[1])]
    assert opts and "nodev" in opts[0].split(",")
    assert errno_of(open, work / "null", "wb") == errno.EACCES
    os.mknod(work / "sock", 0o644 | stat.S_IFSOCK)
    assert stat.S_ISSOCK(os.stat(work / "sock").st_mode)


def test_unlink_while_open(work):
    p = work / "f"
    data = os.urandom(3 * MiB + 17)
    write_file(p, data)
    fd = os.open(p, os.O_RDWR)
    try:
        os.unlink(p)
        assert not p.exists()
        assert os.pread(fd, len(data) + 10, 0) == data
        os.pwrite(fd, b"still writable", 5)
        assert os.pread(fd, 14, 5) == b"still writable"
        assert os.fstat(fd).st_nlink == 0
    finally:
        os.close(fd)


def test_truncate_shrink_then_extend_reads_zeros(work):
    p = work / "f"
    data = os.urandom(2 * MiB + 5000)
    write_file(p, data)
    os.truncate(p, 1000)
    assert os.stat(p).st_size == 1000
    os.truncate(p, 2 * MiB + 5000)
    got = read_file(p)
    assert got[:1000] == data[:1000]
    assert got[1000:] == bytes(len(data) - 1000), "extended region must read zeros"
    drop_caches()
    got = read_file(p)
    assert got[:1000] == data[:1000] and got[1000:] == bytes(len(data) - 1000)
    # ftruncate on an open fd, and O_TRUNC
    with open(p, "r+b") as f:
        f.truncate(10)
        f.seek(0)
        assert f.read() == data[:10]
    with open(p, "wb"):
        pass
    assert os.stat(p).st_size == 0


def test_sparse_file(work):
    p = work / "sparse"
    off = 100 * MiB
    with open(p, "wb") as f:
        f.write(b"head")
        f.seek(off)
        f.write(b"tail")
    assert os.stat(p).st_size == off + 4
    drop_caches()
    with open(p, "rb") as f:
        assert f.read(4) == b"head"
        f.seek(50 * MiB)
        assert f.read(MiB) == bytes(MiB)
        f.seek(off - 4096)
        assert f.read() == bytes(4096) + b"tail"


def sha256_file(p, direct=False):
    h = hashlib.sha256()
    with open(p, "rb", buffering=0) as f:
        while True:
            b = f.read(4 * MiB)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def test_large_file_many_chunks(work):
    p = work / "large"
    size = 64 * MiB
    h = hashlib.sha256()
    with open(p, "wb") as f:
        for i in range(size // (4 * MiB)):
            b = os.urandom(4 * MiB)
            h.update(b)
            f.write(b)
    assert os.stat(p).st_size == size
    drop_caches()
    assert sha256_file(p) == h.hexdigest()


# ---- O_DIRECT, mmap ---------------------------------------------------------------------------

def test_o_direct(work):
    p = work / "direct"
    size = 4 * MiB
    buf = mmap.mmap(-1, size)  # page aligned
    data = os.urandom(size)
    buf[:] = data
    fd = os.open(p, os.O_CREAT | os.O_RDWR | os.O_DIRECT, 0o644)
    try:
        assert os.write(fd, buf) == size
        # An unaligned 4 KiB-multiple write in the middle (aligned offset, aligned buffer).
        small = mmap.mmap(-1, 8192)
        small[:] = b"\xab" * 8192
        assert os.pwrite(fd, small, MiB + 4096) == 8192
        rbuf = mmap.mmap(-1, size)
        assert os.preadv(fd, [rbuf], 0) == size
    finally:
        os.close(fd)
    expect = bytearray(data)
    expect[MiB + 4096:MiB + 4096 + 8192] = b"\xab" * 8192
    assert rbuf[:] == bytes(expect)
    drop_caches()
    assert read_file(p) == bytes(expect)
    # A buffered writer, then an O_DIRECT reader sees the data.
    write_file(work / "buffered", data[:MiB])
    fd = os.open(work / "buffered", os.O_RDONLY | os.O_DIRECT)
    try:
        r = mmap.mmap(-1, MiB)
        assert os.preadv(fd, [r], 0) == MiB
        assert r[:] == data[:MiB]
    finally:
        os.close(fd)


def test_mmap_read_write(work):
    p = work / "mm"
    size = 2 * MiB + 4096
    data = os.urandom(size)
    write_file(p, data)
    with open(p, "r+b") as f:
        m = mmap.mmap(f.fileno(), size)
        assert m[:] == data
        m[100:200] = b"M" * 100
        m[MiB + 5:MiB + 10] = b"12345"
        m.flush()
        m.close()
    expect = bytearray(data)
    expect[100:200] = b"M" * 100
    expect[MiB + 5:MiB + 10] = b"12345"
    drop_caches()
    assert read_file(p) == bytes(expect)


# ---- concurrency ------------------------------------------------------------------------------

def test_concurrent_writers(work):
    errors = []

    def whole_file(i):
        try:
            data = bytes([i]) * (MiB + i * 1000)
            write_file(work / f"w{i}", data)
            assert read_file(work / f"w{i}") == data
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=whole_file, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert not errors, errors

    # Disjoint ranges of one file from separate processes (separate fds).
    p = work / "shared"
    part = 512 * 1024
    n = 6
    fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
    os.close(fd)
    code = ("import os, sys\n"
            "p, i, part = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])\n"
            "fd = os.open(p, os.O_WRONLY)\n"
            "for k in range(0, part, 65536):\n"
            "    os.pwrite(fd, bytes([65 + i]) * 65536, i * part + k)\n"
            "os.fsync(fd)\n"
            "os.close(fd)\n")
    procs = [subprocess.Popen(["/usr/bin/python3", "-c", code, str(p), str(i), str(part)])
             for i in range(n)]
    assert all(pr.wait(120) == 0 for pr in procs)
    expect = b"".join(bytes([65 + i]) * part for i in range(n))
    assert read_file(p) == expect
    drop_caches()
    assert read_file(p) == expect


# ---- statfs, ioctls -----------------------------------------------------------------------------

def test_statfs(cluster):
    s = os.statvfs(cluster.mount)
    assert s.f_blocks > 0 and s.f_bsize > 0
    assert 0 < s.f_bavail <= s.f_blocks
    assert s.f_namemax >= 255


def test_ioctl_recursive_remove(work):
    tree = work / "tree"
    for i in range(5):
        (tree / f"d{i}" / "sub").mkdir(parents=True)
        write_file(tree / f"d{i}" / "sub" / "f", b"x" * 100)
    fd = os.open(work, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.ioctl(fd, HF3FS_IOC_RECURSIVE_REMOVE, HF3FS_REMOVE_STRUCT.pack(b"tree", 0))
        with pytest.raises(OSError) as ei:
            fcntl.ioctl(fd, HF3FS_IOC_RECURSIVE_REMOVE, HF3FS_REMOVE_STRUCT.pack(b"tree", 0))
        assert ei.value.errno == errno.ENOENT
        with pytest.raises(OSError) as ei:
            fcntl.ioctl(fd, HF3FS_IOC_RECURSIVE_REMOVE, HF3FS_REMOVE_STRUCT.pack(b"a/b", 0))
        assert ei.value.errno == errno.EINVAL
    finally:
        os.close(fd)
    assert not os.path.exists(tree)
    assert "tree" not in os.listdir(work)


def test_ioctl_fsync_exact(work):
    p = work / "f"
    data = os.urandom(MiB + 123)
    fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        os.write(fd, data)
        fcntl.ioctl(fd, HF3FS_IOC_FSYNC_EXACT)
        assert os.fstat(fd).st_size == len(data)
    finally:
        os.close(fd)
    drop_caches()
    assert os.stat(p).st_size == len(data)
    assert read_file(p) == data
    with pytest.raises(OSError) as ei:
        fcntl.ioctl(os.open(p, os.O_RDONLY), 0x4800 | 99)
    assert ei.value.errno == errno.ENOTTY
    # On a directory (whose handle is not a file's) it is refused, and the mount lives on.
    d = os.open(work, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(OSError) as ei:
            fcntl.ioctl(d, HF3FS_IOC_FSYNC_EXACT)
        assert ei.value.errno == errno.EINVAL
    finally:
        os.close(d)
    assert read_file(p) == data


def test_timer_reports_length_of_a_file_still_open(cluster, work):
    # Writes that stay in the mount's buffer of a file nobody closes reach storage and meta on
    # the flush timer (mount.flush_interval, 1 s): other clients see the length without a close.
    data = os.urandom(200 * 1024)
    path = work / "timer"
    rel = "/" + str(path.relative_to(cluster.mount))

    def meta_length():
        r = cluster.admin("stat", rel, "--meta", cluster.meta_address(), "--json")
        return int(json.loads(r.stdout)["inode"]["length"])

    with open(path, "wb") as f:
        f.write(data)
        f.flush()  # into the mount's buffer; the timer does the rest (within about a second)
        deadline = time.time() + 10
        while meta_length() != len(data) and time.time() < deadline:
            time.sleep(0.2)
        assert meta_length() == len(data)
    assert read_file(path) == data


# ---- remount (last: it restarts every process) ------------------------------------------------

def resident_pages(path):
    """How many of the file's pages are in this machine's page cache (mmap + mincore; opening
    the file to map it is itself an open, which drops the pages unless the mount keeps them)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                              ctypes.c_int, ctypes.c_long]
        libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
        addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        assert addr not in (None, ctypes.c_void_p(-1).value), os.strerror(ctypes.get_errno())
        try:
            pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
            vec = (ctypes.c_ubyte * pages)()
            assert libc.mincore(addr, size, vec) == 0, os.strerror(ctypes.get_errno())
            return sum(v & 1 for v in vec)
        finally:
            libc.munmap(addr, size)
    finally:
        os.close(fd)


@pytest.fixture
def second_mount(cluster):
    """Another mount of the same cluster on this machine: a second client, with its own page
    cache, write buffers and sessions."""
    mnt = cluster.dir / "mnt2"
    mnt.mkdir(exist_ok=True)
    log = open(cluster.dir / "logs" / "mount2.log", "ab")
    p = subprocess.Popen(
        [str(cluster.bin), "mount", str(mnt), "--mgmtd", cluster.mgmtd_address(),
         f"--config.rpc.key_file={cluster.dir / 'keys' / 'client.key'}",
         "--config.server.listen=127.0.0.1:0", "--config.server.http_listen=127.0.0.1:0"],
        stdout=log, stderr=subprocess.STDOUT)

    def mounted():
        with open("/proc/self/mounts") as f:
            return any(line.split()[1] == str(mnt) for line in f)

    try:
        end = time.time() + 60
        while not mounted():
            assert p.poll() is None, f"second mount exited: {cluster.log('mount2')}"
            assert time.time() < end, "second mount did not come up in 60 s"
            time.sleep(0.2)
        yield mnt
    finally:
        p.terminate()  # unmounts cleanly
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        if mounted():
            subprocess.run(["umount", "-l", str(mnt)], check=False)
        log.close()


def test_page_cache_kept_across_opens_until_another_mount_changes_the_file(
        cluster, work, second_mount):
    # Close-to-open (docs/design/0007, "Page cache across opens"): an open keeps the file's
    # cached pages while meta reports it unchanged since this mount's last open, and drops them
    # once another client's close has changed it.
    p = work / "epoch"
    other = second_mount / p.relative_to(cluster.mount)
    x = os.urandom(MiB)
    p.write_bytes(x)
    assert read_file(p) == x  # an open that records the file, and a read that caches it
    assert resident_pages(p) == MiB // mmap.PAGESIZE  # the next open kept every page

    # Another mount overwrites it in place (same length) and closes.
    y = os.urandom(MiB)
    with open(other, "r+b") as f:
        f.write(y)
    assert read_file(p) == y
    assert resident_pages(p) == MiB // mmap.PAGESIZE  # cached again, and kept again

    # Another mount replaces it with a shorter file (truncate + write). The length change needs
    # the kernel's cached attributes (attr_timeout, 1 s) to lapse before a read sees it.
    z = os.urandom(300 * 1024)
    with open(other, "wb") as f:
        f.write(z)
    time.sleep(1.2)
    assert read_file(p) == z

    # This mount writes around its page cache (O_DIRECT) with the handle still open, so meta has
    # not heard of the write yet: the next buffered open must not keep the stale pages. (Recent
    # kernels drop the range on a direct write themselves; the mount does not rely on that.)
    assert read_file(p) == z  # cached and kept
    w = b"w" * 4096
    buf = mmap.mmap(-1, 4096)
    buf.write(w)
    fd = os.open(p, os.O_WRONLY | os.O_DIRECT)
    try:
        assert os.pwrite(fd, buf, 0) == 4096
        assert read_file(p)[:4096] == w
    finally:
        os.close(fd)
    assert read_file(p) == w + z[4096:]
    assert read_file(other) == w + z[4096:]


def test_flock_is_cluster_wide(cluster, work, second_mount):
    # docs/design/0012: flock locks are held in meta, so two mounts of one cluster (two machines,
    # as far as locks go) exclude each other; a blocking request waits for the holder.
    p = work / "lockfile"
    p.write_bytes(b"")
    other = second_mount / p.relative_to(cluster.mount)
    a = os.open(p, os.O_RDWR)
    b = os.open(other, os.O_RDWR)
    try:
        fcntl.flock(a, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert errno_of(fcntl.flock, b, fcntl.LOCK_EX | fcntl.LOCK_NB) == errno.EWOULDBLOCK
        assert errno_of(fcntl.flock, b, fcntl.LOCK_SH | fcntl.LOCK_NB) == errno.EWOULDBLOCK

        got = threading.Event()
        t = threading.Thread(target=lambda: (fcntl.flock(b, fcntl.LOCK_EX), got.set()))
        t.start()
        assert not got.wait(0.5), "the other mount's blocking flock did not wait"
        fcntl.flock(a, fcntl.LOCK_UN)
        assert got.wait(10), "the waiting flock was not granted after the unlock"
        t.join()
        assert errno_of(fcntl.flock, a, fcntl.LOCK_SH | fcntl.LOCK_NB) == errno.EWOULDBLOCK

        # Closing the holder's descriptor lets go of its lock: the kernel sends the RELEASE that
        # carries it asynchronously, so the lock goes a moment after close(2) returns.
        os.close(b)
        b = None
        end = time.time() + 10
        while errno_of(fcntl.flock, a, fcntl.LOCK_EX | fcntl.LOCK_NB) == errno.EWOULDBLOCK:
            assert time.time() < end, "closing the holder's descriptor did not release its lock"
            time.sleep(0.05)
        fcntl.flock(a, fcntl.LOCK_SH | fcntl.LOCK_NB)  # converted to shared
        b = os.open(other, os.O_RDONLY)
        fcntl.flock(b, fcntl.LOCK_SH | fcntl.LOCK_NB)  # shared locks coexist across mounts
        assert errno_of(fcntl.flock, b, fcntl.LOCK_EX | fcntl.LOCK_NB) == errno.EWOULDBLOCK
    finally:
        os.close(a)
        if b is not None:
            os.close(b)


WAIT_FOR_FLOCK = r"""
import fcntl, os, signal, sys, time
def alarm(*_):
    raise TimeoutError()
signal.signal(signal.SIGALRM, alarm)
fd = os.open(sys.argv[1], os.O_RDWR)
signal.alarm(1)
t = time.time()
try:
    fcntl.flock(fd, fcntl.LOCK_EX)
    print("granted", flush=True)
except TimeoutError:
    print(f"interrupted {time.time() - t:.2f}", flush=True)
"""


def test_a_blocking_flock_ends_on_a_signal(cluster, work, second_mount):
    # A blocking flock waiting for another mount's lock returns when the waiting process gets a
    # signal (the mount stops retrying and answers EINTR), instead of waiting for the holder.
    p = work / "lockfile-signal"
    p.write_bytes(b"")
    other = second_mount / p.relative_to(cluster.mount)
    a = os.open(p, os.O_RDWR)
    try:
        fcntl.flock(a, fcntl.LOCK_EX)
        r = subprocess.run(["/usr/bin/python3", "-c", WAIT_FOR_FLOCK, str(other)],
                           capture_output=True, text=True, timeout=30)
        assert r.stdout.startswith("interrupted"), r
        assert float(r.stdout.split()[1]) < 5, r.stdout
    finally:
        os.close(a)


def test_status_names_every_process_metrics_endpoint(cluster):
    # `hf3fs local status --json` gives each process's HTTP address (fixed per cluster, the mount's
    # included), and each serves Prometheus metrics there.
    import urllib.request
    procs = cluster.status()["processes"]
    assert {p["name"] for p in procs} >= {"mgmtd", "meta", "storage0", "mount"}
    for p in procs:
        if p["role"] == "postgres":
            assert p["http"] is None
            continue
        assert p["http"], p
        body = urllib.request.urlopen(f"http://{p['http']}/metrics", timeout=10).read().decode()
        assert "hf3fs_" in body, p
        if p["role"] == "mount":
            assert "hf3fs_fuse_op_seconds" in body


def test_data_survives_down_up(cluster, work):
    files = {}
    for i, size in enumerate([0, 1, 4096, MiB + 1, 5 * MiB]):
        data = os.urandom(size)
        files[work / f"f{i}"] = data
        write_file(work / f"f{i}", data)
    os.makedirs(work / "d" / "e")
    os.symlink("f1", work / "link")
    os.setxattr(work / "f1", "user.keep", b"me")
    old = cluster.pids()
    r = cluster.down()
    assert r.returncode == 0, r.stdout + r.stderr
    assert not cluster.is_mounted()
    assert not cluster.pids()
    cluster.up()
    assert cluster.is_mounted()
    assert set(cluster.pids()) == set(old)
    for p, data in files.items():
        assert read_file(p) == data, p
    assert (work / "d" / "e").is_dir()
    assert os.readlink(work / "link") == "f1"
    assert os.getxattr(work / "f1", "user.keep") == b"me"


def test_down_with_a_file_still_open_keeps_its_buffered_writes(cluster, work):
    # SIGTERM while a process holds a file open with writes still in the mount's write buffer:
    # the lazy unmount leaves the kernel connection alive, so the daemon aborts it, flushes what
    # it buffered and reports the length, and stops cleanly instead of being killed.
    data = os.urandom(300 * 1024)  # below the write buffer: nothing reached storage yet
    f = open(work / "open-at-down", "wb")
    f.write(data)
    f.flush()  # into the mount (FUSE write), not yet flushed by the mount itself
    t = time.time()
    r = cluster.down()
    took = time.time() - t
    try:
        f.close()
    except OSError:
        pass  # the connection was aborted under it
    assert r.returncode == 0, r.stdout + r.stderr
    assert took < 8, f"down took {took:.1f}s (the mount was killed, not stopped)"
    assert "server.stopped role=mount" in cluster.log("mount", tail=100000)
    cluster.up()
    assert read_file(work / "open-at-down") == data
