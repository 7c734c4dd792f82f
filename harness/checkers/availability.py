"""Availability: how long the cluster could not commit, and how long it took to be whole.

Quorum cannot be asked of etcd directly from outside; it shows in the
clients' replies. Every operation that went through raft and was answered
(a put, a compare-and-set whether or not it applied, a linearizable get)
proves that a majority agreed at that moment. A serializable get does not:
one member answers it alone, with or without a leader.

An outage is charged to the strategy except while the fault itself had
taken a majority of the pods away: deleted, and their replacements not yet
started by Kubernetes. No deployment commits then, and how fast Kubernetes
tears a pod down and makes another is the cluster's speed, not the
strategy's doing. Everything after a replacement's first container has
started is charged: the strategy's scripts, OrderedReady holding back the
next pod, etcd's start and election.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from clusters.observe import Snapshot
from harness.history import History, Operation

OUTAGE_GAP = 1.0
"""Gaps between commits shorter than a client's timeout are traffic, not an outage."""


@dataclass(frozen=True)
class Outage:
    start: float
    end: float
    charged_s: float  # of end - start, the part that is the strategy's

    @property
    def excused_s(self) -> float:
        return self.end - self.start - self.charged_s


@dataclass(frozen=True)
class Availability:
    quorum_fraction: float  # of the time from the first call to the end
    longest_outage_s: float
    recovery_s: float | None  # None: never whole again and stayed so
    worst: Outage  # the outage quorum-lost judges: the most time charged to the strategy


def proves_quorum(op: Operation) -> bool:
    return op.outcome == "ok" and not op.serializable


def disrupted_from(history: History) -> float:
    """Outages are measured from the first fault that ran; before it the cluster was whole by construction."""
    return min((f.start for f in history.faults if not f.skipped), default=history.started)


def outage_gaps(history: History, start: float | None = None) -> list[tuple[float, float]]:
    """Every stretch without a commit, from ``start`` (default: the first fault) to the end of traffic, longest first.

    Measured between completions, and from ``start`` and to the moment the
    clients stopped, so a cluster that never commits again shows the whole
    remaining time, and the final reads after the traffic count for nothing.
    """
    start = disrupted_from(history) if start is None else start
    end = history.traffic_ended
    marks = sorted(op.complete for op in history.operations if proves_quorum(op) and op.complete and start <= op.complete <= end)
    points = [start, *marks, end]
    return sorted(itertools.pairwise(points), key=lambda gap: gap[0] - gap[1])


def max_write_outage(history: History) -> float:
    """The longest stretch without a commit, as measured."""
    gaps = outage_gaps(history)
    return gaps[0][1] - gaps[0][0] if gaps else 0.0


def majority_taken(history: History) -> list[tuple[float, float]]:
    """Stretches in which the pods a deletion took and Kubernetes had not yet replaced were a majority.

    A pod is taken from its container's exit while it was being deleted (or
    from its disappearance, if no exit was seen) until a container of a pod
    of the same name with another uid starts. A crash, a kill by the fault or
    a lost node does not count: there the pod is still the strategy's to run.
    The majority is of the replicas the latest snapshot asked for.
    """
    changes: list[tuple[float, str, str]] = []  # (time, pod, "taken" | "back")
    taken_uid: dict[str, str] = {}
    for event in sorted(history.events, key=lambda e: e.time):
        uid = str(event.detail.get("uid", ""))
        gone = event.kind == "pod-gone" or (event.kind == "container-exited" and event.detail.get("cause") == "deleted")
        if gone and event.pod and event.pod not in taken_uid:
            taken_uid[event.pod] = uid
            changes.append((event.time, event.pod, "taken"))
        elif event.kind == "container-started" and event.pod in taken_uid and taken_uid[event.pod] != uid:
            del taken_uid[event.pod]
            changes.append((event.time, event.pod, "back"))
    stretches, taken, since = [], set(), None
    for time, pod, change in changes:
        (taken.add if change == "taken" else taken.discard)(pod)
        replicas = _replicas_at(history.snapshots, time)
        members = [p for p in taken if _ordinal(p) < replicas]  # a pod scaled away is no member to wait for
        is_majority = replicas > 0 and len(members) > replicas - (replicas // 2 + 1)
        if is_majority and since is None:
            since = time
        elif not is_majority and since is not None:
            stretches.append((since, time))
            since = None
    if since is not None:
        stretches.append((since, history.ended))
    return stretches


def _replicas_at(snapshots: list[Snapshot], time: float) -> int:
    """What the StatefulSet asked for at ``time``: the latest snapshot before it, else the first one."""
    before = [s for s in snapshots if s.time <= time] or snapshots[:1]
    return max(before, key=lambda s: s.time).replicas if before else 0


def _ordinal(pod: str) -> int:
    number = pod.rpartition("-")[2]
    return int(number) if number.isdigit() else 0


def charged(gap: tuple[float, float], taken: list[tuple[float, float]]) -> float:
    """A gap's length less the part of it in which a majority was taken."""
    start, end = gap
    return end - start - sum(max(0.0, min(end, b) - max(start, a)) for a, b in taken)


def worst_outage(history: History) -> Outage:
    """The stretch without a commit with the most time charged to the strategy (the quorum-lost check)."""
    taken = majority_taken(history)
    return max((Outage(a, b, charged((a, b), taken)) for a, b in outage_gaps(history)), key=lambda o: o.charged_s)


def recovery_time(history: History) -> float | None:
    """Seconds from the last heal until the cluster was whole and stayed whole.

    "Stayed" means every later snapshot is healthy too, so a member that looks
    fine for a moment and then panics does not count as recovered.
    """
    healed = history.healed
    recovered = None
    for snapshot in (s for s in history.snapshots if s.time >= healed):
        if not snapshot.healthy:
            recovered = None
        elif recovered is None:
            recovered = snapshot.time
    return None if recovered is None else recovered - healed


def availability(history: History) -> Availability:
    """The quorum fraction is over the whole run, from the first call: a window that began at the
    fault would make a short fault's one-second election look like half the time lost."""
    start = min((op.invoke for op in history.operations), default=history.started)
    span = history.traffic_ended - start
    down = sum(b - a for a, b in outage_gaps(history, start) if b - a > OUTAGE_GAP)
    return Availability(
        quorum_fraction=1.0 if span <= 0 else max(0.0, 1.0 - down / span),
        longest_outage_s=max_write_outage(history),
        worst=worst_outage(history),
        recovery_s=recovery_time(history),
    )
