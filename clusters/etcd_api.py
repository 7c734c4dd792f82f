"""A minimal etcd v3 client over etcd's JSON gateway (``/v3/...``).

The gateway is part of etcd's v3 API on 3.4 and 3.5 alike, needs no generated
protobuf code and gives each call an exact timeout, which a chaos harness needs
more than throughput: a call that hangs during a partition must come back as
"unknown" on time. Every call goes to one member; callers choose which.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


class EtcdError(Exception):
    """The member answered with an error, or could not be reached."""


class EtcdTimeout(EtcdError):
    """No answer in time: the operation may or may not have taken effect."""


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def call(endpoint: str, path: str, body: dict[str, Any] | None = None, timeout: float = 1.0) -> dict[str, Any]:
    """POST ``body`` to ``endpoint + path`` and return the decoded answer."""
    data = json.dumps(body or {}).encode()
    request = urllib.request.Request(endpoint + path, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        detail = err.read().decode(errors="replace")[:300]
        raise EtcdError(f"{endpoint}{path}: HTTP {err.code} {detail}") from None
    except TimeoutError:
        raise EtcdTimeout(f"{endpoint}{path}: no answer in {timeout}s") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            raise EtcdTimeout(f"{endpoint}{path}: no answer in {timeout}s") from None
        raise EtcdError(f"{endpoint}{path}: {reason}") from None


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
    )


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
                    raise EtcdTimeout(f"{endpoint}/v3/watch: history up to revision {target} not read in {timeout}s")
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
