import pytest
from histories import END, START, cas, get, history, put

from clusters.events import Event
from clusters.observe import MemberView
from harness.checkers.availability import (
    OUTAGE_GAP,
    Availability,
    Outage,
    availability,
    majority_taken,
    max_write_outage,
    outage_gaps,
    proves_quorum,
    recovery_time,
    worst_outage,
)
from harness.history import FaultWindow
from harness.verdict import judge


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


def test_the_final_reads_after_the_traffic_are_no_outage():
    """The clients stop, then every store is read: on a loaded machine that took 5.9 s, and was judged quorum-lost."""
    h = history(faults=[fault(10, 11)], operations=[committed(12), committed(23.9)])
    h.meta["traffic_stopped_at"] = START + 24.0
    assert outage_gaps(h)[0] == (START + 12, START + 23.9)
    assert max_write_outage(h) == pytest.approx(11.9)
    assert availability(h).quorum_fraction == pytest.approx(1 - 11.9 / 12.5)


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
    expected = Availability(
        quorum_fraction=pytest.approx(1 - 19 / 19.5), longest_outage_s=12.0, recovery_s=2.5,
        worst=Outage(START + 18, END, 12.0),
    )
    assert availability(h) == expected


# --- what the fault alone forced ----------------------------------------------------------------


def exited(pod, at, uid, cause="deleted"):
    return Event(START + at, "container-exited", pod, {"uid": uid, "container": "etcd", "cause": cause})


def started(pod, at, uid):
    return Event(START + at, "container-started", pod, {"uid": uid, "container": "etcd", "restart_count": 0})


def rebuilt(make_snapshot, *pods_times, replicas=3, **kw):
    """A history whose pods ``(pod, exited at, replacement started at)`` were deleted and re-created."""
    events = []
    for pod, gone, back in pods_times:
        events.append(exited(pod, gone, f"old-{pod}", kw.pop(f"cause_{pod.replace('-', '_')}", "deleted")))
        if back is not None:
            events.append(started(pod, back, f"new-{pod}"))
    snapshots = [make_snapshot(replicas=replicas, time=START + t) for t in (0, 29)]
    return history(faults=[fault(10, 11)], events=events, snapshots=snapshots, **kw)


def test_a_majority_is_taken_from_the_second_exit_to_the_first_replacement(make_snapshot):
    h = rebuilt(make_snapshot, ("etcd-0", 12, 15), ("etcd-1", 11, 16))
    assert majority_taken(h) == [(START + 12, START + 15)]


def test_one_pod_of_three_is_no_majority(make_snapshot):
    assert majority_taken(rebuilt(make_snapshot, ("etcd-0", 12, 15))) == []


def test_a_crash_or_a_kill_leaves_the_pod_the_strategy_s_to_run(make_snapshot):
    h = rebuilt(make_snapshot, ("etcd-0", 12, 15), ("etcd-1", 11, 16), cause_etcd_1="crash")
    assert majority_taken(h) == []
    h = rebuilt(make_snapshot, ("etcd-0", 12, 15), ("etcd-1", 11, 16), cause_etcd_1="fault")
    assert majority_taken(h) == []


def test_the_same_pod_starting_again_is_not_a_replacement(make_snapshot):
    h = rebuilt(make_snapshot, ("etcd-0", 12, None), ("etcd-1", 11, None))
    h.events.append(started("etcd-0", 13, "old-etcd-0"))
    assert majority_taken(h) == [(START + 12, END)]  # never replaced: taken to the end


def test_pods_scaled_away_are_no_members_to_wait_for(make_snapshot):
    h = rebuilt(make_snapshot, ("etcd-3", 12, None), ("etcd-4", 12.5, None), ("etcd-0", 13, 14), replicas=5)
    h.snapshots.insert(1, make_snapshot(replicas=3, time=START + 11.5))
    assert majority_taken(h) == []


def test_only_the_strategy_s_part_of_an_outage_is_charged(make_snapshot):
    # No commit from 11 s to 21 s; a majority was gone from 12 s to 15 s.
    h = rebuilt(make_snapshot, ("etcd-0", 12, 15), ("etcd-1", 11, 16), operations=[committed(t) for t in (11, *range(21, 31))])
    worst = worst_outage(h)
    assert (worst.start, worst.end) == (START + 11, START + 21)
    assert (worst.charged_s, worst.excused_s) == (pytest.approx(7.0), pytest.approx(3.0))
    assert availability(h).longest_outage_s == pytest.approx(10.0)  # as measured, still reported


def test_quorum_lost_judges_the_charged_time(make_snapshot):
    ops = [committed(t) for t in (11, *range(21, 31))]
    h = rebuilt(make_snapshot, ("etcd-0", 12, 15), ("etcd-1", 11, 16), operations=ops)
    assert judge(h, outage_budget=7.5).reasons == []
    v = judge(h, outage_budget=5.0)
    assert "quorum-lost" in v.reasons
    assert v.outage_line(START) == (
        "nothing committed for 10.000 s (from 11.0 s to 21.0 s), 7.000 s of it with a majority of the pods running"
        " (3.0 s while deleted pods were not yet re-created)"
    )
    plain = judge(history(faults=[fault(10, 11)], operations=ops), outage_budget=5.0)
    assert plain.outage_line(START) == "nothing committed for 10.000 s (from 11.0 s to 21.0 s)"


def test_the_worst_outage_is_the_most_charged_not_the_longest(make_snapshot):
    # 11 → 21 s is longest but 9 s of it excused; 21 → 27 s is all the strategy's.
    h = rebuilt(make_snapshot, ("etcd-0", 11.5, 20.5), ("etcd-1", 11.5, 20.8),
                operations=[committed(t) for t in (11, 21, 27, 28, 29, 30)])
    worst = worst_outage(h)
    assert (worst.start, worst.end, worst.charged_s) == (START + 21, START + 27, pytest.approx(6.0))
