"""Availability: how long the cluster could not commit, and how long it took to be whole.

Quorum cannot be asked of etcd directly from outside; it shows in the
clients' replies. Every operation that went through raft and was answered
(a put, a compare-and-set whether or not it applied, a linearizable get)
proves that a majority agreed at that moment. A serializable get does not:
one member answers it alone, with or without a leader.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from harness.history import History, Operation

OUTAGE_GAP = 1.0
"""Gaps between commits shorter than a client's timeout are traffic, not an outage."""


@dataclass(frozen=True)
class Availability:
    quorum_fraction: float  # of the time from the first call to the end
    longest_outage_s: float
    recovery_s: float | None  # None: never whole again and stayed so


def proves_quorum(op: Operation) -> bool:
    return op.outcome == "ok" and not op.serializable


def disrupted_from(history: History) -> float:
    """Outages are measured from the first fault that ran; before it the cluster was whole by construction."""
    return min((f.start for f in history.faults if not f.skipped), default=history.started)


def outage_gaps(history: History, start: float | None = None) -> list[tuple[float, float]]:
    """Every stretch without a commit, from ``start`` (default: the first fault) to the end, longest first.

    Measured between completions, and from ``start`` and to the scenario's
    end, so a cluster that never commits again shows the whole remaining time.
    """
    start = disrupted_from(history) if start is None else start
    marks = sorted(op.complete for op in history.operations if proves_quorum(op) and op.complete and op.complete >= start)
    points = [start, *marks, history.ended]
    return sorted(itertools.pairwise(points), key=lambda gap: gap[0] - gap[1])


def max_write_outage(history: History) -> float:
    """The longest stretch without a commit (the quorum-lost check)."""
    gaps = outage_gaps(history)
    return gaps[0][1] - gaps[0][0] if gaps else 0.0


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
    span = history.ended - start
    down = sum(b - a for a, b in outage_gaps(history, start) if b - a > OUTAGE_GAP)
    return Availability(
        quorum_fraction=1.0 if span <= 0 else max(0.0, 1.0 - down / span),
        longest_outage_s=max_write_outage(history),
        recovery_s=recovery_time(history),
    )
