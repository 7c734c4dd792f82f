"""Revisions a client sees never go backwards.

A client waits for each reply before its next call, so every operation that
went through raft (puts, compare-and-sets, linearizable gets) must see a
revision at least as new as the one before it, whichever member answers.
A step back means the client reached a store that does not have what it was
already told: a member that lost its data, or another cluster. Serializable
gets are left out: etcd lets one member answer them from behind.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.checkers.linearizability import format_operation
from harness.history import History, Operation


@dataclass(frozen=True)
class Regression:
    before: Operation
    after: Operation

    def describe(self, started: float) -> str:
        return (
            f"{self.after.client} saw revision {self.after.revision} after {self.before.revision}: "
            f"{self.before.key}: {format_operation(self.before, started)}, "
            f"then {self.after.key}: {format_operation(self.after, started)}"
        )


def find_regressions(history: History) -> list[Regression]:
    """Each time a client falls behind the newest revision it has seen (once per fall, not per call behind)."""
    found = []
    by_client: dict[str, list[Operation]] = {}
    for op in history.operations:
        if op.outcome == "ok" and op.revision and not op.serializable:
            by_client.setdefault(op.client, []).append(op)
    for ops in by_client.values():
        ops.sort(key=lambda op: op.invoke)
        newest, behind = ops[0], False
        for op in ops[1:]:
            assert op.revision is not None and newest.revision is not None
            if op.revision < newest.revision:
                if not behind:
                    found.append(Regression(newest, op))
                behind = True
            else:
                newest, behind = op, False
    return sorted(found, key=lambda r: r.after.invoke)
