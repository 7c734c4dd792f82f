"""One cluster: the members agree on who they are and on what they hold.

Two clusters answering at once is the worst way a rejoin goes wrong: each
acknowledges writes the other never sees. It shows as two cluster IDs among
the members (a member that founded a new cluster of its own), or, from the
client history alone, as two acknowledged operations that give one revision
different contents: one cluster gives each revision one transaction, so
that proves two clusters even when one side cannot be read at the end.
Unless a member's store holds both writes: one history then, numbered two
ways by a member that skipped an entry (a diverged member, below).

A member whose key space differs from the others' at a revision both
reached, while a single cluster ID remains, is a diverged member: its own
history parted from the cluster's (a wiped member bootstrapped again, a
``--force-new-cluster``, a damaged store). It is checked on the members'
stores read at the end: a hash of each member's key space against the most
advanced member's, at the revision both reached, which is what ``etcdctl
endpoint hashkv --rev`` compares, computed here from the histories so that
the first differing revision can be named.

The end state is described too: member lists that differ, learners left
behind, members behind, members listed that nothing answers for (with the
peers' log lines that refused them), and stores that could not be read,
which leave the comparison undecided.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from clusters.observe import Store
from harness.checkers.linearizability import format_operation
from harness.checkers.logs import find_alarms, pending_back_offs
from harness.history import History, Operation

SPLIT = "split-brain"
"""Findings of this kind mean two clusters."""
DIVERGED = "diverged-member"
"""Findings of this kind mean one member's history parted from its cluster's."""
UNREADABLE = "unreadable"
"""A member's store could not be read: whether it diverged is undecided."""
NOT_JOINED = "not-joined"
"""A member listed with no etcd answering as it: why a member never rejoined."""
REFUSALS = ("member-add-rejected", "already-bootstrapped", "removed-member", "membership-mismatch")
"""Alarm labels (checkers.logs) that say why a member was refused by, or refused, its cluster."""
MAX_REFUSALS = 2
"""Distinct refusal lines named (the last ones found): members log the same refusal again on every try."""


@dataclass(frozen=True)
class Finding:
    kind: str  # split-brain, diverged-member, unreadable, not-joined, member-lists, learner, behind
    text: str


def key_space(store: Store, revision: int) -> dict[str, str]:
    """What ``store`` held at ``revision``: every key's latest value up to it."""
    held: dict[str, str] = {}
    for change in store.changes:
        if change.revision > revision:
            break
        if change.value is None:
            held.pop(change.key, None)
        else:
            held[change.key] = change.value
    return held


def key_space_hash(store: Store, revision: int) -> str:
    digest = hashlib.sha256()
    for key, value in sorted(key_space(store, revision).items()):
        digest.update(f"{len(key)}:{key}{len(value)}:{value}".encode())
    return digest.hexdigest()[:12]


def _changes(store: Store, revision: int) -> dict[tuple[int, str], str | None]:
    return {(c.revision, c.key): c.value for c in store.changes if c.revision <= revision}


def _first_difference(a: Store, b: Store, revision: int) -> str:
    """Where two histories part: the earliest (revision, key) whose change differs."""
    held = {a.pod: _changes(a, revision), b.pod: _changes(b, revision)}
    missing = object()
    differing = sorted(
        k for k in held[a.pod].keys() | held[b.pod].keys() if held[a.pod].get(k, missing) != held[b.pod].get(k, missing)
    )
    if not differing:
        return ""
    rev, key = differing[0]
    sides = [f"{pod} has {key} = {changes[(rev, key)]!r}" if (rev, key) in changes else f"{pod} has no change to {key}"
             for pod, changes in held.items()]
    skipped = (
        f"; from there on {a.pod} holds {b.pod}'s transactions one revision lower: it skipped revision {rev}'s entry, "
        "as a member killed under load does on etcd 3.5.0-3.5.2 (etcd#13766)"
        if _skipped_one(a, b, rev) else ""
    )
    return f"; first difference at revision {rev}: {', '.join(sides)}{skipped}"


def _transactions(store: Store) -> dict[int, tuple[tuple[str, str | None], ...]]:
    by_revision: dict[int, list[tuple[str, str | None]]] = {}
    for change in store.changes:
        by_revision.setdefault(change.revision, []).append((change.key, change.value))
    return {revision: tuple(sorted(changes, key=lambda c: (c[0], c[1] or ""))) for revision, changes in by_revision.items()}


def _skipped_one(a: Store, b: Store, first: int) -> bool:
    """Whether ``a`` is ``b`` with revision ``first``'s transaction left out: every later one a revision lower."""
    ours, theirs = _transactions(a), _transactions(b)
    later = range(first, a.revision + 1)
    return a.revision < b.revision and len(later) > 0 and all(ours.get(r) == theirs.get(r + 1) for r in later)


def cluster_id_splits(history: History) -> list[Finding]:
    """The first time members answered with different cluster IDs, during the run or at the end."""
    groups: list[tuple[float | None, dict[str, list[str]]]] = []
    for snapshot in history.snapshots:
        ids: dict[str, list[str]] = {}
        for view in snapshot.views:
            if not view.error and view.cluster_id:
                ids.setdefault(view.cluster_id, []).append(view.pod)
        groups.append((snapshot.time, ids))
    ends: dict[str, list[str]] = {}
    for store in history.stores:
        if not store.error:
            ends.setdefault(store.cluster_id, []).append(store.pod)
    groups.append((None, ends))
    for when, ids in groups:
        if len(ids) > 1:
            at = "at the end" if when is None else f"at {when - history.started:.1f} s"
            sides = " vs ".join(f"{', '.join(pods)} (cluster {cid})" for cid, pods in sorted(ids.items()))
            return [Finding(SPLIT, f"two clusters answered {at}: {sides}")]
    return []


def diverged_stores(stores: list[Store]) -> list[Finding]:
    """Members whose key spaces differ from the most advanced member's at a revision both reached.

    Each member is compared at its own revision (or the reference's, if
    lower), so a member that is merely behind neither counts as diverged nor
    hides a split between the others. Under one cluster ID that is a
    diverged member; under two, it is the second cluster's history.
    """
    readable = [s for s in stores if not s.error]
    if len(readable) < 2:
        return []
    kind = SPLIT if len({s.cluster_id for s in readable}) > 1 else DIVERGED
    reference = max(readable, key=lambda s: s.revision)
    found = []
    for store in readable:
        at = min(store.revision, reference.revision)
        theirs, ours = key_space_hash(store, at), key_space_hash(reference, at)
        if store is not reference and theirs != ours:
            found.append(
                Finding(
                    kind,
                    f"{store.pod} and {reference.pod} hold different key spaces at revision {at} "
                    f"(hash {theirs} vs {ours})" + _first_difference(store, reference, at),
                )
            )
    return found


def _claims(op: Operation) -> tuple[tuple[str, str | None], bool] | None:
    """What an acknowledged operation says revision ``op.revision`` holds: ((key, value), whether it wrote it).

    A write's revision is the one its transaction made; a linearizable read's
    is the store's revision it read at, so the key held that value then.
    """
    if op.outcome != "ok" or not op.revision:
        return None
    if op.kind == "put" or (op.kind == "cas" and op.succeeded):
        return (op.key, op.value), True
    if op.kind == "get" and not op.serializable:
        return (op.key, op.value), False
    return None


def acknowledged_splits(history: History) -> list[Finding]:
    """The first revision two acknowledged operations give different contents: two clusters, from the history alone.

    Two writes at one revision that differ in key or value, or a read at a
    write's revision that saw another value of the written key, or two reads
    of one key at one revision that saw different values.
    """
    writes: dict[int, Operation] = {}
    reads: dict[tuple[int, str], Operation] = {}
    found: list[tuple[float, Finding]] = []
    for op in sorted(history.operations, key=lambda o: o.invoke):
        claim = _claims(op)
        if claim is None:
            continue
        assert op.revision is not None
        (key, value), wrote = claim
        if wrote:
            other = writes.setdefault(op.revision, op)
            if (other.key, other.value) == (key, value):
                other = reads.get((op.revision, key), op)
        else:
            write = writes.get(op.revision)
            other = write if write is not None and write.key == key else reads.setdefault((op.revision, key), op)
        if other.value != value or other.key != key:
            found.append((op.invoke, _split_finding(other, op, history)))
    return [min(found, key=lambda f: f[0])[1]] if found else []


def _split_finding(a: Operation, b: Operation, history: History) -> Finding:
    """Two clusters, unless one member's store holds both writes: then it is one history, numbered two ways.

    A member that skipped an entry when it restarted (etcd#13766) applies
    every later transaction one revision lower than its cluster, and
    acknowledges writes with those numbers; a store that holds both writes
    (every written value is unique) proves a single history.
    """
    sides = " and ".join(f"{op.key}: {format_operation(op, history.started)}" for op in (a, b))
    claims = [(op.key, op.value) for op in (a, b) if op.kind in ("put", "cas")]
    for store in history.stores:
        if not store.error and len(claims) == 2:
            at = {(c.key, c.value): c.revision for c in store.changes}
            if all(claim in at for claim in claims):
                placed = " and ".join(f"{key} = {value!r} at revision {at[(key, value)]}" for key, value in claims)
                return Finding(
                    DIVERGED,
                    f"one history numbered two ways: revision {b.revision} was acknowledged with different contents "
                    f"({sides}), and {store.pod} holds both writes, {placed}",
                )
    return Finding(SPLIT, f"two clusters acknowledged revision {b.revision} with different contents: {sides}")


def end_state(history: History) -> list[Finding]:
    """Member lists that differ, learners left behind, members never joined, stores unread or behind, at the end."""
    found = []
    final = history.snapshots[-1] if history.snapshots else None
    answered = [v for v in final.views if not v.error] if final else []
    if len({v.members for v in answered}) > 1:
        lists = "; ".join(f"{v.pod} lists {', '.join(name or id_ for id_, name, _ in v.members)}" for v in answered)
        found.append(Finding("member-lists", f"members disagree on the member list: {lists}"))
    for view in answered:
        learners = [name or id_ for id_, name, learner in view.members if learner]
        if learners:
            found.append(Finding("learner", f"{view.pod} still lists learner {', '.join(learners)}"))
            break
    found += unjoined_members(history)
    found += [
        Finding(UNREADABLE, f"{s.pod}'s store could not be read ({s.error}): its key space was not compared")
        for s in history.stores
        if s.error
    ]
    readable = [s for s in history.stores if not s.error]
    if readable:
        newest = max(s.revision for s in readable)
        for store in readable:
            if store.revision < newest:
                found.append(Finding("behind", f"{store.pod} ends at revision {store.revision}, others at {newest}"))
    return found


def unjoined_members(history: History) -> list[Finding]:
    """Members the final member lists name but no running etcd answers as, with the peers' lines that refused them.

    "Connection refused" only says nothing listens; the member ID still
    listed says the cluster counts on a member that is not there (a vote
    it will never get), and a peer's "rejecting member add request" or
    "permanently removed" says why it is not, as a restart back-off still
    pending says the kubelet kept it away.
    """
    final = history.snapshots[-1] if history.snapshots else None
    answered = [v for v in final.views if not v.error] if final else []
    running = {v.member_id for v in answered}
    listed: dict[str, tuple[str, list[str]]] = {}
    for view in answered:
        for member_id, name, _ in view.members:
            if member_id not in running:
                listed.setdefault(member_id, (name, []))[1].append(view.pod)
    if not listed:
        return []
    said: dict[str, list[str]] = {}  # a refusal line -> the pods that logged it
    for alarm in find_alarms(history.logs):
        if alarm.label in REFUSALS:
            pods = said.pop(alarm.line, [])
            said[alarm.line] = pods if alarm.pod in pods else [*pods, alarm.pod]
    refused = "; ".join(f"{', '.join(pods)}: {line}" for line, pods in list(said.items())[-MAX_REFUSALS:])
    held = pending_back_offs(history.events)
    found = []
    for member_id, (name, by) in sorted(listed.items()):
        who = f"{name} (member {member_id})" if name else f"member {member_id} (never started)"
        text = f"{who} is still listed by {', '.join(sorted(by))} but no running etcd answers as it"
        pod = next((v for v in final.views if v.pod == name), None) if final else None
        if pod is not None and pod.error:
            text += f" ({pod.pod}: {pod.error})"
            if pod.pod in held:
                text += f"; {held[pod.pod].describe(final.time)}"
        elif pod is None and name:
            text += f" (no pod {name} exists)"
        found.append(Finding(NOT_JOINED, text + (f"; refused: {refused}" if refused else "")))
    return found


def check_one_cluster(history: History) -> list[Finding]:
    # The stores' comparison before the acknowledgements': it names where a diverged member's history parted.
    return cluster_id_splits(history) + diverged_stores(history.stores) + acknowledged_splits(history) + end_state(history)
