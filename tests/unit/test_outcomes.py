"""How a failed call is classified: provably not applied (``fail``) or maybe applied (``unknown``).

The answers are what etcd's JSON gateway sends (the 503 EOF one is verbatim
from a kept history where a put recorded as failed had taken effect); the
broken connections come from a small server on loopback that reads the
request and then misbehaves in one way each.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Callable, Iterator

import pytest

from clusters import etcd_api
from clusters.etcd_api import MaybeApplied, NotApplied, classify


def gateway_error(code: int, message: str) -> bytes:
    return json.dumps({"error": message, "code": code, "message": message}).encode()


@pytest.mark.parametrize(
    ("status", "payload", "kind"),
    [
        (503, gateway_error(14, "error reading from server: EOF"), MaybeApplied),
        (503, gateway_error(14, "etcdserver: leader changed"), MaybeApplied),
        (503, gateway_error(14, "etcdserver: no leader"), MaybeApplied),
        (504, gateway_error(4, "etcdserver: request timed out"), MaybeApplied),
        (500, gateway_error(2, "etcdserver: request timed out, possibly due to previous leader failure"), MaybeApplied),
        (500, gateway_error(13, "etcdserver: unexpected error"), MaybeApplied),
        (502, b"<html>bad gateway</html>", MaybeApplied),
        (503, b"", MaybeApplied),
        (503, gateway_error(14, "etcdserver: rpc not supported for learner"), NotApplied),
        (503, gateway_error(14, "etcdserver: not capable"), NotApplied),
        (400, gateway_error(3, "etcdserver: duplicate key given in txn request"), NotApplied),
        (400, gateway_error(11, "etcdserver: mvcc: required revision is a future revision"), NotApplied),
        (429, gateway_error(8, "etcdserver: too many requests"), NotApplied),
        (429, gateway_error(8, "etcdserver: mvcc: database space exceeded"), NotApplied),
        (401, gateway_error(16, "etcdserver: invalid auth token"), NotApplied),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else str(v)[:40] if isinstance(v, bytes) else str(v),
)
def test_gateway_answers(status, payload, kind):
    err = classify(status, payload, "http://10.0.0.1:2379/v3/kv/put")
    assert type(err) is kind
    assert f"HTTP {status}" in str(err)


@pytest.fixture
def misbehaving() -> Iterator[Callable[[Callable[[socket.socket], None]], str]]:
    """Start a one-connection server on loopback that reads a request and then runs ``act`` on the socket."""
    servers: list[tuple[socket.socket, threading.Thread]] = []

    def start(act: Callable[[socket.socket], None]) -> str:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(5)

        def serve() -> None:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                conn.recv(65536)  # the whole (small) request: it was sent
                act(conn)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        servers.append((listener, thread))
        return f"http://127.0.0.1:{listener.getsockname()[1]}"

    yield start
    for listener, thread in servers:
        listener.close()
        thread.join(timeout=5)


def close_silently(conn: socket.socket) -> None:
    conn.shutdown(socket.SHUT_RDWR)


def reset(conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def cut_short(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"header\":")


def answer_503_eof(conn: socket.socket) -> None:
    body = gateway_error(14, "error reading from server: EOF")
    conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))


@pytest.mark.parametrize(
    "act",
    [close_silently, reset, cut_short, answer_503_eof],
    ids=["closed-without-answer", "reset", "answer-cut-short", "503-eof"],
)
def test_a_sent_request_that_got_no_usable_answer_may_have_happened(misbehaving, act):
    with pytest.raises(MaybeApplied):
        etcd_api.put(misbehaving(act), "/k", "v", timeout=2.0)


def test_a_refused_connection_is_not_applied():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    with pytest.raises(NotApplied):
        etcd_api.put(f"http://127.0.0.1:{port}", "/k", "v", timeout=2.0)
