"""A minimal etcd v3 client over etcd's JSON gateway (``/v3/...``).

The gateway is part of etcd's v3 API on 3.4 and 3.5 alike, needs no generated
protobuf code and gives each call an exact timeout, which a chaos harness needs
more than throughput: a call that hangs during a partition must come back as
"unknown" on time. Every call goes to one member; callers choose which.

What a failed call means decides the verdict, so errors come in two kinds
(Jepsen's ``:fail`` and ``:info``, etcd robustness' failed and unknown
requests):

- ``NotApplied``: the call provably had no effect. Either nothing was sent
  (the connection was refused, the name did not resolve, the TCP handshake
  did not complete), or etcd answered with an error it returns before it
  proposes anything to raft (``NOT_APPLIED_CODES`` and
  ``NOT_APPLIED_MESSAGES`` below, with where etcd raises them).
- ``MaybeApplied``: the request may have reached etcd and been committed: a
  time-out after sending, a reset or a connection closed without an answer,
  an unreadable answer, and every other error etcd returns, in particular
  gRPC Unavailable (HTTP 503: "error reading from server: EOF" when the
  member behind the gateway died mid-call, "leader changed"), DeadlineExceeded
  ("request timed out") and Unknown/Internal.

When in doubt the call is ``MaybeApplied``: a checker treats that as "may or
may not have happened", which can never make a correct cluster look wrong.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import select
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


class EtcdError(Exception):
    """The call got no answer it could use; a subclass says whether it may have taken effect."""


class NotApplied(EtcdError):
    """The call provably had no effect: not sent, or refused by etcd before it proposed anything."""


class MaybeApplied(EtcdError):
    """The call may or may not have taken effect (time-out, reset, EOF, Unavailable ...)."""


NOT_APPLIED_CODES = {
    3: "InvalidArgument",  # request validation (empty key, duplicate key in a txn, request too large, ...)
    5: "NotFound",  # lease or member not found, checked before proposing
    7: "PermissionDenied",  # auth, checked before proposing
    8: "ResourceExhausted",  # "too many requests" (apply lags commit) and NOSPACE quota: both before propose
    9: "FailedPrecondition",
    11: "OutOfRange",  # compacted or future revision: reads only
    12: "Unimplemented",
    16: "Unauthenticated",
}
"""gRPC codes etcd answers only before a request reaches raft (etcd api/v3rpc/rpctypes/error.go)."""

NOT_APPLIED_MESSAGES = (
    # Unavailable, but raised by the unary interceptor before the handler runs
    # (etcdserver/api/v3rpc/interceptor.go): a learner serves no KV writes or
    # linearizable reads, and a member still starting serves no v3 RPC at all.
    "etcdserver: rpc not supported for learner",
    "etcdserver: not capable",
)
"""Messages of otherwise indeterminate codes that etcd raises before proposing."""


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def classify(status: int, payload: bytes, where: str) -> EtcdError:
    """The error an HTTP answer other than 200 stands for, by the gRPC status the gateway carries."""
    detail = payload.decode(errors="replace")[:300]
    try:
        answer = json.loads(payload)
        code, message = int(answer.get("code")), str(answer.get("message") or answer.get("error") or "")
    except (ValueError, TypeError, AttributeError):
        return MaybeApplied(f"{where}: HTTP {status} {detail}")  # no gRPC status: nothing tells it was refused
    if code in NOT_APPLIED_CODES or any(m in message for m in NOT_APPLIED_MESSAGES):
        return NotApplied(f"{where}: HTTP {status} {detail}")
    return MaybeApplied(f"{where}: HTTP {status} {detail}")


_HTTP_ERROR = re.compile(r": HTTP (\d{3}) (.*)$", re.DOTALL)
_NOT_SENT = ("(nothing sent)", "Connection refused", "Name or service not known", "Temporary failure in name resolution")


def applied_maybe(error: str) -> bool:
    """Whether the call that failed with message ``error`` may have taken effect, by the rule above.

    For histories recorded before the rule: their failed calls kept the
    message, so they can be judged again by what it says. Only a refused
    connection or an error etcd raises before proposing counts as not applied.
    """
    answer = _HTTP_ERROR.search(error)
    if answer:
        return isinstance(classify(int(answer.group(1)), answer.group(2).encode(), ""), MaybeApplied)
    return not any(marker in error for marker in _NOT_SENT)


KEPT_PER_THREAD = 16  # connections one thread keeps open (a scenario's members, and those of rebuilt pods)


class _Kept(threading.local):
    """Each thread's open connections by (host, port), oldest first: a client calls from one thread at a time."""

    def __init__(self) -> None:
        self.connections: OrderedDict[tuple[str, int], http.client.HTTPConnection] = OrderedDict()


_kept = _Kept()


def _closed_by_peer(connection: http.client.HTTPConnection) -> bool:
    """Whether the server closed or reset a kept connection: between calls it sends nothing, so anything readable is that."""
    poller = select.poll()
    poller.register(connection.sock, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def _connect(host: str, port: int, timeout: float, where: str) -> tuple[http.client.HTTPConnection, bool]:
    """This thread's kept connection to ``host:port`` when the server still holds it (True), else a new one.

    Connecting is a separate step so that a failure there, before a byte of
    the request left, is told apart from one after it.
    """
    kept = _kept.connections.pop((host, port), None)
    if kept is not None and kept.sock is not None and not _closed_by_peer(kept):
        return kept, True
    if kept is not None:
        kept.close()
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.connect()
    except TimeoutError:
        raise NotApplied(f"{where}: not connected in {timeout}s (nothing sent)") from None
    except OSError as err:  # refused, unreachable, name not resolved (socket.gaierror)
        raise NotApplied(f"{where}: {err} (nothing sent)") from None
    return connection, False


def _keep(host: str, port: int, connection: http.client.HTTPConnection) -> None:
    _kept.connections[(host, port)] = connection
    while len(_kept.connections) > KEPT_PER_THREAD:
        _kept.connections.popitem(last=False)[1].close()


def close_kept() -> None:
    """Close this thread's kept connections (a client's, when it stops)."""
    while _kept.connections:
        _kept.connections.popitem()[1].close()


def call(endpoint: str, path: str, body: dict[str, Any] | None = None, timeout: float = 1.0) -> dict[str, Any]:
    """POST ``body`` to ``endpoint + path`` and return the decoded answer.

    The connection is kept open for the thread's next call to the same
    member (half the cost of a call is a new connection), unless anything
    went wrong: then the next call connects anew, so that a member that is
    gone is again told by a refused connection, "not applied", rather than by
    a request on a dead connection, "unknown". A kept connection the server
    closed is seen before anything is sent on it and replaced.
    """
    where = endpoint + path
    url = urlsplit(endpoint)
    host, port = url.hostname or "", url.port or 80
    deadline = time.monotonic() + timeout
    connection, kept = _connect(host, port, timeout, where)
    sent_on = "a kept connection" if kept else "a new connection"
    try:
        connection.sock.settimeout(max(0.001, deadline - time.monotonic()))
        connection.request("POST", path, json.dumps(body or {}).encode(), {"Content-Type": "application/json"})
        response = connection.getresponse()
        payload = response.read()
    except TimeoutError:
        connection.close()
        raise MaybeApplied(f"{where}: no answer in {timeout}s") from None
    except (OSError, http.client.HTTPException) as err:  # reset, closed without an answer, cut short
        connection.close()
        raise MaybeApplied(f"{where}: {type(err).__name__}: {err} (sent on {sent_on}, no answer)") from None
    if response.status != 200 or response.will_close:
        connection.close()
    else:
        _keep(host, port, connection)
    if response.status != 200:
        raise classify(response.status, payload, where)
    try:
        return json.loads(payload or b"{}")
    except ValueError:
        raise MaybeApplied(f"{where}: unreadable answer {payload[:100]!r}") from None


@dataclass(frozen=True)
class Member:
    id: str
    name: str
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]
    is_learner: bool


@dataclass(frozen=True)
class Status:
    member_id: str
    cluster_id: str
    leader: str
    raft_term: int
    raft_index: int
    revision: int
    is_learner: bool
    version: str
    storage_version: str = ""  # the data's format (3.6 on): what a downgrade must bring down before binaries change


def status(endpoint: str, timeout: float = 1.0) -> Status:
    raw = call(endpoint, "/v3/maintenance/status", timeout=timeout)
    header = raw.get("header", {})
    return Status(
        member_id=str(header.get("member_id", "")),
        cluster_id=str(header.get("cluster_id", "")),
        leader=str(raw.get("leader", "0")),
        raft_term=int(raw.get("raftTerm", 0)),
        raft_index=int(raw.get("raftIndex", 0)),
        revision=int(header.get("revision", 0)),
        is_learner=bool(raw.get("isLearner", False)),
        version=str(raw.get("version", "")),
        storage_version=str(raw.get("storageVersion", "")),
    )


def downgrade(endpoint: str, action: str, version: str, timeout: float = 5.0) -> str:
    """etcd's downgrade call (``etcdctl downgrade validate|enable|cancel``), 3.6 on; the cluster version it answers."""
    raw = call(endpoint, "/v3/maintenance/downgrade", {"action": action, "version": version}, timeout=timeout)
    return str(raw.get("version", ""))


def member_list(endpoint: str, timeout: float = 1.0) -> list[Member]:
    raw = call(endpoint, "/v3/cluster/member/list", timeout=timeout)
    return [
        Member(
            id=str(m.get("ID", "")),
            name=m.get("name", ""),
            peer_urls=tuple(m.get("peerURLs", [])),
            client_urls=tuple(m.get("clientURLs", [])),
            is_learner=bool(m.get("isLearner", False)),
        )
        for m in raw.get("members", [])
    ]


def put(endpoint: str, key: str, value: str, timeout: float = 1.0) -> int:
    """Write ``key``; return the revision etcd acknowledged it at."""
    raw = call(endpoint, "/v3/kv/put", {"key": _b64(key), "value": _b64(value)}, timeout=timeout)
    return int(raw.get("header", {}).get("revision", 0))


def get(endpoint: str, key: str, timeout: float = 1.0) -> str | None:
    """The key's value through raft (None: absent)."""
    return read(endpoint, key, timeout=timeout).value


@dataclass(frozen=True)
class Read:
    value: str | None  # None: the key is absent
    revision: int  # the store's revision the read saw
    mod_revision: int  # the revision that last wrote the key (0 when absent)


def read(endpoint: str, key: str, *, serializable: bool = False, revision: int = 0, timeout: float = 1.0) -> Read:
    """Range one key: through raft (linearizable) unless ``serializable``; at ``revision`` when given."""
    body: dict[str, Any] = {"key": _b64(key), "serializable": serializable}
    if revision:
        body["revision"] = revision
    raw = call(endpoint, "/v3/kv/range", body, timeout=timeout)
    kvs = raw.get("kvs") or []
    header = int(raw.get("header", {}).get("revision", 0))
    if not kvs:
        return Read(None, header, 0)
    return Read(base64.b64decode(kvs[0].get("value", "")).decode(), header, int(kvs[0].get("mod_revision", 0)))


def compare_and_set(endpoint: str, key: str, expect: str | None, value: str, timeout: float = 1.0) -> tuple[bool, int]:
    """Put ``value`` if ``key`` holds ``expect`` (None: absent), in one transaction; (succeeded, revision)."""
    if expect is None:
        compare = {"key": _b64(key), "target": "VERSION", "result": "EQUAL", "version": "0"}
    else:
        compare = {"key": _b64(key), "target": "VALUE", "result": "EQUAL", "value": _b64(expect)}
    body = {"compare": [compare], "success": [{"request_put": {"key": _b64(key), "value": _b64(value)}}]}
    raw = call(endpoint, "/v3/kv/txn", body, timeout=timeout)
    return bool(raw.get("succeeded", False)), int(raw.get("header", {}).get("revision", 0))


@dataclass(frozen=True)
class Change:
    """One revision of the key space as a member's own store holds it."""

    revision: int
    key: str
    value: str | None  # None: the key was deleted


@dataclass(frozen=True)
class KeyHistory:
    """Everything a member's store has applied, from revision 1 up to ``revision``."""

    cluster_id: str
    member_id: str
    revision: int
    changes: tuple[Change, ...]


def key_history(endpoint: str, timeout: float = 10.0) -> KeyHistory:
    """Every change this member applied, read by a watch from revision 1 over the whole key space.

    A watch is served by the member alone from its own MVCC store, so this is
    what that member holds, not what the leader holds: a member that lost its
    data or joined another cluster shows it here. Nothing is compacted in a
    scenario (no strategy sets auto-compaction); a compacted store is an error.
    """
    whole = _b64("\0")
    body = {"create_request": {"key": whole, "range_end": whole, "start_revision": 1}}
    request = urllib.request.Request(
        endpoint + "/v3/watch", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    deadline = time.monotonic() + timeout
    changes: list[Change] = []
    try:
        with urllib.request.urlopen(request, timeout=timeout) as stream:
            created = json.loads(stream.readline() or b"{}").get("result", {})
            header = created.get("header", {})
            target = int(header.get("revision", 0))
            while (not changes or changes[-1].revision < target) and target > 1:
                if time.monotonic() > deadline:
                    raise EtcdError(f"{endpoint}/v3/watch: history up to revision {target} not read in {timeout}s")
                line = stream.readline()
                if not line:
                    raise EtcdError(f"{endpoint}/v3/watch: the stream ended before revision {target}")
                result = json.loads(line).get("result", {})
                if "compact_revision" in result and int(result["compact_revision"]) > 1:
                    raise EtcdError(f"{endpoint}/v3/watch: compacted up to {result['compact_revision']}")
                for event in result.get("events", []):
                    kv = event["kv"]
                    value = None if event.get("type") == "DELETE" else base64.b64decode(kv.get("value", "")).decode()
                    changes.append(Change(int(kv["mod_revision"]), base64.b64decode(kv["key"]).decode(), value))
    except (TimeoutError, urllib.error.URLError, OSError, ValueError) as err:
        raise EtcdError(f"{endpoint}/v3/watch: {getattr(err, 'reason', err)}") from None
    return KeyHistory(str(header.get("cluster_id", "")), str(header.get("member_id", "")), target, tuple(changes))
