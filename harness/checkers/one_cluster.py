"""One cluster: the members agree on who they are and on what they hold.

Two clusters answering at once is the worst way a rejoin goes wrong: each
acknowledges writes the other never sees. It shows as two cluster IDs among
the members (a member that founded a new cluster of its own), or, when the
ID was kept (``--force-new-cluster``), as key spaces that differ at the same
revision. The second is checked on the members' stores read at the end: a
hash of each member's key space against the most advanced member's, at the
revision both reached, which is what ``etcdctl endpoint hashkv --rev`` compares, computed here from
the histories so that the first differing revision can be named.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from clusters.observe import Store
from harness.history import History

SPLIT = "split-brain"
"""Findings of this kind mean two clusters; the others describe the end state."""


@dataclass(frozen=True)
class Finding:
    kind: str  # split-brain, member-lists, learner, behind
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
    return f"; first difference at revision {rev}: {', '.join(sides)}"


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
    hides a split between the others.
    """
    readable = [s for s in stores if not s.error]
    if len(readable) < 2:
        return []
    reference = max(readable, key=lambda s: s.revision)
    found = []
    for store in readable:
        at = min(store.revision, reference.revision)
        theirs, ours = key_space_hash(store, at), key_space_hash(reference, at)
        if store is not reference and theirs != ours:
            found.append(
                Finding(
                    SPLIT,
                    f"{store.pod} and {reference.pod} hold different key spaces at revision {at} "
                    f"(hash {theirs} vs {ours})" + _first_difference(store, reference, at),
                )
            )
    return found


def end_state(history: History) -> list[Finding]:
    """Member lists that differ, learners left behind, and members still behind, once traffic stopped."""
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
    readable = [s for s in history.stores if not s.error]
    if readable:
        newest = max(s.revision for s in readable)
        for store in readable:
            if store.revision < newest:
                found.append(Finding("behind", f"{store.pod} ends at revision {store.revision}, others at {newest}"))
    return found


def check_one_cluster(history: History) -> list[Finding]:
    return cluster_id_splits(history) + diverged_stores(history.stores) + end_state(history)
