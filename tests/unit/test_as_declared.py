"""pytest's outcome of a matrix cell agrees with the matrix's '!' (results.as_declared) in every case."""

from __future__ import annotations

import pytest

from clusters.strategy import KnownFailure
from harness import results
from clusters.events import Event
from harness.checkers.availability import Availability, Outage
from harness.plugin import DeclaredFailure, assert_as_declared
from harness.history import FaultWindow, History, Operation
from harness.scenario import ScenarioResult
from harness.verdict import Verdict, judge

PASS = ("pass", [])
PANIC = ("fail", ["panic", "crash-loop"])
QUORUM = ("fail", ["quorum-lost"])
UNDECIDED = ("undecided", ["undecided"])
DECLARED = KnownFailure("panic", "an empty member restarts under its old ID")
SOMETIMES = KnownFailure("panic", "a race", sometimes=True)


def result(verdict: tuple[str, list[str]], known: KnownFailure | None) -> ScenarioResult:
    judged = Verdict(verdict[0], verdict[1], Availability(1.0, 0.0, 0.5, Outage(0.0, 0.0, 0.0)))
    return ScenarioResult("mine", "inplace-restart", "local", "3.5.1", 0, known, judged, 30.0)


@pytest.mark.parametrize(
    ("verdict", "known", "outcome"),
    [
        (PASS, None, "passed"),
        (QUORUM, None, AssertionError),
        (UNDECIDED, None, AssertionError),
        (PANIC, DECLARED, DeclaredFailure),
        (QUORUM, DECLARED, AssertionError),  # declared, but failed for another reason
        (PASS, DECLARED, AssertionError),  # declared to fail, and passed
        (UNDECIDED, DECLARED, AssertionError),
        (PASS, SOMETIMES, "passed"),
        (PANIC, SOMETIMES, DeclaredFailure),
        (QUORUM, SOMETIMES, AssertionError),
    ],
    ids=["pass", "undeclared-fail", "undeclared-undecided", "declared-fail", "declared-other-reason",
         "declared-passed", "declared-undecided", "sometimes-pass", "sometimes-fail", "sometimes-other-reason"],
)
def test_pytest_agrees_with_the_matrix(verdict, known, outcome):
    run = result(verdict, known)
    as_declared = results.as_declared(run.record())
    if outcome == "passed":
        assert as_declared
        assert_as_declared(run)
        return
    assert as_declared == (outcome is DeclaredFailure)
    with pytest.raises(outcome) as caught:
        assert_as_declared(run)
    if outcome is AssertionError and known and verdict != PASS:
        assert f"(declared: {known.reason})" in str(caught.value)


def test_the_record_keeps_the_declaration():
    assert result(PANIC, SOMETIMES).record()["declared"] == {"reason": "panic", "why": "a race", "sometimes": True, "etcd": None}
    assert result(PASS, None).record()["declared"] is None


def test_a_quorum_lost_failure_tells_what_the_pods_did_in_the_outage(make_snapshot):
    ops = [Operation("c", "put", "/k", f"v{t}", "e", t - 0.1, t, "ok") for t in (1, 2, 12, 13)]
    events = [Event(3.0, "container-exited", "etcd-0", {"uid": "a", "cause": "crash"})]
    history = History(meta={"started": 0.0, "ended": 14.0}, operations=ops, events=events,
                      faults=[FaultWindow("pod-delete", ["etcd-0"], 2.5, 3.0)], snapshots=[make_snapshot(time=13.5)])
    run = ScenarioResult("mine", "pod-delete", "local", "3.5.1", 0, None, judge(history, 5.0), 14.0, history=history)
    with pytest.raises(AssertionError) as caught:
        assert_as_declared(run)
    assert "nothing committed for 9.500 s (from 2.5 s to 12.0 s)" in str(caught.value)  # from the fault
    assert str(caught.value).endswith("during the outage: 3.0 etcd-0 exited (crash)")
