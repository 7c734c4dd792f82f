"""Real histories kept as regression data, re-judged on every run (as etcd's robustness suite re-validates its reports).

- ``false-alarm-random5``: reconcile-learner under ``random*5`` (seed
  20261130), once reported ``not-linearizable``: a put that got HTTP 503
  "error reading from server: EOF" from the member being deleted was recorded
  as failed, yet had taken effect. Written before the not-applied rule and
  before monotonic times, it also proves that such histories still load.
- ``seed-wipe-always-inplace-restart``: the seed incident, a wiped member
  restarted in place under its old ID panicking with ``tocommit``.
- ``force-new-cluster-unread-member``: the same, where the third member
  crash-looped and its store could not be read: writes no longer have a
  provable majority against them, yet etcd gave two of them one revision.
- ``seed-wipe-always-serialized-rebuild``: seed-wipe-always under
  ``simultaneous-rebuild``, declared to lose quorum, passing once in CI:
  etcd refused the second preStop removal, so the two members left one after
  the other and writes never stopped for longer than 0.1 s.
- ``force-new-cluster-inplace-restart``: a strategy written to lose data
  (tests/chaos/strategies), and ``reconcile-learner-inplace-restart``, the
  same fault on a strategy that keeps every write: the data checks must tell
  them apart both ways, every finding on the first and none on the second.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.checkers.lost_writes import CONTESTED, LAGGING, LOST
from harness.history import History
from harness.verdict import judge

DATA = Path(__file__).parent.parent / "data" / "histories"


def judged(name: str):
    history = History.load(DATA / name / "history.json.gz")
    return history, judge(history, history.meta["outage_budget"])


def test_the_503_false_alarm_passes_with_the_put_as_unknown():
    history, verdict = judged("false-alarm-random5")
    assert (verdict.verdict, verdict.reasons) == ("pass", [])
    put = next(op for op in history.operations if op.value == "client-2-968" and op.kind == "put")
    assert put.outcome == "unknown" and "error reading from server: EOF" in (put.error or "")
    assert any("'client-2-968'" in line for line in history.meta["reclassified"])
    # what proved the put happened: a linearizable read of its value on another member
    assert any(op.kind == "get" and op.value == "client-2-968" and op.outcome == "ok" for op in history.operations)


def test_the_seed_incident_panics_with_tocommit():
    _, verdict = judged("seed-wipe-always-inplace-restart")
    # undecided: the crash-looping member's store cannot be read, so its key space is not compared
    assert verdict.reasons == ["panic", "crash-loop", "not-recovered", "undecided"]
    assert "tocommit(" in verdict.panics[0].message and "lastIndex(0)" in verdict.panics[0].message
    assert verdict.headline(0.0).startswith("etcd-1 panicked in raft.(*raftLog).commitTo (log.go:237): tocommit(")


def test_a_forced_new_cluster_is_two_clusters_that_lost_writes():
    _, verdict = judged("force-new-cluster-inplace-restart")
    assert {"lost-writes", "split-brain", "diverged-member", "not-linearizable"} <= set(verdict.reasons)
    assert "undecided" not in verdict.reasons
    # the history alone proves it: two acknowledged operations gave one revision different contents
    assert verdict.headline(0.0).startswith("two clusters acknowledged revision ")


def test_writes_only_a_fragment_holds_are_lost_and_those_the_majority_holds_are_lagging():
    _, verdict = judged("force-new-cluster-inplace-restart")
    assert verdict.lost_writes and all(w.kind == LOST and len(w.held_by) < 2 for w in verdict.lost_writes)
    assert verdict.lagging_writes and all(w.kind == LAGGING and len(w.held_by) >= 2 for w in verdict.lagging_writes)
    assert {w.voters for w in verdict.lost_writes + verdict.lagging_writes} == {3}


def test_a_deployment_that_kept_every_write_passes_with_nothing_lagging():
    _, verdict = judged("reconcile-learner-inplace-restart")
    assert (verdict.verdict, verdict.reasons, verdict.headline(0.0)) == ("pass", [], "")
    assert (verdict.lost_writes, verdict.lagging_writes, verdict.undecided_writes, verdict.one_cluster) == ([], [], [], [])


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.iterdir()))
def test_every_kept_history_uses_the_current_format_once_loaded(name):
    history = History.load(DATA / name / "history.json.gz")
    assert history.started == 0.0 and history.ended > 0
    assert all(0.0 <= op.invoke <= history.ended for op in history.operations)


def test_writes_etcd_gave_one_revision_twice_are_lost_even_when_a_member_cannot_be_read():
    _, verdict = judged("force-new-cluster-unread-member")
    assert {"lost-writes", "split-brain", "diverged-member", "undecided"} <= set(verdict.reasons)
    assert verdict.lost_writes and {w.kind for w in verdict.lost_writes} == {CONTESTED}
    assert verdict.lost_writes[0].describe(0.0).startswith("/chaos/register/4: client-3 put 'client-3-120'")


def test_a_rebuild_whose_second_removal_etcd_refused_keeps_quorum_and_passes():
    history, verdict = judged("seed-wipe-always-serialized-rebuild")
    assert (verdict.verdict, verdict.reasons) == ("pass", [])
    hooks = [e for e in history.events if e.kind == "pre-stop"]
    assert "unhealthy cluster" in hooks[1].detail["output"] and "removed from cluster" in hooks[1].detail["output"]
    first_back = next(e.time for e in history.events if e.kind == "pod-ready" and e.time > hooks[0].time)
    assert first_back < hooks[1].time, "the first member rejoined before the second one left"
