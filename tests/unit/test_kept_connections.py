"""Kept connections change what a call costs, never what its outcome is taken to mean."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from clusters import etcd_api
from clusters.etcd_api import MaybeApplied, NotApplied


class Gateway(http.server.ThreadingHTTPServer):
    """Answers every POST with ``status`` and ``{}`` over HTTP/1.1 keep-alive; counts and can cut its connections."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.status = 200
        self.accepted: list[socket.socket] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def cut(self) -> None:
        """Close every open connection from this side, as a member that exits does."""
        for conn in self.accepted:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.server.accepted.append(self.connection)  # type: ignore[attr-defined]

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        self.rfile.read(int(self.headers["Content-Length"]))
        body = b'{"code": 14, "message": "etcdserver: leader changed"}' if self.server.status != 200 else b"{}"  # type: ignore[attr-defined]
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    server = Gateway()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.cut()
        server.server_close()
        etcd_api.close_kept()


def test_calls_from_one_thread_to_one_member_share_a_connection(gateway):
    for _ in range(3):
        etcd_api.call(gateway.endpoint, "/v3/kv/range")
    assert len(gateway.accepted) == 1


def test_a_member_gone_since_the_last_call_is_refused_not_unknown(gateway):
    etcd_api.call(gateway.endpoint, "/v3/kv/range")
    endpoint = gateway.endpoint
    gateway.shutdown()
    gateway.server_close()  # nobody listens any more
    gateway.cut()  # and the kept connection is closed, as when the member's process exits
    with pytest.raises(NotApplied, match="nothing sent"):
        etcd_api.call(endpoint, "/v3/kv/put")


def test_a_kept_connection_the_member_closed_is_replaced_before_sending(gateway):
    etcd_api.call(gateway.endpoint, "/v3/kv/range")
    gateway.cut()
    assert etcd_api.call(gateway.endpoint, "/v3/kv/put") == {}
    assert len(gateway.accepted) == 2


def test_after_an_error_answer_the_next_call_connects_anew(gateway):
    gateway.status = 503
    with pytest.raises(MaybeApplied):
        etcd_api.call(gateway.endpoint, "/v3/kv/put")
    gateway.status = 200
    etcd_api.call(gateway.endpoint, "/v3/kv/put")
    assert len(gateway.accepted) == 2


def test_each_thread_keeps_its_own_connections(gateway):
    etcd_api.call(gateway.endpoint, "/v3/kv/range")
    other = threading.Thread(target=lambda: (etcd_api.call(gateway.endpoint, "/v3/kv/range"), etcd_api.close_kept()))
    other.start()
    other.join(5)
    assert len(gateway.accepted) == 2


def test_a_thread_keeps_a_bounded_number_of_connections(gateway, monkeypatch):
    monkeypatch.setattr(etcd_api, "KEPT_PER_THREAD", 1)
    second = Gateway()
    threading.Thread(target=second.serve_forever, daemon=True).start()
    try:
        etcd_api.call(gateway.endpoint, "/v3/kv/range")
        etcd_api.call(second.endpoint, "/v3/kv/range")  # the first member's connection is closed to make room
        etcd_api.call(gateway.endpoint, "/v3/kv/range")
        assert len(gateway.accepted) == 2
    finally:
        second.shutdown()
        second.cut()
        second.server_close()
