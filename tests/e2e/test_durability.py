"""The durability contract through the mount (docs/design/0009-durability.md).

The cluster here flushes on its own only once a minute (--durability-window 60s), so what is
durable after a test step was made durable by that step: fsync, fdatasync, fsync of a directory,
O_SYNC/O_DSYNC writes, `hf3fs sync` (the mount's syncfs), fsync of a file reopened after its
writes, fsync after USRBIO writes. Each must leave every replica of every chunk the file wrote
durable (the storage nodes report it per chunk) and flush the metadata store (its flush counter).
A control test shows that without them nothing is flushed, so each check can fail.

Then kill -9 of every process type during a mixed metadata and data workload: every operation the
workload saw acknowledged is there after the process is back, and fsck is clean.
"""
import base64
import ctypes
import hashlib
import json
import os
import pathlib
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

from conftest import REPO, Cluster

MiB = 1 << 20
CHUNK = MiB  # the local cluster's chunk size


@pytest.fixture(scope="module")
def dcluster():
    if os.geteuid() != 0 or not os.path.exists("/dev/fuse"):
        pytest.skip("hf3fs e2e needs root and /dev/fuse (it mounts, drops caches and adds users)")
    d = tempfile.mkdtemp(prefix="hf3fs-e2e-dur-")
    os.chmod(d, 0o755)
    c = Cluster(d)
    try:
        c.up(["--durability-window", "60s",
              "--meta-store", os.environ.get("HF3FS_E2E_META_STORE", "rocksdb")])
        c.wait_healthy()
        yield c
    finally:
        c.down()
        if c.is_mounted():
            subprocess.run(["umount", "-l", str(c.mount)], check=False)
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def dwork(dcluster, request):
    p = dcluster.mount / "dur" / request.node.name.replace("[", "_").replace("]", "")
    p.mkdir(parents=True)
    return p


def targets(cluster):
    return [t["target_id"] for t in cluster.list_targets() if t.get("chain_id", 0)]


def chunk_key(ino, index):
    return base64.b64encode(ino.to_bytes(8, "big") + index.to_bytes(8, "big")).decode()


def replicas(cluster, path):
    """{chunk index: [durable flag of each replica holding it]} for the file at `path`."""
    st = os.stat(path)
    wanted = {chunk_key(st.st_ino, i): i for i in range((st.st_size + CHUNK - 1) // CHUNK)}
    found = {i: [] for i in wanted.values()}
    for t in targets(cluster):
        r = cluster.admin("dump-chunk-meta", "--mgmtd", cluster.mgmtd_address(), "--target",
                          str(t))
        for line in r.stdout.splitlines():
            m = json.loads(line)
            if m.get("chunk_id") in wanted:
                found[wanted[m["chunk_id"]]].append(bool(m.get("durable", False)))
    for i, flags in found.items():
        assert len(flags) == 3, f"chunk {i} of {path} is on {len(flags)} replicas, not 3"
    return found


def all_durable(cluster, path):
    return all(all(flags) for flags in replicas(cluster, path).values())


def none_durable(cluster, path):
    return not any(any(flags) for flags in replicas(cluster, path).values())


def kv_syncs(cluster):
    """Flushes of meta's KV store so far (hf3fs_kv_syncs_total)."""
    http = cluster.procs()["meta"]["ports"][1]
    text = urllib.request.urlopen(f"http://127.0.0.1:{http}/metrics", timeout=10).read().decode()
    m = re.search(r'^hf3fs_kv_syncs_total\{backend="[a-z]+"\} (\d+)', text, re.M)
    return int(m.group(1)) if m else 0


def write_file(path, size, flags=0):
    data = os.urandom(size)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC | flags, 0o644)
    os.write(fd, data)
    return fd, data


def test_without_a_sync_nothing_is_flushed(dcluster, dwork):
    # The control: acknowledged writes and creates reach every replica but no device flush.
    before = kv_syncs(dcluster)
    fd, _ = write_file(dwork / "f", 3 * MiB + 5)
    os.close(fd)
    assert none_durable(dcluster, dwork / "f")
    assert kv_syncs(dcluster) == before


@pytest.mark.parametrize("call", ["fsync", "fdatasync"])
def test_fsync_flushes_every_replica_and_the_metadata_store(dcluster, dwork, call):
    before = kv_syncs(dcluster)
    fd, data = write_file(dwork / "f", 3 * MiB + 5)
    try:
        getattr(os, call)(fd)
        assert all_durable(dcluster, dwork / "f")
        assert kv_syncs(dcluster) > before
    finally:
        os.close(fd)
    with open(dwork / "f", "rb") as f:
        assert f.read() == data


def test_fsync_after_reopen_covers_the_earlier_writes(dcluster, dwork):
    fd, _ = write_file(dwork / "f", 2 * MiB)
    os.close(fd)
    assert none_durable(dcluster, dwork / "f")
    fd = os.open(dwork / "f", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    assert all_durable(dcluster, dwork / "f")


def test_fsync_of_a_directory_flushes_the_metadata_store(dcluster, dwork):
    before = kv_syncs(dcluster)
    (dwork / "sub").mkdir()
    (dwork / "sub" / "x").write_bytes(b"")
    fd = os.open(dwork / "sub", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    assert kv_syncs(dcluster) > before


@pytest.mark.parametrize("flags", ["O_SYNC", "O_DSYNC", "O_SYNC|O_DIRECT"])
def test_o_sync_writes_are_durable_when_write_returns(dcluster, dwork, flags):
    bits = 0
    for f in flags.split("|"):
        bits |= getattr(os, f)
    before = kv_syncs(dcluster)
    size = 2 * MiB  # aligned, for O_DIRECT
    buf = ctypes.create_string_buffer(size + 4096)
    addr = (ctypes.addressof(buf) + 4095) & ~4095
    view = (ctypes.c_char * size).from_address(addr)
    view[:] = os.urandom(size)
    fd = os.open(dwork / "f", os.O_CREAT | os.O_WRONLY | bits, 0o644)
    try:
        assert os.write(fd, memoryview(view)) == size
        # Before any close or fsync: the write alone made it power-safe, length included.
        assert all_durable(dcluster, dwork / "f")
        assert kv_syncs(dcluster) > before
    finally:
        os.close(fd)


def test_hf3fs_sync_is_syncfs_for_the_mount(dcluster, dwork):
    for name in ("a", "b"):
        fd, _ = write_file(dwork / name, MiB + 1)
        os.close(fd)
    assert none_durable(dcluster, dwork / "a") and none_durable(dcluster, dwork / "b")
    before = kv_syncs(dcluster)
    r = subprocess.run([dcluster.bin, "sync", str(dcluster.mount), "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["ok"] is True
    assert all_durable(dcluster, dwork / "a") and all_durable(dcluster, dwork / "b")
    assert kv_syncs(dcluster) > before
    r = subprocess.run([dcluster.bin, "sync", "/tmp"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "not on an hf3fs mount" in r.stderr


def test_fsync_covers_usrbio_writes(dcluster, dwork):
    sys.path.insert(0, str(REPO / "python"))
    import hf3fs_usrbio as usrbio
    mnt = str(dcluster.mount)
    data = os.urandom(2 * MiB)
    fd = os.open(dwork / "u", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        usrbio.register_fd(fd)
        with usrbio.Iovec(mnt, len(data)) as iov, usrbio.Ioring(mnt, 4, for_read=False) as ring:
            iov.buf[:len(data)] = data
            ring.prepare(iov, 0, fd, 0, len(data))
            ring.submit()
            [(_, result, _)] = ring.wait(min_results=1, timeout=30)
            assert result == len(data)
        assert none_durable(dcluster, dwork / "u")
        os.fsync(fd)
        assert all_durable(dcluster, dwork / "u")
    finally:
        usrbio.deregister_fd(fd)
        os.close(fd)


# ---- kill -9 during a mixed workload ---------------------------------------------------------

WORKLOAD = r'''
import hashlib, os, random, sys, time
root, log_path, stop_path, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rng = random.Random(seed)
log = open(log_path, "a", buffering=1)
files, renamed, n = [], [], 0
while not os.path.exists(stop_path):
    n += 1
    op = rng.random()
    try:
        if op < 0.5 or not files:
            data = random.Random(n * 7919 + seed).randbytes(rng.randrange(1, 300_000))
            log.write(f"intent create {n}\n")
            with open(os.path.join(root, f"f{n}"), "wb") as f:
                f.write(data)
            log.write(f"ack create {n} {hashlib.sha256(data).hexdigest()}\n")
            files.append(n)
        elif op < 0.65:
            log.write(f"intent mkdir {n}\n")
            os.mkdir(os.path.join(root, f"d{n}"))
            log.write(f"ack mkdir {n}\n")
        elif op < 0.85:
            k = files.pop(rng.randrange(len(files)))
            log.write(f"intent rename {k}\n")
            os.rename(os.path.join(root, f"f{k}"), os.path.join(root, f"g{k}"))
            log.write(f"ack rename {k}\n")
            renamed.append(k)
        elif renamed:
            k = renamed.pop(rng.randrange(len(renamed)))
            log.write(f"intent unlink {k}\n")
            os.unlink(os.path.join(root, f"g{k}"))
            log.write(f"ack unlink {k}\n")
    except OSError as e:
        log.write(f"error {e.errno} {e}\n")
        if e.errno in (107, 5, 103):  # ENOTCONN, EIO: the mount is gone
            break
        time.sleep(0.05)
'''


def check_acknowledged(root, log_text):
    """Every acknowledged operation is visible; the one in flight may or may not be."""
    files, dirs, in_flight = {}, set(), None  # files: n -> (name, sha256)
    for line in log_text.splitlines():
        parts = line.split()
        if parts[0] == "intent":
            in_flight = (parts[1], int(parts[2]))
        elif parts[0] == "ack":
            kind, n = parts[1], int(parts[2])
            in_flight = None
            if kind == "create":
                files[n] = (f"f{n}", parts[3])
            elif kind == "mkdir":
                dirs.add(n)
            elif kind == "rename":
                files[n] = (f"g{n}", files[n][1])
            elif kind == "unlink":
                files.pop(n)
    for n in dirs:
        assert (root / f"d{n}").is_dir(), f"acknowledged mkdir d{n} lost"
    for n, (name, digest) in files.items():
        path = root / name
        if in_flight and in_flight[1] == n and not path.exists():
            continue  # the rename or unlink in flight happened
        assert path.exists(), f"acknowledged {name} lost"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, f"{name}: wrong content"
    return len(files) + len(dirs)


@pytest.mark.parametrize("victim", ["meta", "storage0", "storage1", "storage2", "mgmtd", "mount"])
def test_kill9_loses_nothing_acknowledged(dcluster, dwork, victim):
    dcluster.wait_healthy()
    log = pathlib.Path(tempfile.mkstemp(prefix="hf3fs-ack-")[1])
    stop = log.with_suffix(".stop")
    seed = random.randrange(1 << 30)
    w = subprocess.Popen(["/usr/bin/python3", "-c", WORKLOAD, str(dwork), str(log), str(stop),
                          str(seed)])
    try:
        time.sleep(3)
        assert w.poll() is None, "the workload stopped before the crash"
        os.kill(dcluster.pid(victim), signal.SIGKILL)
        if victim != "mount":
            time.sleep(3)  # the workload goes on against the remaining processes
        dcluster.restart(victim)
        if victim != "mount":
            time.sleep(2)
    finally:
        stop.touch()
        try:
            w.wait(timeout=120)
        except subprocess.TimeoutExpired:
            w.kill()
            w.wait()
    dcluster.wait_healthy()
    text = log.read_text()
    acked = text.count("\nack ") + text.startswith("ack ")
    assert acked >= 10, f"only {acked} operations were acknowledged:\n{text[-2000:]}"
    checked = check_acknowledged(dwork, text)
    assert checked > 0
    r = dcluster.admin("fsck", "--meta", dcluster.meta_address(), "--json", check=False)
    assert r.returncode == 0, f"fsck after kill -9 of {victim}: {r.stdout}\n{r.stderr}"
    log.unlink()
    stop.unlink()
