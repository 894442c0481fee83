"""Crashes during I/O: a storage node and the meta server are killed with SIGKILL while clients
work through the mount; the work completes, and the cluster heals once the process is back."""
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import REPO, drop_caches

MiB = 1 << 20


def fio_args(directory, *extra):
    return ["fio", "--name=crash", f"--directory={directory}", "--ioengine=psync",
            "--verify=crc32c", "--do_verify=1", "--verify_state_save=0", "--verify_fatal=1", "--verify_dump=0",
            "--output-format=json", *extra]


def check_fio(r):
    assert r.returncode == 0, f"fio failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    report = json.loads(r.stdout[r.stdout.index("{"):])
    for job in report["jobs"]:
        assert job["error"] == 0, job
        assert job["read"]["io_bytes"] >= job["write"]["io_bytes"] > 0, job


@pytest.mark.skipif(shutil.which("fio") is None, reason="fio is not installed")
def test_kill_storage_during_fio_verify(cluster, work):
    cluster.wait_healthy()
    victim = "storage1"
    pid = cluster.pid(victim)
    # Size-based (not time_based): 4 jobs x 96 MiB of 1 MiB direct writes, each job limited to
    # 4 MiB/s so the write phase lasts ~24 s whatever the machine's speed, then the verify pass.
    job = ["--rw=write", "--bs=1m", "--size=96m", "--numjobs=4", "--direct=1"]
    argv = fio_args(work, *job, "--rate=4m")
    # Beside fio, a USRBIO reader loops over a file written before the crash.
    sys.path.insert(0, str(REPO / "python"))
    import hf3fs_usrbio as usrbio
    data = os.urandom(8 * MiB)
    with open(work / "usrbio-src", "wb") as f:
        f.write(data)
    reads, failures, stop = [], [], threading.Event()

    def reader():
        while not stop.is_set():
            try:
                ok = usrbio.read_file(str(work / "usrbio-src"), block_size=MiB, io_depth=8) == data
                reads.append((time.time(), ok))
            except OSError as e:
                failures.append(e)

    reader_thread = threading.Thread(target=reader, daemon=True)
    fio = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reader_thread.start()
    try:
        time.sleep(6)
        assert fio.poll() is None, "fio finished before the crash: make the job larger"
        killed_at = time.time()
        os.kill(pid, signal.SIGKILL)
        out, err = fio.communicate(timeout=300)
    finally:
        stop.set()
        reader_thread.join(120)
        if fio.poll() is None:
            fio.kill()
            fio.wait()
    check_fio(subprocess.CompletedProcess(argv, fio.returncode, out, err))
    assert not failures, failures[:3]
    assert all(ok for _, ok in reads), "a USRBIO read returned wrong data"
    assert any(t > killed_at + 1 for t, _ in reads), "no USRBIO read completed after the crash"
    assert victim not in cluster.pids()
    # The chains lost a replica: bring the node back and wait for it to catch up (resync).
    cluster.restart(victim)
    assert cluster.pid(victim) != pid
    cluster.wait_healthy(timeout=180)
    # The data reads back intact from the cluster (every replica serving again).
    drop_caches()
    r = subprocess.run(fio_args(work, *job, "--verify_only=1"),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


class MetaLoad(threading.Thread):
    """create + write, rename, stat, unlink in a loop; records every failure and progress times."""

    def __init__(self, directory):
        super().__init__(daemon=True)
        self.dir = directory
        self.stop = threading.Event()
        self.errors = []
        self.done = 0
        self.stamps = []  # (time, ops done)

    def run(self):
        i = 0
        while not self.stop.is_set():
            a, b = self.dir / f"f{i}", self.dir / f"g{i}"
            try:
                with open(a, "wb") as f:
                    f.write(b"%d" % i)
                os.rename(a, b)
                assert os.stat(b).st_size == len(b"%d" % i)
                with open(b, "rb") as f:
                    assert f.read() == b"%d" % i
                if i % 3:
                    os.unlink(b)
                os.mkdir(self.dir / f"d{i}")
                os.rmdir(self.dir / f"d{i}")
            except (OSError, AssertionError) as e:
                self.errors.append((i, repr(e)))
                if len(self.errors) > 20:
                    return
            i += 1
            self.done = i
            self.stamps.append((time.time(), i))


def test_kill_meta_during_metadata_load(cluster, work):
    load = MetaLoad(work)
    load.start()
    try:
        time.sleep(2)
        before = load.done
        assert before > 0, "no progress before the crash"
        pid = cluster.pid("meta")
        os.kill(pid, signal.SIGKILL)
        killed_at = time.time()
        time.sleep(1)
        cluster.restart("meta")
        assert cluster.pid("meta") != pid
        # The loop resumes on its own: the client retries against the restarted server.
        deadline = time.time() + 60
        while time.time() < deadline and load.done < before + 50:
            time.sleep(0.2)
        stalled = max((t for t, _ in load.stamps if t > killed_at), default=None)
        assert load.done >= before + 50, f"no progress after the restart ({load.done} ops)"
    finally:
        load.stop.set()
        load.join(60)
    assert not load.errors, f"operations failed across the meta crash: {load.errors[:5]}"
    assert stalled is not None
    # Every name left is there exactly as the loop left it.
    names = set(os.listdir(work))
    expect = {f"g{i}" for i in range(load.done) if i % 3 == 0}
    assert names == expect, (sorted(names - expect)[:10], sorted(expect - names)[:10])
    drop_caches()
    r = cluster.admin("fsck", "--meta", cluster.meta_address(), "--json", check=False)
    assert r.returncode == 0, f"fsck found problems ({r.returncode}):\n{r.stdout}\n{r.stderr}"


def test_read_waits_for_a_buffered_write_being_flushed(cluster, work):
    """A small write is answered from the mount's write buffer; the flush timer (1 s) then hands
    the bytes to storage. While a stopped replica holds that flush up, a read must wait for it:
    reading the chain then would return the bytes from before the write (they are no longer in
    the buffer, and not yet acknowledged by storage)."""
    cluster.wait_healthy()
    victim = cluster.pid("storage1")  # every chain has a replica there (3 nodes, 3 replicas)
    paths = [work / f"f{i}" for i in range(6)]
    for p in paths:
        p.write_bytes(bytes(64 << 10))
    fds = [os.open(p, os.O_RDWR) for p in paths]
    got, errors = {}, []

    def read(p):
        try:
            # A fresh open drops the kernel's cached pages of the file: the read reaches the mount.
            with open(p, "rb") as f:
                got[p] = os.pread(f.fileno(), 3, 4096)
        except OSError as e:
            errors.append((p, e))

    readers = [threading.Thread(target=read, args=(p,), daemon=True) for p in paths]
    try:
        for fd in fds:
            assert os.pwrite(fd, b"new", 4096) == 3  # buffered: answered at once
        os.kill(victim, signal.SIGSTOP)
        time.sleep(2.5)  # the timer's flushes have started and wait on the stopped replica
        for t in readers:
            t.start()
        # Each read goes to a replica picked at random: one that is not stopped answers at once,
        # with the old bytes unless the read waited for the flush.
        time.sleep(2)
    finally:
        os.kill(victim, signal.SIGCONT)
        for t in readers:
            if t.ident:
                t.join(60)
        for fd in fds:
            os.close(fd)
    assert not errors, errors
    assert got == {p: b"new" for p in paths}
