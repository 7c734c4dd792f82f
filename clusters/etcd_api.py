"""A minimal etcd v3 client over etcd's JSON gateway (``/v3/...``).

The gateway is part of etcd's v3 API on 3.4 and 3.5 alike, needs no generated
protobuf code and gives each call an exact timeout, which a chaos harness needs
more than throughput: a call that hangs during a partition must come back as
"unknown" on time. Every call goes to one member; callers choose which.
"""

from __future__ import annotations

import base64
import json
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
    raw = call(endpoint, "/v3/kv/range", {"key": _b64(key)}, timeout=timeout)
    kvs = raw.get("kvs") or []
    return base64.b64decode(kvs[0].get("value", "")).decode() if kvs else None
