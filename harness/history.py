"""The record of one scenario: operations, events, snapshots and member logs.

Everything a checker needs is in here and nothing else, so a kept history can
be re-checked later without a cluster (``python -m harness.recheck DIR``).

Every time in a history is seconds since the scenario started, measured on
the monotonic clock: a wall clock that an NTP step moves mid-run could make
a read look older than the write it saw, or hide a real violation. The wall
time of the start is kept in the metadata only, for people. Histories written
before this (wall-clock times, ``meta["started"]`` an epoch) are converted
when they load, so they re-check the same.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from clusters import etcd_api
from clusters.events import Event
from clusters.observe import Snapshot, Store

Outcome = Literal["ok", "fail", "unknown"]

CLOCK = "monotonic, seconds since the scenario started"
"""``meta["clock"]`` of a history whose times are relative to its start (all written since it was recorded)."""

OUTCOMES = "fail only when provably not applied"
"""``meta["outcomes"]`` of a history whose failed calls follow ``clusters.etcd_api``'s rule."""


@dataclass
class Operation:
    """One client call, Jepsen-style: invoked, then completed with an outcome.

    ``member`` is the pod called and ``endpoint`` its address at the time
    (pod IPs move when pods are rebuilt).

    ``fail`` means the call provably had no effect (never sent, or refused by
    etcd before it proposed anything); ``unknown`` that it may or may not have
    taken effect (a time-out, a reset, EOF, Unavailable): see
    ``clusters.etcd_api`` for the rule.
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

    def shift(self, by: float) -> None:
        """Move every recorded time by ``by`` seconds (the metadata's times are the caller's)."""
        for op in self.operations:
            op.invoke += by
            if op.complete is not None:
                op.complete += by
        for window in self.faults:
            window.start += by
            window.end += by
            if window.injected is not None:
                window.injected += by
        self.events = [dataclasses.replace(e, time=e.time + by) for e in self.events]
        self.snapshots = [dataclasses.replace(s, time=s.time + by) for s in self.snapshots]

    def member_releases(self) -> dict[str, list[tuple[float, str]]]:
        """Each member's etcd release over the run, with when each began: a mixed-release cluster during an upgrade.

        Two sources, in time order: what the member itself reports in every
        snapshot (Maintenance/Status, the server version /version gives, or
        its image's release while it does not answer), and the release of
        each container the kubelet started (its image's tag). The second is
        what times a rolling upgrade: no snapshot is taken while the fault
        waits for the rollout. Only changes are kept.
        """
        observed = [
            (snapshot.time, view.pod, view.version or view.image_release)
            for snapshot in self.snapshots for view in snapshot.views
        ] + [
            (event.time, event.pod, str(event.detail.get("release", "")))
            for event in self.events if event.kind == "container-started" and event.pod
        ]
        seen: dict[str, list[tuple[float, str]]] = {}
        for time, pod, release in sorted(observed):
            runs = seen.setdefault(pod, [])
            if release and (not runs or runs[-1][1] != release):
                runs.append((time, release))
        return {pod: runs for pod, runs in sorted(seen.items()) if runs}

    def reclassify(self) -> list[str]:
        """Mark ``unknown`` every failed call whose message says it may have taken effect; one line for each.

        Older runs recorded some such calls (a 503 "error reading from server:
        EOF" from a member that died mid-call) as failed; a checker then took
        them as never applied and cried wolf when their value showed up.
        """
        moved = [op for op in self.operations if op.outcome == "fail" and etcd_api.applied_maybe(op.error or "")]
        for op in moved:
            op.outcome = "unknown"
        return [
            f"{op.client} {op.kind} {op.key} {op.value!r} at {op.invoke:.3f} s on {op.member or op.endpoint}: "
            f"fail -> unknown ({op.error})"
            for op in moved
        ]

    @property
    def started(self) -> float:
        return float(self.meta["started"])

    @property
    def ended(self) -> float:
        return float(self.meta["ended"])

    @property
    def traffic_ended(self) -> float:
        """When the clients stopped: no commit can come after it, so no outage is measured past it.

        The final reads of every store come after, and take seconds on a
        loaded machine; a history from before the time was kept ends there.
        """
        return float(self.meta.get("traffic_stopped_at", self.meta["ended"]))

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
        """Read a saved history (``history.json`` or its gzipped copy); older wall-clock ones are made relative."""
        text = gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()
        raw = json.loads(text)
        history = cls(
            meta=raw["meta"],
            operations=[Operation(**op) for op in raw["operations"]],
            events=[Event.from_json(e) for e in raw["events"]],
            snapshots=[Snapshot.from_json(s) for s in raw["snapshots"]],
            faults=[FaultWindow(**f) for f in raw["faults"]],
            logs=raw.get("logs", {}),
            stores=[Store.from_json(s) for s in raw.get("stores", [])],
        )
        if "clock" not in history.meta:
            began = float(history.meta["started"])
            history.shift(-began)
            history.meta.update(
                clock=CLOCK + " (converted from wall-clock times)",
                wall_started=began,
                started=0.0,
                ended=float(history.meta["ended"]) - began,
            )
        if "outcomes" not in history.meta:
            history.meta.update(outcomes=OUTCOMES + " (re-judged from the recorded errors)", reclassified=history.reclassify())
        return history
