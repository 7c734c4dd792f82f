"""One scenario step (inject, hold, heal), what the runner records of it, and how the verdict reads it."""

import random
import time
from pathlib import Path

import pytest

import faults
from clusters.backend import Unsupported
from clusters.observe import MemberView
from clusters.strategy import Strategy
from faults import Fault, FaultError
from harness import scenario
from harness.checkers.availability import max_write_outage
from harness.history import FaultWindow, History, Operation
from harness.verdict import judge


class Scripted(Fault):
    """A fault that records what the runner did with it and fails where it is told to."""

    name = "scripted"
    default_target = "leader"

    def __init__(self, *, hold=0.0, inject_error=None, heal_error=None, reason=None):
        super().__init__()
        self.hold = hold
        self.inject_error, self.heal_error, self.reason = inject_error, heal_error, reason
        self.calls = []
        self.contexts = []

    def unavailable(self, cluster):
        return self.reason

    def inject(self, cluster, ctx):
        self.calls.append("inject")
        self.contexts.append(ctx)
        if self.inject_error:
            raise self.inject_error
        return ["etcd-1"]

    def heal(self, cluster, ctx):
        self.calls.append("heal")
        if self.heal_error:
            raise self.heal_error


@pytest.fixture
def observed(monkeypatch, make_snapshot, make_views):
    """Replace asking etcd with a current snapshot; ``observed.healthy = False`` breaks a follower."""

    class Observer:
        def __init__(self):
            self.healthy = True
            self.taken = []

        def __call__(self, cluster, timeout=0.5):
            views = make_views()
            if not self.healthy:
                views[2] = MemberView("etcd-2", None, error="pod is Pending")
            self.taken.append(make_snapshot(views, time=time.monotonic()))  # as observe.snapshot stamps it
            return self.taken[-1]

    observer = Observer()
    monkeypatch.setattr(scenario.observe, "snapshot", observer)
    return observer


def run_step(cluster, fault):
    history = History(meta={"started": time.monotonic()})
    rng = random.Random(0)
    return scenario._run_fault(cluster, fault, rng, history), history, rng


def test_inject_hold_heal(make_cluster, observed):
    cluster, fault = make_cluster(), Scripted(hold=0.05)
    window, history, rng = run_step(cluster, fault)
    assert fault.calls == ["inject", "heal"]
    assert (window.fault, window.targets, window.error, window.skipped) == ("scripted", ["etcd-1"], None, None)
    assert window.start <= window.injected
    assert window.end - window.injected >= 0.05  # held before healing
    [ctx] = fault.contexts
    assert (ctx.rng, ctx.snapshot, ctx.events) == (rng, observed.taken[0], cluster.events)
    assert history.snapshots == observed.taken  # the view the targets were chosen from is kept


@pytest.mark.parametrize(
    ("inject_error", "heal_error", "recorded"),
    [
        pytest.param(FaultError("no pod is running"), None, "inject: no pod is running", id="inject-fault-error"),
        pytest.param(Unsupported("cannot cut"), None, "inject: cannot cut", id="inject-unsupported"),
        pytest.param(None, FaultError("still cordoned"), "heal: still cordoned", id="heal"),
        pytest.param(FaultError("drain timed out"), Unsupported("no"), "inject: drain timed out; heal: no", id="both"),
    ],
)
def test_a_failing_step_is_still_healed_and_the_error_recorded(
    make_cluster, observed, inject_error, heal_error, recorded
):
    fault = Scripted(inject_error=inject_error, heal_error=heal_error)
    window, _, _ = run_step(make_cluster(), fault)
    assert fault.calls == ["inject", "heal"]
    assert (window.error, window.skipped) == (recorded, None)
    assert window.end >= window.start


def test_a_failed_inject_hits_nothing_and_is_not_held(make_cluster, observed):
    fault = Scripted(hold=5.0, inject_error=FaultError("no pod is running"))
    began = time.monotonic()
    window, _, _ = run_step(make_cluster(), fault)
    assert (window.targets, window.injected) == ([], None)
    assert time.monotonic() - began < 1.0


def test_an_unexpected_inject_error_propagates_after_heal(make_cluster, observed):
    fault = Scripted(inject_error=RuntimeError("bug in the fault"))
    with pytest.raises(RuntimeError, match="bug in the fault"):
        run_step(make_cluster(), fault)
    assert fault.calls == ["inject", "heal"]


def test_an_unavailable_fault_is_recorded_as_skipped_without_touching_the_cluster(make_cluster, observed):
    cluster, fault = make_cluster(), Scripted(reason="scripted skipped: the local backend cannot do magic")
    window, history, _ = run_step(cluster, fault)
    assert fault.calls == []
    assert (window.skipped, window.targets, window.error) == ("scripted skipped: the local backend cannot do magic", [], None)
    assert window.start == window.end
    assert (observed.taken, history.snapshots) == ([], [])
    [event] = cluster.events.since(0)
    assert (event.kind, event.detail) == ("fault-skipped", {"fault": "scripted", "reason": window.skipped})


# --- the runner over a whole schedule ---------------------------------------------


class SilentWorkload:
    """The workload, calling nothing."""

    def __init__(self, cluster, spec, seed):
        pass

    def start(self):
        pass

    def stop(self):
        return []


@pytest.fixture
def scenario_cluster(monkeypatch, make_cluster, observed):
    monkeypatch.setattr(scenario.observe, "wait_healthy", lambda cluster, timeout: None)
    monkeypatch.setattr(scenario, "Workload", SilentWorkload)
    monkeypatch.setattr(scenario.observe, "stores", lambda cluster: [])
    cluster = make_cluster()
    cluster.strategy = Strategy("fake", "a fake strategy", Path(), None)
    return cluster


def run_schedule(cluster, spec):
    timing = scenario.Timing(warmup=0.0, recovery_timeout=0.25, settle=0.0)
    return scenario.run(cluster, faults.plan(spec, 0, []), seed=0, timing=timing)


def test_each_step_runs_once_the_cluster_recovered(scenario_cluster):
    result = run_schedule(scenario_cluster, "pod-delete+leader-kill")
    assert [(w.fault, w.targets, w.skipped) for w in result.windows] == [
        ("pod-delete", ["etcd-0"], None),
        ("leader-kill", ["etcd-0"], None),
    ]
    assert [call[0] for call in scenario_cluster.calls] == ["delete_pods", "signal_etcd"]
    assert (result.verdict.verdict, result.skipped) == ("pass", None)


def test_steps_after_one_the_cluster_did_not_recover_from_are_skipped(scenario_cluster, observed):
    observed.healthy = False
    result = run_schedule(scenario_cluster, "pod-delete+leader-kill")
    assert [(w.fault, w.skipped) for w in result.windows] == [
        ("pod-delete", None),
        ("leader-kill", "the cluster had not recovered from the step before"),
    ]
    assert [call[0] for call in scenario_cluster.calls] == ["delete_pods"]
    assert "not-recovered" in result.verdict.reasons
    assert result.skipped is None  # one step did run


def test_a_schedule_whose_every_step_is_skipped_says_why(scenario_cluster):
    scenario_cluster.capabilities.clear()
    result = run_schedule(scenario_cluster, "partition")
    assert result.skipped == "partition skipped: the local backend cannot do network-cut"
    assert scenario_cluster.calls == []


# --- the verdict on fault windows ------------------------------------------------------


def history_of(windows, make_snapshot):
    """30 s of writes acknowledged every 4 s from 111 on, and a healthy cluster from 112 on."""
    return History(
        meta={"started": 100.0, "ended": 130.0},
        operations=[
            Operation("w", "put", "k", "v", "e", invoke=t - 0.1, complete=t, outcome="ok")
            for t in (101.0, 111.0, 115.0, 119.0, 123.0, 127.0)
        ],
        snapshots=[make_snapshot(time=112.0), make_snapshot(time=130.0)],
        faults=windows,
    )


FAULT = FaultWindow("pod-delete", ["etcd-0"], 110.0, 111.0, injected=110.5)


@pytest.mark.parametrize(
    ("error", "reasons"), [(None, []), ("inject: drain timed out", ["fault-incomplete"])], ids=["complete", "incomplete"]
)
def test_judge_fails_a_fault_that_did_not_fully_take_effect(make_snapshot, error, reasons):
    window = FaultWindow("node-drain", ["etcd-0"], 110.0, 111.0, error=error)
    verdict = judge(history_of([window], make_snapshot), outage_budget=5.0)
    assert verdict.reasons == reasons
    assert verdict.fault_errors == ([f"node-drain: {error}"] if error else [])


def test_skipped_steps_neither_start_the_outage_nor_end_the_faults(make_snapshot):
    skipped = [
        FaultWindow("partition", [], 102.0, 102.0, skipped="partition skipped: no network-cut"),
        FaultWindow("pause", [], 125.0, 125.0, skipped="the cluster had not recovered from the step before"),
    ]
    verdict = judge(history_of([skipped[0], FAULT, skipped[1]], make_snapshot), outage_budget=5.0)
    assert (verdict.verdict, verdict.reasons) == ("pass", [])
    assert verdict.max_write_outage_s == 4.0  # from the fault at 110, not the skipped step at 102
    assert verdict.recovery_s == 1.0  # from the heal at 111, not the skipped step at 125


def test_with_every_step_skipped_the_outage_runs_from_the_start(make_snapshot):
    skipped = FaultWindow("partition", [], 102.0, 102.0, skipped="partition skipped: no network-cut")
    assert max_write_outage(history_of([skipped], make_snapshot)) == 10.0  # 101 → 111
