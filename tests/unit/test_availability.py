import pytest
from histories import END, START, cas, get, history, put

from clusters.observe import MemberView
from harness.checkers.availability import (
    OUTAGE_GAP,
    Availability,
    availability,
    max_write_outage,
    outage_gaps,
    proves_quorum,
    recovery_time,
)
from harness.history import FaultWindow


def committed(at, **kw):
    """A put answered ok exactly at ``START + at``."""
    return put("c1", "/k", "v", at - 0.5, took=0.5, **kw)


def fault(start, end, **kw):
    return FaultWindow("pod-delete", ["etcd-0"], START + start, START + end, **kw)


@pytest.mark.parametrize(
    ("op", "proves"),
    [
        (put("c1", "/k", "a", 1), True),
        (get("c1", "/k", "a", 1), True),
        (cas("c1", "/k", "x", "b", 1, succeeded=False), True),  # the comparison went through raft too
        (get("c1", "/k", "a", 1, serializable=True), False),  # one member answers alone
        (put("c1", "/k", "a", 1, outcome="fail"), False),
        (put("c1", "/k", "a", 1, outcome="unknown"), False),
        (put("c1", "/k", "a", 1, outcome=None), False),
    ],
)
def test_what_proves_a_quorum(op, proves):
    assert proves_quorum(op) is proves


def test_outage_gaps_run_from_the_first_fault_that_ran_to_the_end_longest_first():
    h = history(
        faults=[fault(2, 3, skipped="not recovered from the step before"), fault(15, 16), fault(10, 11)],
        operations=[
            committed(5),  # before the first fault that ran: not counted
            committed(12),
            committed(14, outcome="fail"),
            get("c1", "/k", "v", 19.5, took=0.5, serializable=True),
            committed(20),
        ],
    )
    assert outage_gaps(h) == [(START + 20, END), (START + 12, START + 20), (START + 10, START + 12)]
    assert max_write_outage(h) == pytest.approx(10.0)


def test_without_faults_gaps_run_from_the_start():
    h = history(operations=[committed(1), committed(25)])
    assert outage_gaps(h) == [(START + 1, START + 25), (START + 25, END), (START, START + 1)]


def test_a_cluster_that_never_commits_again_is_out_until_the_end():
    h = history(faults=[fault(10, 11)], operations=[committed(9)])
    # Over the run from the first call (8.5 s): only its half second was up.
    assert availability(h).quorum_fraction == pytest.approx(1 - 21 / 21.5)
    assert max_write_outage(h) == pytest.approx(20.0)


def test_quorum_fraction_counts_only_gaps_longer_than_the_outage_gap():
    assert OUTAGE_GAP == 1.0
    # From the first call at 10.5 s: gaps of 0.5, 0.5, 3.5, 0.5, 13.5 and 1.0 s; only 3.5 + 13.5 s are down.
    ops = [committed(t) for t in (11, 11.5, 15, 15.5, 29)]
    result = availability(history(faults=[fault(10, 12)], operations=ops))
    assert result.quorum_fraction == pytest.approx(1 - 17 / 19.5)
    assert result.longest_outage_s == pytest.approx(13.5)


def test_steady_commits_are_full_availability():
    ops = [committed(t) for t in range(11, 31)]
    assert availability(history(faults=[fault(10, 12)], operations=ops)).quorum_fraction == 1.0


# --- recovery -----------------------------------------------------------------------------------


@pytest.fixture
def observed(make_snapshot, make_views):
    """Snapshots at ``START + t``, whole or with etcd-0 down."""

    def build(*states):
        down = make_views()
        down[0] = MemberView("etcd-0", None, error="pod is Pending")
        return [make_snapshot(make_views() if whole else down, time=START + t) for t, whole in states]

    return build


def test_recovery_is_from_the_last_heal_to_the_start_of_the_final_healthy_run(observed):
    h = history(
        faults=[fault(5, 6), fault(10, 12), fault(20, 28, skipped="the backend cannot do it")],
        snapshots=observed((6.5, False), (13, True), (14, False), (16, True), (28, True)),
    )
    assert h.healed == START + 12
    assert recovery_time(h) == pytest.approx(4.0)


def test_a_cluster_healthy_only_before_the_heal_never_recovered(observed):
    h = history(faults=[fault(10, 12)], snapshots=observed((5, True), (11, True), (13, False), (29, False)))
    assert recovery_time(h) is None


def test_a_cluster_that_falls_over_after_looking_whole_never_recovered(observed):
    h = history(faults=[fault(10, 12)], snapshots=observed((13, True), (20, True), (29, False)))
    assert recovery_time(h) is None


def test_recovery_without_faults_is_from_the_start(observed):
    assert recovery_time(history(snapshots=observed((1, False), (3, True)))) == pytest.approx(3.0)


def test_availability_puts_the_three_together(observed):
    h = history(
        faults=[fault(10, 12)],
        operations=[committed(t) for t in (11, 18, 30)],
        snapshots=observed((13, False), (14.5, True), (30, True)),
    )
    # From the first call at 10.5 s: down from 11 s to 18 s and from 18 s to the end (30 s); whole from 14.5 s.
    expected = Availability(quorum_fraction=pytest.approx(1 - 19 / 19.5), longest_outage_s=12.0, recovery_s=2.5)
    assert availability(h) == expected
