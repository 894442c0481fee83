"""A hostile client against a default `hf3fs local up` cluster (docs/design/0011-authentication.md):
raw frames on every server's RPC port, without a key, with a wrong key, and with the client key
calling what only servers or admins may. Each is refused with its own status, nothing changes
(checked through the mount and the processes), and every server keeps serving."""
import hashlib
import hmac
import os
import socket
import struct
import time

import pytest

# ---- the wire format (docs/formats/rpc.md), written from the spec ----

_CRC_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC_TABLE.append(_c)


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = _CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def pb(*fields):
    """Encodes (number, value) pairs: ints as varints, bytes/str as length-delimited."""
    out = b""
    for num, val in fields:
        if isinstance(val, int):
            out += varint(num << 3) + varint(val)
        else:
            val = val.encode() if isinstance(val, str) else val
            out += varint(num << 3 | 2) + varint(len(val)) + val
    return out


def pb_decode(data):
    fields, i = {}, 0
    while i < len(data):
        key, i = _read_varint(data, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, i = _read_varint(data, i)
        elif wt == 2:
            n, i = _read_varint(data, i)
            val, i = data[i:i + n], i + n
        else:
            raise ValueError(f"wire type {wt}")
        fields[num] = val
    return fields


def _read_varint(data, i):
    n, shift = 0, 0
    while True:
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


SERVICE_CORE, SERVICE_MGMTD, SERVICE_META, SERVICE_STORAGE, SERVICE_AUTH = 1, 2, 3, 4, 5
CORE_ECHO, CORE_HOT_UPDATE_CONFIG, CORE_SET_LOG_LEVEL, CORE_SHUTDOWN = 1, 3, 4, 5
MGMTD_HEARTBEAT, MGMTD_SET_CONFIG = 8, 18
META_STAT, META_SET_QUOTA, META_FSCK = 1, 26, 22
STORAGE_UPDATE, STORAGE_REMOVE_CHUNKS = 1, 4
# Status codes (src/common/status_codes.h).
kOk, kRpcAuthRequired, kRpcAuthFailed, kRpcAuthDenied = 0, 1012, 1013, 1014


def frame(service, method, body=b"", request_id=1, response=False):
    env = pb((1, request_id), (2, service), (3, method), *([(4, 1)] if response else []),
             (5, 10_000_000))
    msg = env + body
    head = struct.pack("<IBBHII I", 0x53463348, 1, 0, len(env), len(msg), 0, 0)
    return head + struct.pack("<I", crc32c(msg, crc32c(head))) + msg


class Peer:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def close(self):
        self.sock.close()

    def _fill(self, n):
        while len(self.buf) < n:
            got = self.sock.recv(65536)
            if not got:
                raise ConnectionError("closed by the server")
            self.buf += got

    def read(self):
        """One frame: (envelope fields, body)."""
        self._fill(24)
        _, _, _, env_len, msg_len, att_len, _, _ = struct.unpack("<IBBHIIII", self.buf[:24])
        self._fill(24 + msg_len + att_len)
        msg = self.buf[24:24 + msg_len]
        self.buf = self.buf[24 + msg_len + att_len:]
        return pb_decode(msg[:env_len]), msg[env_len:]

    def call(self, service, method, body=b"", request_id=1):
        self.sock.sendall(frame(service, method, body, request_id))
        env, rsp = self.read()
        return env.get(7, 0), env.get(8, b"").decode(errors="replace"), rsp

    def closed_by_server(self):
        try:
            self.sock.settimeout(5)
            while True:
                if not self.sock.recv(65536):
                    return True
        except (ConnectionError, OSError):
            return True


def key_of(path):
    for line in open(path):
        words = line.split("#")[0].split()
        if words and words[0] == "secret":
            return {"server": 1, "client": 2, "admin": 3}[words[1]], bytes.fromhex(words[2])
    raise AssertionError(f"no secret in {path}")


def handshake(peer, role, secret):
    """The client side of the handshake; returns the status code of the step that ended it."""
    cnonce = os.urandom(32)
    peer.sock.sendall(frame(SERVICE_AUTH, 1, pb((1, 1), (2, role), (3, cnonce)), request_id=0))
    env, body = peer.read()
    if env.get(7, 0):
        return env[7]
    snonce = pb_decode(body)[1]
    message = b"hf3fs-auth-v1" + bytes([role]) + cnonce + snonce
    client_key = hmac.new(secret, b"hf3fs client key", hashlib.sha256).digest()
    stored = hashlib.sha256(client_key).digest()
    sig = hmac.new(stored, message, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, sig))
    peer.sock.sendall(frame(SERVICE_AUTH, 3, pb((1, proof)), request_id=0))
    env, body = peer.read()
    if env.get(7, 0):
        return env[7]
    server_key = hmac.new(secret, b"hf3fs server key", hashlib.sha256).digest()
    want = hmac.new(server_key, message, hashlib.sha256).digest()
    assert pb_decode(body)[1] == want, "the server's signature does not check"
    return kOk


# ---- the tests ----

@pytest.fixture
def ports(cluster):
    procs = cluster.procs()
    return {name: p["ports"][0] for name, p in procs.items()
            if p.get("ports") and name in ("mgmtd", "meta", "storage0", "storage1", "storage2")}


def sentinel(work):
    """A file whose bytes must survive every hostile call."""
    data = os.urandom(300_000)
    (work / "sentinel").write_bytes(data)
    return data


def still_intact(cluster, work, data, pids):
    from conftest import drop_caches
    drop_caches()
    assert (work / "sentinel").read_bytes() == data
    assert cluster.pids() == pids, "a server stopped or restarted"


def test_without_a_key_every_server_refuses_everything(cluster, work, ports):
    cluster.wait_healthy()
    data, pids = sentinel(work), cluster.pids()
    assert len(ports) == 5, ports
    calls = [(SERVICE_CORE, CORE_SHUTDOWN, b""),
             (SERVICE_CORE, CORE_HOT_UPDATE_CONFIG, pb((2, "rpc.auth_timeout"), (3, "1h"))),
             (SERVICE_CORE, CORE_ECHO, pb((1, "hi"))),
             (SERVICE_MGMTD, MGMTD_HEARTBEAT, pb((1, 1), (3, 1 << 62))),
             (SERVICE_META, META_STAT, b""),
             (SERVICE_STORAGE, STORAGE_REMOVE_CHUNKS, b"")]
    for name, port in ports.items():
        for service, method, body in calls:
            p = Peer(port)
            code, text, _ = p.call(service, method, body)
            assert code == kRpcAuthRequired, (name, service, method, code, text)
            assert "requires authentication" in text
            assert p.closed_by_server(), (name, "the connection stays open without a key")
            p.close()
    still_intact(cluster, work, data, pids)


def test_a_wrong_key_or_an_unknown_role_fails_the_handshake(cluster, work, ports):
    data, pids = sentinel(work), cluster.pids()
    for name, port in ports.items():
        for role, secret in [(3, os.urandom(32)), (2, os.urandom(32)), (1, os.urandom(32)),
                             (7, os.urandom(32))]:
            p = Peer(port)
            assert handshake(p, role, secret) == kRpcAuthFailed, (name, role)
            assert p.closed_by_server()
            p.close()
    still_intact(cluster, work, data, pids)


def test_the_client_key_cannot_act_as_a_server_or_an_admin(cluster, work, ports):
    cluster.wait_healthy()
    data, pids = sentinel(work), cluster.pids()
    role, secret = key_of(cluster.dir / "keys" / "client.key")
    chunk = bytes(16)
    denied = {
        "core": [(SERVICE_CORE, CORE_SHUTDOWN, b""),
                 (SERVICE_CORE, CORE_SET_LOG_LEVEL, pb((1, "off"))),
                 (SERVICE_CORE, CORE_HOT_UPDATE_CONFIG, pb((2, "rpc.auth_timeout"), (3, "1h")))],
        "mgmtd": [(SERVICE_MGMTD, MGMTD_HEARTBEAT, pb((1, 1), (3, 1 << 62))),
                  (SERVICE_MGMTD, MGMTD_SET_CONFIG, b"")],
        "meta": [(SERVICE_META, META_SET_QUOTA, b""), (SERVICE_META, META_FSCK, b"")],
        "storage": [(SERVICE_STORAGE, STORAGE_REMOVE_CHUNKS, b""),
                    # A chain forward naming a predecessor target (a REMOVE: no payload).
                    (SERVICE_STORAGE, STORAGE_UPDATE,
                     pb((1, 1), (3, chunk), (5, 2), (12, 1), (13, 5)))],
    }
    for name, port in ports.items():
        p = Peer(port)
        assert handshake(p, role, secret) == kOk, name
        rid = 10
        kind = "storage" if name.startswith("storage") else name
        for service, method, body in denied["core"] + denied[kind]:
            rid += 1
            code, text, _ = p.call(service, method, body, request_id=rid)
            assert code == kRpcAuthDenied, (name, service, method, code, text)
        # The connection keeps serving what a client may do.
        code, text, rsp = p.call(SERVICE_CORE, CORE_ECHO, pb((1, "still here")), request_id=99)
        assert code == kOk and b"still here" in rsp, (name, code, text)
        p.close()
    still_intact(cluster, work, data, pids)


def test_the_admin_key_is_obeyed(cluster, work, ports):
    """The same call that was refused above goes through with the admin key (so the refusals
    were the roles, not a broken request)."""
    role, secret = key_of(cluster.dir / "keys" / "admin.key")
    p = Peer(ports["meta"])
    assert handshake(p, role, secret) == kOk
    code, text, rsp = p.call(SERVICE_CORE, CORE_SET_LOG_LEVEL, pb((1, "info")))
    assert code == kOk, text
    p.close()


def test_key_files_are_private(cluster):
    for name in ("server.keyring", "client.key", "admin.key"):
        mode = os.stat(cluster.dir / "keys" / name).st_mode & 0o777
        assert mode == 0o600, (name, oct(mode))
    # No process carries a key on its command line.
    for pid in cluster.pids().values():
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
        for line in open(cluster.dir / "keys" / "server.keyring"):
            words = line.split()
            if words and words[0] == "secret":
                assert not any(words[2].encode() in a for a in argv)
