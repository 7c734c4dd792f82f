
from clusters.local.probes import ProbeSet, ProbeState
from clusters.manifests import Probe


def probe(name, **kw):
    """Probes are values; the exec command tells them apart in the fake check."""
    return Probe("exec", command=(name,), period=kw.pop("period", 1.0), **kw)


class Check:
    """Fake prober: the result per probe name, and every call it saw."""

    def __init__(self, **results):
        self.results = results
        self.calls = []

    def __call__(self, p):
        self.calls.append(p.command[0])
        return self.results[p.command[0]]


def test_initial_results_readiness_false_liveness_true():
    probes = ProbeSet.for_container(None, probe("live"), probe("ready"), now=0.0)
    assert probes.readiness.result is False
    assert probes.liveness.result is True
    assert probes.started and not probes.ready


def test_no_readiness_probe_means_ready_once_started():
    assert ProbeSet.for_container(None, None, None, now=0.0).ready is True
    assert ProbeSet.for_container(None, probe("live"), None, now=0.0).ready is True


def test_readiness_needs_success_threshold_consecutive_successes():
    probes = ProbeSet.for_container(None, None, probe("ready", success_threshold=2), now=0.0)
    check = Check(ready=True)
    assert probes.run_due(0.0, check) is None and not probes.ready
    assert probes.run_due(1.0, check) is None and probes.ready


def test_readiness_drops_only_after_failure_threshold_consecutive_failures():
    probes = ProbeSet.for_container(None, None, probe("ready", failure_threshold=3), now=0.0)
    check = Check(ready=True)
    probes.run_due(0.0, check)
    assert probes.ready
    check.results["ready"] = False
    probes.run_due(1.0, check)
    probes.run_due(2.0, check)
    assert probes.ready  # two failures
    check.results["ready"] = True
    probes.run_due(3.0, check)  # a success resets the failure count
    check.results["ready"] = False
    probes.run_due(4.0, check)
    probes.run_due(5.0, check)
    assert probes.ready
    probes.run_due(6.0, check)
    assert not probes.ready
    assert check.calls == ["ready"] * 7


def test_liveness_failure_demands_restart_at_the_threshold():
    probes = ProbeSet.for_container(None, probe("live", failure_threshold=3), None, now=0.0)
    check = Check(live=False)
    assert [probes.run_due(t, check) for t in (0.0, 1.0, 2.0)] == [None, None, "liveness"]


def test_probes_wait_for_initial_delay_then_their_period():
    probes = ProbeSet.for_container(None, None, probe("ready", initial_delay=5.0, period=2.0), now=10.0)
    check = Check(ready=True)
    assert probes.next_due() == 15.0
    probes.run_due(14.9, check)
    assert check.calls == []
    probes.run_due(15.0, check)
    assert check.calls == ["ready"] and probes.next_due() == 17.0
    probes.run_due(16.5, check)
    assert check.calls == ["ready"]


def test_startup_probe_gates_liveness_and_readiness():
    probes = ProbeSet.for_container(probe("start", failure_threshold=5), probe("live"), None, now=0.0)
    check = Check(start=False, live=False)
    assert not probes.started and not probes.ready  # no readiness probe, yet not ready before startup
    assert [p.probe.command[0] for p in probes.active()] == ["start"]
    for t in (0.0, 1.0, 2.0):
        assert probes.run_due(t, check) is None
    assert check.calls == ["start"] * 3  # liveness never ran, so it could not kill the container
    check.results["start"] = True
    probes.run_due(3.0, check)
    assert probes.started and probes.ready
    assert [p.probe.command[0] for p in probes.active()] == ["live"]
    probes.run_due(4.0, check)
    assert check.calls[-1] == "live"


def test_startup_failure_threshold_demands_restart():
    probes = ProbeSet.for_container(probe("start", failure_threshold=2), None, probe("ready"), now=0.0)
    check = Check(start=False)
    assert [probes.run_due(t, check) for t in (0.0, 1.0)] == [None, "startup"]
    assert not probes.started and not probes.ready


def test_probe_state_record_counts_consecutive_results():
    state = ProbeState(probe("x", success_threshold=2, failure_threshold=2), result=False, next_due=0.0)
    state.record(True, now=1.0)
    assert (state.result, state.successes, state.failures, state.next_due) == (False, 1, 0, 2.0)
    state.record(True, now=2.0)
    assert state.result is True
    state.record(False, now=3.0)
    assert (state.result, state.successes, state.failures) == (True, 0, 1)
    state.record(False, now=4.0)
    assert state.result is False


def test_initial_delay_counts_from_container_start_not_startup_success():
    probes = ProbeSet.for_container(probe("start"), None, probe("ready", initial_delay=3.0), now=0.0)
    check = Check(start=False, ready=True)
    for t in range(5):
        probes.run_due(float(t), check)
    check.results["start"] = True
    probes.run_due(5.0, check)  # started at 5 s, long after the 3 s initial delay
    probes.run_due(6.0, check)
    assert check.calls[-1] == "ready" and probes.ready
