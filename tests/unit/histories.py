"""Hand-made histories for the checker tests: operations, members' stores, and a History around them.

Times are given in seconds after ``START``. ``endpoint(i)`` is the address
conftest's ``member_views`` gives pod ``etcd-<i>``, so operations and
snapshots built by both agree on who answered.
"""

from __future__ import annotations

from clusters.etcd_api import Change
from clusters.observe import Store
from harness.history import History, Operation

START, END = 100.0, 130.0


def endpoint(member: int) -> str:
    return f"http://10.0.0.{member + 1}:2379"


def operation(
    client: str,
    kind: str,
    key: str,
    value: str | None,
    at: float,
    *,
    outcome: str | None = "ok",
    revision: int | None = None,
    member: int = 0,
    took: float = 0.1,
    **kw,
) -> Operation:
    """Called at ``START + at`` on etcd-<member>, answered ``took`` seconds later (never, without an outcome)."""
    complete = None if outcome is None else START + at + took
    return Operation(client, kind, key, value, endpoint(member), START + at, complete, outcome, revision, **kw)


def put(client: str, key: str, value: str, at: float, **kw) -> Operation:
    return operation(client, "put", key, value, at, **kw)


def get(client: str, key: str, value: str | None, at: float, **kw) -> Operation:
    return operation(client, "get", key, value, at, **kw)


def cas(client: str, key: str, expect: str | None, value: str, at: float, succeeded: bool, **kw) -> Operation:
    return operation(client, "cas", key, value, at, expect=expect, succeeded=succeeded, **kw)


def store(
    pod: str, *changes: tuple[int, str, str | None], revision: int | None = None, cluster_id: str = "c1"
) -> Store:
    """``pod``'s store holding ``changes`` as (revision, key, value or None for a delete).

    Its revision is the last change's unless given (1, etcd's first, when empty).
    """
    member = int(pod.rsplit("-", 1)[1])
    held = tuple(Change(*c) for c in changes)
    if revision is None:
        revision = max((c.revision for c in held), default=1)
    return Store(pod, endpoint(member), cluster_id, f"id{member}", revision, held)


def unreadable(pod: str, error: str = "context deadline exceeded") -> Store:
    return Store(pod, None, error=error)


def history(**kw) -> History:
    return History(meta={"started": START, "ended": END}, **kw)
