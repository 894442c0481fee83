"""Shared fixtures of the end-to-end suite: a whole local cluster with a FUSE mount.

The cluster (`hf3fs local up --detach`) lives in a fresh temporary directory for the whole pytest
session and is always stopped (`hf3fs local down`) at the end, also when a test fails. Tests that
need unprivileged callers use two throwaway users created here with useradd.
"""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("HF3FS_BIN") or str(REPO / "build" / "release" / "apps" / "hf3fs")

USER_A = "hf3fs-e2e-a"
USER_B = "hf3fs-e2e-b"
GROUP = "hf3fs-e2e-g"   # both users are members (supplementary)


def sh(*argv, check=True, timeout=120, **kw):
    return subprocess.run([str(a) for a in argv], check=check, timeout=timeout,
                          capture_output=True, text=True, **kw)


def drop_caches():
    """Drops the page cache, dentries and inodes, so the next reads come from the cluster."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


class Cluster:
    def __init__(self, dir_):
        self.dir = pathlib.Path(dir_)
        self.mount = self.dir / "mnt"
        self.bin = BIN

    # ---- the `hf3fs local` commands ----
    def up(self, extra=()):
        r = sh(self.bin, "local", "up", "--dir", self.dir, "--mount", self.mount, "--detach",
               *extra, check=False, timeout=180)
        if r.returncode != 0:
            raise RuntimeError(f"hf3fs local up failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")

    def down(self):
        return sh(self.bin, "local", "down", "--dir", self.dir, check=False, timeout=180)

    def restart(self, name):
        r = sh(self.bin, "local", "restart", "--dir", self.dir, "--name", name, check=False,
               timeout=120)
        assert r.returncode == 0, f"restart {name}: {r.stdout}\n{r.stderr}"

    def status(self):
        r = sh(self.bin, "local", "status", "--dir", self.dir, "--json")
        return json.loads(r.stdout)

    def procs(self):
        return {p["name"]: p for p in self.status()["processes"]}

    def pids(self):
        """{name: pid} of the running processes."""
        return {n: p["pid"] for n, p in self.procs().items() if p["state"] == "running"}

    def pid(self, name):
        return self.pids()[name]

    def mgmtd_address(self):
        return f"127.0.0.1:{self.procs()['mgmtd']['ports'][0]}"

    def meta_address(self):
        return f"127.0.0.1:{self.procs()['meta']['ports'][0]}"

    def admin(self, *args, timeout=60, check=True):
        # `hf3fs local up` turns authentication on: admin calls prove the cluster's admin key.
        env = {**os.environ, "HF3FS_KEY_FILE": str(self.dir / "keys" / "admin.key")}
        return sh(self.bin, "admin", *args, check=check, timeout=timeout, env=env)

    def list_targets(self):
        r = self.admin("list-targets", "--json", "--mgmtd", self.mgmtd_address())
        return json.loads(r.stdout)["targets"]

    def wait_healthy(self, timeout=120):
        """Waits until every target of a chain is SERVING and UPTODATE (resync finished)."""
        end = time.time() + timeout
        last = None
        while time.time() < end:
            try:
                ts = [t for t in self.list_targets() if t.get("chain_id", 0)]
                last = [(t.get("target_id"), t.get("public_state"), t.get("local_state"))
                        for t in ts]
                if ts and all(s[1] == "SERVING" and s[2] == "UPTODATE" for s in last):
                    return
            except (subprocess.SubprocessError, ValueError, KeyError):
                pass
            time.sleep(0.5)
        raise AssertionError(f"targets not healthy after {timeout}s: {last}")

    def log(self, name, tail=4000):
        try:
            return (self.dir / "logs" / f"{name}.log").read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def is_mounted(self):
        with open("/proc/self/mounts") as f:
            return any(line.split()[1] == str(self.mount) and line.split()[2].startswith("fuse")
                       for line in f)


def _print_warnings(d):
    """The last warnings and errors of every process's log, for a session with failures (the
    directory is removed afterwards, and CI keeps only what was printed)."""
    for log in sorted((pathlib.Path(d) / "logs").glob("*.log")):
        try:
            lines = [l for l in log.read_text(errors="replace").splitlines()
                     if " level=warn" in l or " level=error" in l]
        except OSError:
            continue
        if lines:
            print(f"--- {log.name}: last warnings and errors", file=sys.stderr)
            print("\n".join(lines[-30:]), file=sys.stderr)


@pytest.fixture(scope="session")
def cluster(request):
    assert os.path.exists(BIN), f"hf3fs binary not found at {BIN} (set HF3FS_BIN)"
    # ctest reports this as skipped (SKIP_REGULAR_EXPRESSION in tests/CMakeLists.txt).
    if os.geteuid() != 0 or not os.path.exists("/dev/fuse"):
        pytest.skip("hf3fs e2e needs root and /dev/fuse (it mounts, drops caches and adds users)")
    d = tempfile.mkdtemp(prefix="hf3fs-e2e-")
    os.chmod(d, 0o755)  # other users must reach the mount point
    c = Cluster(d)
    try:
        # HF3FS_E2E_META_STORE=postgres runs the suite with meta on PostgreSQL.
        c.up(["--meta-store", os.environ.get("HF3FS_E2E_META_STORE", "rocksdb")])
        yield c
    finally:
        if request.session.testsfailed:
            _print_warnings(d)
        r = c.down()
        if r.returncode != 0:
            print(f"hf3fs local down failed: {r.stdout}{r.stderr}", file=sys.stderr)
        if c.is_mounted():
            subprocess.run(["umount", "-l", str(c.mount)], check=False)
        if r.returncode == 0 and not os.environ.get("HF3FS_E2E_KEEP"):
            shutil.rmtree(d, ignore_errors=True)
        else:
            print(f"cluster directory kept: {d}", file=sys.stderr)


@pytest.fixture
def work(cluster, request):
    """A fresh world-writable directory on the mount for one test."""
    name = request.node.name.replace("/", "_").replace("[", "_").replace("]", "")[:100]
    p = cluster.mount / "t" / name
    if p.exists():
        shutil.rmtree(p)
    p.mkdir(parents=True)
    os.chmod(cluster.mount / "t", 0o777)
    os.chmod(p, 0o777)
    return p


def _ensure_users():
    if sh("getent", "group", GROUP, check=False).returncode != 0:
        sh("groupadd", GROUP, check=False)
    for u in (USER_A, USER_B):
        if sh("id", u, check=False).returncode != 0:
            r = sh("useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", "-G", GROUP, u,
                   check=False)
            # Another run may have created it in between.
            assert r.returncode == 0 or sh("id", u, check=False).returncode == 0, r.stderr
        else:
            sh("usermod", "-a", "-G", GROUP, u, check=False)


class Users:
    A = USER_A
    B = USER_B
    group = GROUP

    def __init__(self):
        import grp
        import pwd
        self.uid = {u: pwd.getpwnam(u).pw_uid for u in (USER_A, USER_B)}
        self.gid = {u: pwd.getpwnam(u).pw_gid for u in (USER_A, USER_B)}
        self.group_gid = grp.getgrnam(GROUP).gr_gid

    def run(self, user, argv, check=False, **kw):
        """Runs argv as `user` (its uid, primary gid and supplementary groups)."""
        return sh("setpriv", f"--reuid={user}", f"--regid={self.gid[user]}", "--init-groups",
                  *argv, check=check, **kw)

    def py(self, user, code, *args):
        """Runs Python code as `user`; returns the JSON object it prints last (or raises)."""
        r = self.run(user, ["/usr/bin/python3", "-c", code, *args])
        assert r.returncode == 0, f"as {user}: rc={r.returncode}\n{r.stdout}\n{r.stderr}"
        return json.loads(r.stdout.strip().splitlines()[-1])

    def errno_of(self, user, stmt):
        """Runs one Python statement (os imported) as `user`: 0 on success, else its errno."""
        code = ("import os, json, sys\n"
                "try:\n"
                f"    {stmt}\n"
                "    print(json.dumps(0))\n"
                "except OSError as e:\n"
                "    print(json.dumps(e.errno))\n")
        return self.py(user, code)


@pytest.fixture(scope="session")
def users():
    _ensure_users()
    return Users()
