"""No acknowledged write lost: every write etcd confirmed is still held by a majority.

A put or a compare-and-set that returned ok carries the revision etcd
assigned it, and etcd only acknowledges what a majority of the voting
members committed. Each member's store is read at the end from revision 1
(a watch), so the check is exact: at that revision a member either holds
that value under that key, or has passed the revision with something else
there (its history diverged), or has not reached it (it is behind).

Every written value is unique (a client's name and its own count), so a
member that holds the write's value under its key at another revision holds
the write too: it applied the same transaction but numbers its revisions
differently, which a member that skipped or repeated an entry on restart
does (etcd#13766, 3.5.0-3.5.2); ``one_cluster`` reports that member as
diverged, and the write is not lost.

Only a write that fewer than a majority of the final voting members hold
is lost: the cluster as a whole no longer has it. A write the majority
holds but one member lacks (a member whose data was wiped and that came
back behind or on a history of its own) is a lesser finding, "lagging": the
write survived, that member did not keep up (``one_cluster`` says why).
Members whose store could not be read may hold it or not, so when the
readable holders fall short of a majority only because of them, the write
is undecided rather than lost, with one exception that needs no store:
two acknowledged writes that etcd gave the same revision with different
contents (two clusters answered). Any two majorities of the members share a
member, and a member holds one transaction per revision, so at most one of
them can still be held by a majority: undecided ones among them are
"contested", all but at most one of them lost.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from clusters.observe import Store
from harness.checkers.linearizability import format_operation
from harness.history import History, Operation

LOST, CONTESTED, LAGGING, UNDECIDED = "lost", "contested", "lagging", "undecided"


@dataclass(frozen=True)
class LostWrite:
    """An acknowledged write some member lacks; ``kind`` says whether the cluster lost it (see module doc)."""

    operation: Operation
    acknowledged_by: str  # the pod that answered ok
    missing_on: tuple[str, ...]  # how each member that lacks it stands at that revision
    held_by: tuple[str, ...] = ()
    voters: int = 0  # voting members at the end: a majority of them must hold the write
    kind: str = LOST

    def describe(self, started: float) -> str:
        what = (
            f"{self.operation.key}: {format_operation(self.operation, started)} (acknowledged by {self.acknowledged_by} "
            f"at revision {self.operation.revision})"
        )
        held = f"held by {len(self.held_by)} of {self.voters} voting members" + (
            f" ({', '.join(self.held_by)})" if self.held_by else ""
        )
        verdict = {
            LOST: "is lost",
            CONTESTED: "is lost unless it is the one write of its revision that survived",
            LAGGING: "survived",
            UNDECIDED: "may be lost",
        }[self.kind]
        return f"{what} {verdict}: {held}; {'; '.join(self.missing_on)}"


def acknowledged_writes(history: History) -> list[Operation]:
    """Writes etcd confirmed: puts that returned ok and compare-and-sets that applied."""
    return [
        op
        for op in history.operations
        if op.outcome == "ok" and op.revision and (op.kind == "put" or (op.kind == "cas" and op.succeeded))
    ]


def voting_members(history: History) -> int:
    """How many voting members the cluster counts at the end: every voting member any member lists, else the stores.

    The union, not one member's list: when the cluster has fallen apart
    (each member listing only itself after a ``--force-new-cluster``), a
    write one fragment holds is not held by a majority of the members the
    deployment runs.
    """
    final = history.snapshots[-1] if history.snapshots else None
    answered = [v for v in final.views if not v.error] if final else []
    voters = {member_id for v in answered for member_id, _, learner in v.members if not learner}
    return max(len(voters), final.replicas if final else 0) or len(history.stores)


def find_lost_writes(history: History) -> list[LostWrite]:
    """Every acknowledged write some member lacks: lost ones first, then undecided, then lagging; each in call order.

    With no store read at all there is nothing to compare against: every
    acknowledged write is undecided (a data check that could not run is not
    a pass).
    """
    readable = [s for s in history.stores if not s.error]
    unreadable = [s for s in history.stores if s.error]
    voters = voting_members(history)
    majority = voters // 2 + 1
    index = {s.pod: {} for s in readable}  # pod -> revision -> key -> value
    written = {s.pod: {} for s in readable}  # pod -> (key, value) -> revision
    for s in readable:
        for change in s.changes:
            index[s.pod].setdefault(change.revision, {})[change.key] = change.value
            written[s.pod].setdefault((change.key, change.value), change.revision)
    found = []
    for op in acknowledged_writes(history):
        assert op.revision is not None
        held_by, missing = _standing(op, readable, index, written)
        missing += [f"{s.pod}'s store could not be read: {s.error}" for s in unreadable]
        if not history.stores:
            missing.append("no member's store was read")
        if len(held_by) >= majority:
            kind = LAGGING
        elif len(held_by) + len(unreadable) >= majority or not history.stores:
            kind = UNDECIDED
        else:
            kind = LOST
        if missing:
            by = op.member or history.pod_at(op.endpoint, op.complete or op.invoke)
            found.append(LostWrite(op, by, tuple(missing), tuple(held_by), voters, kind))
    found = _contested(found)
    order = {LOST: 0, CONTESTED: 1, UNDECIDED: 2, LAGGING: 3}
    return sorted(found, key=lambda w: order[w.kind])


def _contested(found: list[LostWrite]) -> list[LostWrite]:
    """Undecided writes that share their revision with another acknowledged write of other contents (module doc)."""
    by_revision: dict[int, list[LostWrite]] = {}
    for write in found:
        by_revision.setdefault(write.operation.revision or 0, []).append(write)
    judged = []
    for write in found:
        rivals = [w for w in by_revision[write.operation.revision or 0] if w.operation.value != write.operation.value]
        if write.kind == UNDECIDED and rivals:  # a rival held by a majority would have made this one lost already
            write = dataclasses.replace(write, kind=CONTESTED)
        judged.append(write)
    return judged


def _standing(
    op: Operation,
    readable: list[Store],
    index: dict[str, dict[int, dict[str, str | None]]],
    written: dict[str, dict[tuple[str, str | None], int]],
) -> tuple[list[str], list[str]]:
    """Who holds ``op`` (at its revision or, renumbered, at another), and how each other member stands there."""
    assert op.revision is not None
    held_by, diverged, behind = [], [], []
    for s in readable:
        held = index[s.pod].get(op.revision, {})
        if (op.key in held and held[op.key] == op.value) or (op.key, op.value) in written[s.pod]:
            held_by.append(s.pod)
        elif s.revision >= op.revision:
            there = ", ".join(f"{k} = {v!r}" for k, v in sorted(held.items())) or "no change to this key"
            diverged.append(f"{s.pod} holds revision {op.revision} as {there}")
        else:
            behind.append(f"{s.pod} ends at revision {s.revision}")
    return held_by, diverged + behind
