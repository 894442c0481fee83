"""USRBIO end to end: the native client API (libhf3fs_usrbio through its Python binding) against the
mount daemon of a local cluster, checked against data written and read through FUSE.

Covers: reads and writes through rings compared with FUSE, batching policies, flags, shared
buffers across handles, multi-threaded reaping, bad ring entries (crafted straight into the ring's
shared memory), the death of a process with I/O in flight, the helpers, and `hf3fs bench usrbio`.
"""
import ctypes
import errno
import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from conftest import BIN, REPO, drop_caches, sh

sys.path.insert(0, str(REPO / "python"))
import hf3fs_usrbio as usrbio  # noqa: E402

MiB = 1 << 20


@pytest.fixture(autouse=True)
def no_leftover_buffers():
    """Buffers the tests (and the processes they kill) leave named in /dev/shm are removed."""
    before = set(pathlib.Path("/dev/shm").glob("hf3fs-iov-*"))
    yield
    for p in set(pathlib.Path("/dev/shm").glob("hf3fs-iov-*")) - before:
        p.unlink(missing_ok=True)


@pytest.fixture
def mnt(cluster):
    return str(cluster.mount)


def fuse_write(path, data):
    with open(path, "wb") as f:
        f.write(data)


@pytest.fixture
def registered(work):
    """Opens files on the mount and registers them; deregisters and closes at the end."""
    opened = []

    def open_(name, flags=os.O_RDWR | os.O_CREAT):
        fd = os.open(work / name, flags, 0o644)
        usrbio.register_fd(fd)
        opened.append(fd)
        return fd

    yield open_
    for fd in opened:
        usrbio.deregister_fd(fd)
        os.close(fd)


def test_mount_detection(cluster, work):
    assert usrbio.extract_mount_point(str(work / "no" / "such" / "file")) == str(cluster.mount)
    fd = os.open(work, os.O_RDONLY)
    try:
        assert usrbio.is_hf3fs(fd)
    finally:
        os.close(fd)
    fd = os.open("/tmp", os.O_RDONLY)
    try:
        assert not usrbio.is_hf3fs(fd)
    finally:
        os.close(fd)
    with pytest.raises(OSError):
        usrbio.extract_mount_point("/tmp")


def test_read_matches_fuse(mnt, work, registered):
    data = os.urandom(9 * MiB + 12345)  # several chunks and a ragged end
    fuse_write(work / "f", data)
    drop_caches()
    assert usrbio.read_file(str(work / "f")) == data
    # Pieces at odd offsets, across chunk boundaries, and past the end of the file.
    fd = registered("f", os.O_RDONLY)
    pieces = [(0, 4096), (1 * MiB - 100, 300), (4 * MiB - 7, 2 * MiB + 11),
              (len(data) - 10, 4096), (len(data) + 4096, 4096)]
    with usrbio.Iovec(mnt, 8 * MiB) as iov, usrbio.Ioring(mnt, 16, for_read=True) as ring:
        offs = []
        pos = 0
        for i, (off, n) in enumerate(pieces):
            ring.prepare(iov, pos, fd, off, n, userdata=i)
            offs.append(pos)
            pos += n
        ring.submit()
        done = {}
        while len(done) < len(pieces):
            for _, result, ud in ring.wait(min_results=1, timeout=30):
                done[ud] = result
        for i, (off, n) in enumerate(pieces):
            want = data[off:off + n]
            assert done[i] == len(want), (i, done[i])
            assert bytes(iov.buf[offs[i]:offs[i] + len(want)]) == want


def test_write_then_fuse_reads(mnt, work, registered):
    data = os.urandom(6 * MiB + 777)
    fd = registered("w")
    block = 1 * MiB
    with usrbio.Iovec(mnt, len(data)) as iov, usrbio.Ioring(mnt, 8, for_read=False) as ring:
        iov.buf[:len(data)] = data
        left = []
        for off in range(0, len(data), block):
            n = min(block, len(data) - off)
            ring.prepare(iov, off, fd, off, n, userdata=off)
            left.append(off)
        ring.submit()
        results = {}
        while len(results) < len(left):
            for _, result, ud in ring.wait(min_results=1, timeout=30):
                results[ud] = result
        assert all(results[o] == min(block, len(data) - o) for o in left)
    # The length reaches this mount's attributes at once ...
    deadline = time.time() + 5
    while os.stat(work / "w").st_size != len(data) and time.time() < deadline:
        time.sleep(0.05)
    assert os.stat(work / "w").st_size == len(data)
    # ... and the data reads back through FUSE, from the cluster.
    drop_caches()
    with open(work / "w", "rb") as f:
        assert f.read() == data


_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                       ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]


def _resident_pages(addr, length):
    """How many pages of a file mapping are in the page cache (mincore(2))."""
    vec = ctypes.create_string_buffer((length + 4095) // 4096)
    assert _libc.mincore(addr, length, vec) == 0, os.strerror(ctypes.get_errno())
    return sum(b & 1 for b in vec.raw)


def test_overwrite_invalidates_fuse_cache(mnt, work, registered):
    # A ring write drops the kernel's cached pages of the file. Checked on a mapping that stays
    # open (a fresh open() drops them anyway), by page residency rather than by content, so the
    # kernel's own revalidation after the attribute timeout cannot make this pass.
    import mmap as mmap_mod
    fuse_write(work / "c", b"a" * 8192)
    fd = registered("c")  # (an open drops cached pages itself: open before caching them)
    rfd = os.open(work / "c", os.O_RDONLY)
    addr = _libc.mmap(None, 8192, mmap_mod.PROT_READ, mmap_mod.MAP_SHARED, rfd, 0)
    assert addr not in (None, ctypes.c_void_p(-1).value)
    try:
        assert ctypes.string_at(addr, 8192) == b"a" * 8192  # both pages now cached
        assert _resident_pages(addr, 8192) == 2
        with usrbio.Iovec(mnt, 4096) as iov, usrbio.Ioring(mnt, 4, for_read=False) as ring:
            iov.buf[:4096] = b"b" * 4096
            ring.prepare(iov, 0, fd, 4096, 4096)
            ring.submit()
            [(_, result, _)] = ring.wait(min_results=1, timeout=30)
            assert result == 4096
        deadline = time.time() + 5
        while _resident_pages(addr, 8192) and time.time() < deadline:
            time.sleep(0.05)
        assert _resident_pages(addr, 8192) == 0
        assert ctypes.string_at(addr, 8192) == b"a" * 4096 + b"b" * 4096
    finally:
        _libc.munmap(addr, 8192)
        os.close(rfd)


def test_registration_outlives_close(mnt, work):
    # The registration keeps the open file alive after close(2) (documented); deregistering then
    # ends it, and the written length reaches the metadata service as a close would.
    data = os.urandom(3 * MiB)
    fd = os.open(work / "late", os.O_RDWR | os.O_CREAT, 0o644)
    usrbio.register_fd(fd)
    os.close(fd)
    with usrbio.Iovec(mnt, len(data)) as iov, usrbio.Ioring(mnt, 4, for_read=False) as ring:
        iov.buf[:len(data)] = data
        ring.prepare(iov, 0, fd, 0, len(data))
        ring.submit()
        [(_, result, _)] = ring.wait(min_results=1, timeout=30)
        assert result == len(data)
    usrbio.deregister_fd(fd)
    drop_caches()
    with open(work / "late", "rb") as f:
        assert f.read() == data


def test_io_depth_batches(mnt, work, registered):
    fuse_write(work / "d", os.urandom(64 * 1024))
    fd = registered("d", os.O_RDONLY)
    with usrbio.Iovec(mnt, 64 * 1024) as iov, \
            usrbio.Ioring(mnt, 8, for_read=True, io_depth=4) as ring:
        for i in range(3):
            ring.prepare(iov, i * 4096, fd, i * 4096, 4096)
        ring.submit()
        # Three of a batch of four: the daemon waits for the fourth.
        assert ring.wait(min_results=1, timeout=0.5) == []
        ring.prepare(iov, 3 * 4096, fd, 3 * 4096, 4096)
        ring.submit()
        got = []
        while len(got) < 4:
            got += ring.wait(min_results=1, timeout=30)
        assert sorted(r for _, r, _ in got) == [4096] * 4
    # io_depth < 0 with a timeout: a partial batch goes out once the timeout passes.
    with usrbio.Iovec(mnt, 64 * 1024) as iov, \
            usrbio.Ioring(mnt, 8, for_read=True, io_depth=-4, timeout=200) as ring:
        ring.prepare(iov, 0, fd, 0, 4096)
        ring.submit()
        got = ring.wait(min_results=1, timeout=10)
        assert [r for _, r, _ in got] == [4096]


def test_forbid_holes(mnt, work, registered):
    with open(work / "sparse", "wb") as f:
        f.truncate(8 * MiB)
    fd = registered("sparse", os.O_RDONLY)
    with usrbio.Iovec(mnt, MiB) as iov:
        with usrbio.Ioring(mnt, 4, for_read=True) as ring:
            iov.buf[:4096] = b"x" * 4096
            ring.prepare(iov, 0, fd, MiB, 4096)
            ring.submit()
            [(_, result, _)] = ring.wait(min_results=1, timeout=30)
            assert result == 4096 and bytes(iov.buf[:4096]) == bytes(4096)
        with usrbio.Ioring(mnt, 4, for_read=True, flags=usrbio.FORBID_READ_HOLES) as ring:
            ring.prepare(iov, 0, fd, MiB, 4096)
            ring.submit()
            [(_, result, _)] = ring.wait(min_results=1, timeout=30)
            assert result == -errno.ENODATA


def test_shared_buffers(mnt, work, registered):
    from multiprocessing import shared_memory
    data = os.urandom(256 * 1024)
    fuse_write(work / "s", data)
    fd = registered("s", os.O_RDONLY)
    with usrbio.Iovec(mnt, 256 * 1024) as owner:
        # The same buffer under its id, as another worker would open it.
        with usrbio.Iovec.open(mnt, owner.id, 256 * 1024) as other, \
                usrbio.Ioring(mnt, 4, for_read=True) as ring:
            ring.prepare(other, 0, fd, 0, len(data))
            ring.submit()
            [(_, result, _)] = ring.wait(min_results=1, timeout=30)
            assert result == len(data)
            assert bytes(owner.buf[:len(data)]) == data
        owner.unlink()
    # A SharedMemory segment wrapped without a second mapping.
    ident = os.urandom(16)
    shm = shared_memory.SharedMemory(name="hf3fs-iov-" + ident.hex(), create=True, size=256 * 1024)
    try:
        with usrbio.Iovec.wrap(mnt, shm, ident) as iov, usrbio.Ioring(mnt, 4) as ring:
            ring.prepare(iov, 0, fd, 0, len(data))
            ring.submit()
            [(_, result, _)] = ring.wait(min_results=1, timeout=30)
            assert result == len(data)
            assert bytes(shm.buf[:len(data)]) == data
    finally:
        shm.close()
        shm.unlink()


def test_multithreaded_reaping(mnt, work, registered):
    data = os.urandom(4 * MiB)
    fuse_write(work / "m", data)
    fd = registered("m", os.O_RDONLY)
    total = 2000
    bs = 4096
    entries = 64
    reaped = []
    lock = threading.Lock()
    with usrbio.Iovec(mnt, entries * bs) as iov, usrbio.Ioring(mnt, entries) as ring:
        slots = threading.Semaphore(entries)
        stop = threading.Event()

        def reaper():
            while not stop.is_set():
                for _, result, ud in ring.wait(min_results=1, max_results=8, timeout=0.2):
                    slot, off = ud
                    ok = result == bs and bytes(iov.buf[slot * bs:(slot + 1) * bs]) == \
                        data[off:off + bs]
                    with lock:
                        reaped.append((off, ok))
                        free.append(slot)
                    slots.release()

        free = list(range(entries))
        threads = [threading.Thread(target=reaper) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            for i in range(total):
                slots.acquire()
                with lock:
                    slot = free.pop()
                off = (i * 7919 % (len(data) // bs)) * bs
                ring.prepare(iov, slot * bs, fd, off, bs, userdata=(slot, off))
                if i % 16 == 15 or i == total - 1:
                    ring.submit()
            deadline = time.time() + 60
            while len(reaped) < total and time.time() < deadline:
                time.sleep(0.05)
        finally:
            stop.set()
            for t in threads:
                t.join()
    assert len(reaped) == total
    assert all(ok for _, ok in reaped)


def test_bad_requests_get_errors(mnt, work, registered):
    fuse_write(work / "b", os.urandom(64 * 1024))
    fd = registered("b", os.O_RDONLY)
    wfd = registered("wo", os.O_WRONLY | os.O_CREAT)
    with usrbio.Iovec(mnt, 64 * 1024) as iov, usrbio.Ioring(mnt, 4) as ring:
        # Refused by the library.
        for args, code in [((iov, 60 * 1024, fd, 0, 8192), errno.EINVAL),   # past the iov
                           ((iov, 0, 12345, 0, 4096), errno.EBADF)]:        # not registered
            with pytest.raises(OSError) as e:
                ring.prepare(*args)
            assert e.value.errno == code
        # Refused by the daemon: reading through a descriptor opened write-only.
        ring.prepare(iov, 0, wfd, 0, 4096)
        ring.submit()
        [(_, result, _)] = ring.wait(min_results=1, timeout=30)
        assert result == -errno.EBADF
        for i in range(4):
            ring.prepare(iov, 0, fd, 0, 16)
        with pytest.raises(OSError) as e:
            ring.prepare(iov, 0, fd, 0, 16)  # all entries in flight
        assert e.value.errno == errno.EAGAIN
        ring.submit()
        got = []
        while len(got) < 4:
            got += ring.wait(min_results=1, timeout=30)


def _ring_base(ring):
    return ctypes.cast(ring._ior.iov.base, ctypes.c_void_p).value


def _raw_sqe(ring, index, iov, file, flags, iov_offset, file_offset, length):
    """Writes a submission entry straight into the ring's shared memory, as a buggy or hostile
    program could, bypassing every check of the library."""
    base = _ring_base(ring)
    entries = ring.entries
    tail = ctypes.c_uint32.from_address(base + 64)
    pos = tail.value
    sqe = (ctypes.c_uint32 * 4).from_address(base + 4096 + (pos % entries) * 40)
    sqe[0], sqe[1], sqe[2], sqe[3] = index, iov, file, flags
    rest = (ctypes.c_uint64 * 3).from_address(base + 4096 + (pos % entries) * 40 + 16)
    rest[0], rest[1], rest[2] = iov_offset, file_offset, length
    tail.value = pos + 1


def test_crafted_ring_entries_complete_with_errors(mnt, work, registered, cluster):
    data = os.urandom(64 * 1024)
    fuse_write(work / "r", data)
    fd = registered("r", os.O_RDONLY)
    with usrbio.Iovec(mnt, 64 * 1024) as iov, usrbio.Ioring(mnt, 8) as ring:
        # Learn the daemon's handles from a good entry.
        ring.prepare(iov, 0, fd, 0, 4096)
        base = _ring_base(ring)
        good = (ctypes.c_uint32 * 4).from_address(base + 4096)
        iov_h, file_h = good[1], good[2]
        ring.submit()
        [(_, result, _)] = ring.wait(min_results=1, timeout=30)
        assert result == 4096
        bad = [
            (9999, file_h, 1, 0, 0, 4096, -errno.EINVAL),           # unknown iov
            (iov_h, 9999, 1, 0, 0, 4096, -errno.EINVAL),            # unknown file
            (iov_h, file_h, 1, 60 * 1024, 0, 8192, -errno.EINVAL),  # past the end of the iov
            (iov_h, file_h, 1, 1 << 40, 0, 4096, -errno.EINVAL),    # far outside the iov
            (iov_h, file_h, 0, 0, 0, 4096, -errno.EINVAL),          # a write on a read ring
            (iov_h, file_h, 1, 0, 0, 0, -errno.EINVAL),             # zero length
        ]
        for i, (ih, fh, fl, io, fo, n, _) in enumerate(bad):
            _raw_sqe(ring, i, ih, fh, fl, io, fo, n)
        ring.submit()
        got = {}
        while len(got) < len(bad):
            for index, result, _ in ring.wait(min_results=1, timeout=30):
                got[index] = result
        assert [got[i] for i in range(len(bad))] == [b[-1] for b in bad]
    # The daemon is fine: the mount and USRBIO still work.
    assert usrbio.read_file(str(work / "r")) == data
    assert cluster.is_mounted()


def test_truncated_iov_fails_its_io_and_the_daemon_lives(mnt, work, registered, cluster):
    """A process that shrinks a registered buffer (shm cannot be sealed) gets -EFAULT for I/O into
    it; the daemon, which would otherwise die of SIGBUS, serves on."""
    data = os.urandom(2 * MiB)
    fuse_write(work / "t", data)
    fd = registered("t", os.O_RDONLY)
    with usrbio.Iovec(mnt, 2 * MiB) as iov, usrbio.Ioring(mnt, 4) as ring:
        os.truncate("/dev/shm/hf3fs-iov-" + iov.id.hex(), 0)
        ring.prepare(iov, 0, fd, 0, 2 * MiB)
        ring.submit()
        [(_, result, _)] = ring.wait(min_results=1, timeout=30)
        assert result == -errno.EFAULT
        # Later I/Os on that buffer fail the same way at once.
        ring.prepare(iov, 0, fd, 0, 4096)
        ring.submit()
        [(_, result, _)] = ring.wait(min_results=1, timeout=30)
        assert result == -errno.EFAULT
        iov.unlink()
    assert cluster.is_mounted()
    assert usrbio.read_file(str(work / "t")) == data
    with open(work / "t", "rb") as f:
        assert f.read() == data


def test_process_death_with_io_in_flight(mnt, work, cluster):
    data = os.urandom(16 * MiB)
    fuse_write(work / "k", data)
    code = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(REPO / 'python')!r})
        import hf3fs_usrbio as u
        fd = os.open({str(work / 'k')!r}, os.O_RDONLY)
        u.register_fd(fd)
        iov = u.Iovec({mnt!r}, 64 << 20)
        ring = u.Ioring({mnt!r}, 64)
        for i in range(64):
            ring.prepare(iov, i << 20, fd, (i % 16) << 20, 1 << 20)
        ring.submit()
        print("submitted", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == -signal.SIGKILL, p.stderr
    assert "submitted" in p.stdout
    # The daemon noticed and freed what the process had registered ...
    deadline = time.time() + 30
    while time.time() < deadline:
        if "usrbio.disconnected" in cluster.log("mount", tail=20000):
            break
        time.sleep(0.2)
    log = cluster.log("mount", tail=20000)
    assert "rings=1 files=1 iovs=1" in log, log[-2000:]
    # ... and serves everyone else as before.
    assert usrbio.read_file(str(work / "k")) == data
    with open(work / "k", "rb") as f:
        assert f.read(4096) == data[:4096]


def test_helpers(mnt, work):
    data = os.urandom(3 * MiB)
    fuse_write(work / "h", data)
    usrbio.hardlink(str(work / "h"), str(work / "h2"))
    assert os.stat(work / "h").st_nlink == 2
    assert os.stat(work / "h").st_ino == os.stat(work / "h2").st_ino
    fd = os.open(work / "h", os.O_RDWR)
    try:
        usrbio.punch_hole(fd, [(4096, 8192), (MiB, 2 * MiB)])
    finally:
        os.close(fd)
    drop_caches()
    with open(work / "h2", "rb") as f:
        got = f.read()
    want = bytearray(data)
    want[4096:8192] = bytes(4096)
    want[MiB:2 * MiB] = bytes(MiB)
    assert got == bytes(want)


@pytest.mark.parametrize("rw", ["randread", "write"])
def test_bench_usrbio(cluster, work, rw):
    r = sh(BIN, "bench", "usrbio", "--file", work / "bench", "--rw", rw, "--bs", "64KiB",
           "--iodepth", "8", "--numjobs", "2", "--size", "8MiB", "--runtime", "2", "--json",
           check=False, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["errors"] == 0
    assert out["iops"] > 0 and out["mib_s"] > 0
    assert 0 < out["lat_p50_us"] <= out["lat_p99_us"]


def test_c_program(work):
    """usrbio_cat (plain C over libhf3fs_usrbio) prints the file it reads through a ring."""
    exe = os.environ.get("HF3FS_USRBIO_CAT") or str(REPO / "build/release/tests/usrbio_cat")
    data = os.urandom(5 * MiB + 4321)
    fuse_write(work / "cat", data)
    r = subprocess.run([exe, str(work / "cat")], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == data


def test_mount_killed_with_files_registered_is_dead_not_hung(mnt, work, cluster):
    """The daemon holds no descriptor of its own mount for a registration (one once made its own
    exit wait on a FUSE flush nobody could answer: the mount hung instead of failing)."""
    fuse_write(work / "reg", os.urandom(MiB))
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import os, sys, time
        sys.path.insert(0, {str(REPO / 'python')!r})
        import hf3fs_usrbio as u
        fd = os.open({str(work / 'reg')!r}, os.O_RDWR)
        u.register_fd(fd)
        ring = u.Ioring({mnt!r}, 4)
        print("registered", flush=True)
        time.sleep(120)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "registered"
        os.kill(cluster.pid("mount"), signal.SIGKILL)
        # Another process sees a dead mount at once (a hung one would never answer).
        r = subprocess.run([sys.executable, "-c", f"import os; os.listdir({mnt!r})"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0 and "Transport endpoint is not connected" in r.stderr, r.stderr
    finally:
        holder.kill()
        holder.wait(30)
    assert cluster.down().returncode == 0
    cluster.up()
    assert cluster.is_mounted()
