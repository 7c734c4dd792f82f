"""No acknowledged write lost: every write etcd confirmed is in every member's history.

A put or a compare-and-set that returned ok carries the revision etcd
assigned it. Each member's store is read at the end from revision 1 (a
watch), so the check is exact: at that revision the member must hold that
value under that key. A later write to the key does not hide a loss, since
the history keeps both. A member whose store has gone past the revision
with something else there has lost the write (its history diverged); one
that has not reached the revision is only behind, and the write counts as
lost when no member holds it at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.checkers.linearizability import format_operation
from harness.history import History, Operation


@dataclass(frozen=True)
class LostWrite:
    operation: Operation
    acknowledged_by: str  # the pod that answered ok
    missing_on: tuple[str, ...]  # how each member that lacks it stands at that revision

    def describe(self, started: float) -> str:
        return (
            f"{self.operation.key}: {format_operation(self.operation, started)} (acknowledged by {self.acknowledged_by} "
            f"at revision {self.operation.revision}) is lost: {'; '.join(self.missing_on)}"
        )


def acknowledged_writes(history: History) -> list[Operation]:
    """Writes etcd confirmed: puts that returned ok and compare-and-sets that applied."""
    return [
        op
        for op in history.operations
        if op.outcome == "ok" and op.revision and (op.kind == "put" or (op.kind == "cas" and op.succeeded))
    ]


def find_lost_writes(history: History) -> list[LostWrite]:
    """Acknowledged writes some member's history passed without them, or nobody holds; in call order.

    Members that could not be read are left out (the recovery check reports
    them); with none readable there is nothing to compare against.
    """
    readable = [s for s in history.stores if not s.error]
    if not readable:
        return []
    index = {s.pod: {} for s in readable}  # pod -> revision -> key -> value
    for s in readable:
        for change in s.changes:
            index[s.pod].setdefault(change.revision, {})[change.key] = change.value
    lost = []
    for op in acknowledged_writes(history):
        assert op.revision is not None
        diverged, behind = [], []
        for s in readable:
            held = index[s.pod].get(op.revision, {})
            if op.key in held and held[op.key] == op.value:
                continue
            if s.revision >= op.revision:
                there = ", ".join(f"{k} = {v!r}" for k, v in sorted(held.items())) or "no change to this key"
                diverged.append(f"{s.pod} holds revision {op.revision} as {there}")
            else:
                behind.append(f"{s.pod} ends at revision {s.revision}")
        if diverged or len(behind) == len(readable):
            by = op.member or history.pod_at(op.endpoint, op.complete or op.invoke)
            lost.append(LostWrite(op, by, tuple(diverged + behind)))
    return lost
