"""The record of one scenario: operations, events, snapshots and member logs.

Everything a checker needs is in here and nothing else, so a kept history can
be re-checked later without a cluster (``python -m harness.recheck DIR``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from clusters.events import Event
from clusters.observe import Snapshot, Store

Outcome = Literal["ok", "fail", "unknown"]


@dataclass
class Operation:
    """One client call, Jepsen-style: invoked, then completed with an outcome.

    ``member`` is the pod called and ``endpoint`` its address at the time
    (pod IPs move when pods are rebuilt).

    ``unknown`` means the call timed out: it may or may not have taken effect.
    Kinds: ``put`` writes ``value``; ``get`` reads, and ``value`` is what it
    read once ok (None: the key was absent), through raft unless
    ``serializable`` (then served by one member alone, possibly stale); ``cas``
    writes ``value`` if the key holds ``expect`` (None: absent), and
    ``succeeded`` says whether the comparison held.
    """

    client: str
    kind: str
    key: str
    value: str | None
    endpoint: str
    invoke: float
    complete: float | None = None
    outcome: Outcome | None = None
    revision: int | None = None
    error: str | None = None
    expect: str | None = None
    succeeded: bool | None = None
    serializable: bool = False
    member: str = ""  # the pod called; "" in histories from before it was recorded (then see pod_at)


@dataclass
class FaultWindow:
    """When a fault was injected, held and healed, and what it hit.

    ``error`` says why it did not fully take effect (a drain a budget blocked,
    a target that did not exist); ``skipped`` why it never ran (the backend
    cannot do it, or the cluster had not recovered from the step before).
    """

    fault: str
    targets: list[str]
    start: float
    end: float
    injected: float | None = None
    error: str | None = None
    skipped: str | None = None


@dataclass
class History:
    meta: dict[str, Any]
    operations: list[Operation] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)
    faults: list[FaultWindow] = field(default_factory=list)
    logs: dict[str, list[str]] = field(default_factory=dict)
    stores: list[Store] = field(default_factory=list)  # each member's key space at the end

    @property
    def started(self) -> float:
        return float(self.meta["started"])

    @property
    def ended(self) -> float:
        return float(self.meta["ended"])

    @property
    def healed(self) -> float:
        """When the last fault was healed: recovery is measured from here."""
        return max((f.end for f in self.faults if not f.skipped), default=self.started)

    def pod_at(self, endpoint: str, at: float) -> str:
        """Which pod held ``endpoint`` at ``at``: IPs move between pods as they are rebuilt."""
        holder = endpoint
        for snapshot in self.snapshots:
            if snapshot.time > at and holder != endpoint:
                break
            holder = next((v.pod for v in snapshot.views if v.endpoint == endpoint), holder)
        return holder

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        raw = {
            "meta": self.meta,
            "operations": [asdict(op) for op in self.operations],
            "events": [e.to_json() for e in self.events],
            "snapshots": [s.to_json() for s in self.snapshots],
            "faults": [asdict(f) for f in self.faults],
            "logs": self.logs,
            "stores": [s.to_json() for s in self.stores],
        }
        path = directory / "history.json"
        path.write_text(json.dumps(raw))
        return path

    @classmethod
    def load(cls, path: Path) -> History:
        raw = json.loads(path.read_text())
        return cls(
            meta=raw["meta"],
            operations=[Operation(**op) for op in raw["operations"]],
            events=[Event.from_json(e) for e in raw["events"]],
            snapshots=[Snapshot.from_json(s) for s in raw["snapshots"]],
            faults=[FaultWindow(**f) for f in raw["faults"]],
            logs=raw.get("logs", {}),
            stores=[Store.from_json(s) for s in raw.get("stores", [])],
        )
