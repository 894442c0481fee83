"""hf3fs USRBIO for Python: zero-copy file I/O through an hf3fs mount daemon.

A thin ctypes binding of libhf3fs_usrbio.so (src/usrbio/hf3fs_usrbio.h, docs/usrbio.md); pure
Python, standard library only. The library is found through the environment variable
HF3FS_USRBIO_LIB, else build/release/src/usrbio/libhf3fs_usrbio.so of the source tree this package
sits in, else the system's library search path. It is loaded on first use, so importing this
package never fails.

    import hf3fs_usrbio as u
    data = u.read_file("/mnt/hf3fs/dataset/shard-0001")

Every call that fails raises OSError with the errno the library returned.
"""

import ctypes
import ctypes.util
import functools
import itertools
import os
import time
from multiprocessing import shared_memory

__all__ = [
    "PRIO_HIGH", "PRIO_NORMAL", "PRIO_LOW", "ALLOW_READ_UNCOMMITTED", "FORBID_READ_HOLES",
    "IOR_MAX_ENTRIES", "IO_MAX_BYTES", "Iovec", "Ioring", "RegisteredFd", "deregister_fd",
    "extract_mount_point", "hardlink", "ior_size", "is_hf3fs", "punch_hole", "read_file",
    "register_fd",
]

PRIO_HIGH, PRIO_NORMAL, PRIO_LOW = 0, 1, 2  # HF3FS_IOR_PRIO_*
ALLOW_READ_UNCOMMITTED = 1  # HF3FS_IOR_ALLOW_READ_UNCOMMITTED: reads may see uncommitted data
FORBID_READ_HOLES = 2  # HF3FS_IOR_FORBID_READ_HOLES: a read touching a hole fails with ENODATA
IOR_MAX_ENTRIES = 65536
IO_MAX_BYTES = 1 << 30


class hf3fs_iov(ctypes.Structure):
    """struct hf3fs_iov."""
    _fields_ = [
        ("base", ctypes.POINTER(ctypes.c_uint8)),
        ("iovh", ctypes.c_void_p),
        ("id", ctypes.c_uint8 * 16),
        ("mount_point", ctypes.c_char * 256),
        ("size", ctypes.c_size_t),
        ("block_size", ctypes.c_size_t),
        ("numa", ctypes.c_int),
    ]


class hf3fs_ior(ctypes.Structure):
    """struct hf3fs_ior."""
    _fields_ = [
        ("iov", hf3fs_iov),
        ("iorh", ctypes.c_void_p),
        ("mount_point", ctypes.c_char * 256),
        ("for_read", ctypes.c_bool),
        ("io_depth", ctypes.c_int),
        ("priority", ctypes.c_int),
        ("timeout", ctypes.c_int),
        ("flags", ctypes.c_uint64),
    ]


class hf3fs_cqe(ctypes.Structure):
    """struct hf3fs_cqe."""
    _fields_ = [
        ("index", ctypes.c_int32),
        ("reserved", ctypes.c_int32),
        ("result", ctypes.c_int64),
        ("userdata", ctypes.c_void_p),
    ]


class _timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


_int, _size, _u64 = ctypes.c_int, ctypes.c_size_t, ctypes.c_uint64
_vp, _str, _bool = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_bool
_iov, _ior = ctypes.POINTER(hf3fs_iov), ctypes.POINTER(hf3fs_ior)
_u8 = ctypes.POINTER(ctypes.c_uint8)
_SIGNATURES = {
    "hf3fs_is_hf3fs": (_bool, [_int]),
    "hf3fs_extract_mount_point": (_int, [_str, _int, _str]),
    "hf3fs_iovcreate": (_int, [_iov, _str, _size, _size, _int]),
    "hf3fs_iovopen": (_int, [_iov, _u8, _str, _size, _size, _int]),
    "hf3fs_iovwrap": (_int, [_iov, _vp, _u8, _str, _size, _size, _int]),
    "hf3fs_iovunlink": (None, [_iov]),
    "hf3fs_iovdestroy": (None, [_iov]),
    "hf3fs_ior_size": (_size, [_int]),
    "hf3fs_iorcreate4": (_int, [_ior, _str, _int, _bool, _int, _int, _int, _int, _u64]),
    "hf3fs_iordestroy": (None, [_ior]),
    "hf3fs_reg_fd": (_int, [_int, _u64]),
    "hf3fs_dereg_fd": (None, [_int]),
    "hf3fs_prep_io": (_int, [_ior, _iov, _bool, _vp, _int, _size, _u64, _vp]),
    "hf3fs_submit_ios": (_int, [_ior]),
    "hf3fs_wait_for_ios": (_int, [_ior, ctypes.POINTER(hf3fs_cqe), _int, _int,
                                  ctypes.POINTER(_timespec)]),
    "hf3fs_hardlink": (_int, [_str, _str]),
    "hf3fs_punchhole": (_int, [_int, _int, ctypes.POINTER(_size), ctypes.POINTER(_size), _size]),
}


@functools.cache
def _lib():
    """Loads libhf3fs_usrbio.so once and declares every function's signature."""
    path = os.environ.get("HF3FS_USRBIO_LIB")
    if not path:
        here = os.path.dirname(os.path.abspath(__file__))
        path = os.path.join(here, "..", "..", "build", "release", "src", "usrbio",
                            "libhf3fs_usrbio.so")
        if not os.path.exists(path):
            path = ctypes.util.find_library("hf3fs_usrbio")
    if not path:
        raise OSError("libhf3fs_usrbio.so not found: build it or set HF3FS_USRBIO_LIB")
    lib = ctypes.CDLL(path)
    for name, (restype, argtypes) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    return lib


def _check(rc, *filenames):
    """Returns rc, or raises OSError for a negated errno value."""
    if rc < 0:
        raise OSError(-rc, os.strerror(-rc), *filenames)
    return rc


def _fileno(f):
    return f if isinstance(f, int) else f.fileno()


def _id16(id_bytes):
    id_bytes = bytes(id_bytes)
    if len(id_bytes) != 16:
        raise ValueError("an iov id is 16 bytes")
    return (ctypes.c_uint8 * 16).from_buffer_copy(id_bytes)


def extract_mount_point(path):
    """Returns the hf3fs mount point that holds `path` (which need not exist)."""
    buf = ctypes.create_string_buffer(4096)
    _check(_lib().hf3fs_extract_mount_point(buf, len(buf), os.fsencode(path)), path)
    return os.fsdecode(buf.value)


def ior_size(entries):
    """Bytes of shared memory a ring of `entries` uses."""
    return _lib().hf3fs_ior_size(entries)


def is_hf3fs(fd):
    """True when `fd` (an int or an object with fileno()) is open on an hf3fs mount."""
    return bool(_lib().hf3fs_is_hf3fs(_fileno(fd)))


class Iovec:
    """A shared-memory buffer registered with a mount daemon (an iov).

    Iovec(mount, size) creates a buffer under a fresh random id; Iovec.open attaches to an
    existing one by id; Iovec.wrap registers a multiprocessing SharedMemory. `buf` is a writable
    memoryview of the mapping; it and every view taken from it must not be used after close().
    """

    def __init__(self, mount, size, block_size=0, numa=-1):
        self._register(None, mount, _lib().hf3fs_iovcreate, os.fsencode(mount), size, block_size,
                       numa)

    def _register(self, shm, mount, create, *args):
        self._iov, self._view, self._closed = hf3fs_iov(), None, True
        self._shm = shm  # a wrapped SharedMemory stays referenced (mapped) until close()
        _check(create(ctypes.byref(self._iov), *args), mount)
        self._closed = False

    @classmethod
    def open(cls, mount, id_bytes, size, block_size=0, numa=-1):
        """Maps and registers the existing buffer `id_bytes` (16 bytes) of `size` bytes."""
        self = cls.__new__(cls)
        self._register(None, mount, _lib().hf3fs_iovopen, _id16(id_bytes), os.fsencode(mount),
                       size, block_size, numa)
        return self

    @classmethod
    def wrap(cls, mount, shm: shared_memory.SharedMemory, id_bytes, block_size=0, numa=-1):
        """Registers `shm`, a SharedMemory named "hf3fs-iov-<hex of id_bytes>", without mapping it
        again. `shm` must stay open until this Iovec is closed."""
        expected = "hf3fs-iov-" + bytes(id_bytes).hex()
        if shm.name.lstrip("/") != expected:
            raise ValueError(f"shared memory {shm.name!r} should be named {expected!r}")
        anchor = ctypes.c_char.from_buffer(shm.buf)
        addr = ctypes.addressof(anchor)
        del anchor  # no lasting export: shm.close() stays possible
        self = cls.__new__(cls)
        self._register(shm, mount, _lib().hf3fs_iovwrap, addr, _id16(id_bytes),
                       os.fsencode(mount), shm.size, block_size, numa)
        return self

    @property
    def id(self):
        """The 16-byte id naming the buffer (/dev/shm/hf3fs-iov-<id.hex()>)."""
        return bytes(self._iov.id)

    @property
    def size(self):
        return self._iov.size

    @property
    def base(self):
        """The mapping's address in this process."""
        if self._closed:
            raise ValueError("Iovec is closed")
        return ctypes.cast(self._iov.base, ctypes.c_void_p).value

    @property
    def buf(self):
        """A writable memoryview of the whole buffer."""
        if self._view is None:
            array = (ctypes.c_ubyte * self.size).from_address(self.base)
            self._view = memoryview(array).cast("B")
        return self._view

    def unlink(self):
        """Removes the buffer's name from /dev/shm; existing mappings stay valid."""
        _lib().hf3fs_iovunlink(ctypes.byref(self._iov))

    def close(self):
        """Deregisters and unmaps the buffer (idempotent). Its I/Os must have completed."""
        if self._closed:
            return
        self._closed = True
        if self._view is not None:
            self._view.release()
            self._view = None
        _lib().hf3fs_iovdestroy(ctypes.byref(self._iov))
        self._shm = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Ioring:
    """A submission/completion ring (an ior) for reads or for writes.

    `io_depth`, `priority`, `timeout` (ms) and `flags` are hf3fs_iorcreate4's: io_depth > 0 sends
    batches of exactly io_depth, 0 whatever is prepared at submit(), < 0 up to -io_depth waiting at
    most `timeout` ms. Several threads may prepare on and reap one ring.
    """

    def __init__(self, mount, entries, for_read=True, io_depth=0, priority=PRIO_NORMAL,
                 timeout=0, numa=-1, flags=0):
        self._ior = hf3fs_ior()
        self._closed = True
        self._tokens = itertools.count(1)
        self._userdata = {}
        self.entries, self.for_read = entries, bool(for_read)
        rc = _lib().hf3fs_iorcreate4(ctypes.byref(self._ior), os.fsencode(mount), entries,
                                     self.for_read, io_depth, priority, timeout, numa, flags)
        _check(rc, mount)
        self._closed = False

    def _handle(self):
        if self._closed:
            raise ValueError("Ioring is closed")
        return ctypes.byref(self._ior)

    def prepare(self, iov, offset_in_iov, fd, file_offset, length, userdata=None):
        """Puts one I/O on the ring: `length` bytes between iov.buf[offset_in_iov:] and
        `file_offset` of the registered `fd`. Returns the I/O's index; `userdata` (any object)
        comes back with its completion. Raises OSError EAGAIN when `entries` I/Os are in flight."""
        token = next(self._tokens)  # the C userdata: a key into self._userdata, never NULL
        self._userdata[token] = userdata  # before prep_io: the daemon may complete it at once
        rc = _lib().hf3fs_prep_io(self._handle(), ctypes.byref(iov._iov), self.for_read,
                                  iov.base + offset_in_iov, _fileno(fd), file_offset, length, token)
        if rc < 0:
            del self._userdata[token]
        return _check(rc)

    def submit(self):
        """Wakes the daemon for the prepared I/Os."""
        _check(_lib().hf3fs_submit_ios(self._handle()))

    def wait(self, min_results=1, max_results=None, timeout=None):
        """Reaps completions: waits until `min_results` are there or `timeout` seconds pass (None:
        no limit) and returns up to `max_results` (default `entries`) as a list of
        (index, result, userdata); result is the byte count or a negated errno."""
        count = max_results or self.entries
        cqes = (hf3fs_cqe * count)()
        deadline = None
        if timeout is not None:
            ns = time.time_ns() + int(timeout * 1e9)
            deadline = ctypes.byref(_timespec(ns // 1_000_000_000, ns % 1_000_000_000))
        n = _check(_lib().hf3fs_wait_for_ios(self._handle(), cqes, count, min_results, deadline))
        return [(c.index, c.result, self._userdata.pop(c.userdata, None)) for c in cqes[:n]]

    def close(self):
        """Deregisters and frees the ring (idempotent); results of I/Os in flight are dropped."""
        if not self._closed:
            self._closed = True
            _lib().hf3fs_iordestroy(ctypes.byref(self._ior))
            self._userdata.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def register_fd(fd):
    """Registers `fd` (open on an hf3fs mount) for I/O through rings."""
    _check(_lib().hf3fs_reg_fd(_fileno(fd), 0))


def deregister_fd(fd):
    """Ends the registration of `fd`."""
    _lib().hf3fs_dereg_fd(_fileno(fd))


class RegisteredFd:
    """Context manager: `with RegisteredFd(fd): ...` registers fd for its duration."""

    def __init__(self, fd):
        self.fd = _fileno(fd)

    def __enter__(self):
        register_fd(self.fd)
        return self.fd

    def __exit__(self, *exc):
        deregister_fd(self.fd)


def read_file(path, offset=0, length=None, block_size=4 << 20, io_depth=16):
    """Reads `length` bytes (default: to the end of the file) of `path` from `offset` through a
    ring, `io_depth` reads of `block_size` bytes in flight. Stops early at the end of the file."""
    mount = extract_mount_point(path)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if length is None:
            length = max(0, os.fstat(fd).st_size - offset)
        if length == 0:
            return b""
        slots = max(1, min(io_depth, -(-length // block_size)))
        out = bytearray(length)
        end = length  # becomes the end of the file at the first short read
        with RegisteredFd(fd), Iovec(mount, block_size * slots) as iov, \
                Ioring(mount, slots, for_read=True) as ring:
            iov.unlink()  # a private buffer: no name left behind in /dev/shm
            free, pos, in_flight = list(range(slots)), 0, 0
            while True:
                while free and pos < end:
                    slot, n = free.pop(), min(block_size, end - pos)
                    ring.prepare(iov, slot * block_size, fd, offset + pos, n, (slot, pos, n))
                    pos, in_flight = pos + n, in_flight + 1
                if not in_flight:
                    break
                ring.submit()
                for _, result, (slot, at, n) in ring.wait(min_results=1):
                    in_flight -= 1
                    free.append(slot)
                    if result < 0:
                        raise OSError(-result, os.strerror(-result), path)
                    start = slot * block_size
                    out[at:at + result] = iov.buf[start:start + result]
                    if result < n:
                        end = min(end, at + result)
        del out[end:]
        return bytes(out)
    finally:
        os.close(fd)


def hardlink(target, link):
    """link(2) for two paths on one hf3fs mount."""
    _check(_lib().hf3fs_hardlink(os.fsencode(target), os.fsencode(link)), target, link)


def punch_hole(fd, ranges):
    """Makes each byte range (start, end) of `fd` read as zeros, freeing whole chunks."""
    ranges = list(ranges)
    starts = (ctypes.c_size_t * len(ranges))(*(s for s, _ in ranges))
    ends = (ctypes.c_size_t * len(ranges))(*(e for _, e in ranges))
    _check(_lib().hf3fs_punchhole(_fileno(fd), len(ranges), starts, ends, 0))
