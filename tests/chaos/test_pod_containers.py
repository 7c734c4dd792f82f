"""Containers that never come up are explained from what the kubelet reports; odd but valid ones just run.

The strategies are in tests/chaos/strategies: exits-at-once never becomes
healthy, workdir-tmp uses a workingDir and a volume at /tmp.
"""

from pathlib import Path

import pytest

import faults
from clusters import observe
from clusters.strategy import load_strategy
from harness import scenario
from harness.history import History
from harness.scenario import Timing
from harness.verdict import judge

pytestmark = pytest.mark.chaos

STRATEGIES = Path(__file__).parent / "strategies"
# Room for a claim to be provisioned and two runs of the container: the kubelet
# restarts it at once, then after its 10 s back-off.
START = 30.0


def test_a_container_that_exits_at_once_is_explained(cluster_factory):
    cluster = cluster_factory(load_strategy(STRATEGIES / "exits-at-once"))
    with pytest.raises(observe.NotHealthy) as caught:
        observe.wait_healthy(cluster, timeout=START)
    err = caught.value
    assert len(err.pods) == 3, str(err)
    for pod, explanation in zip(("etcd-0", "etcd-1", "etcd-2"), err.pods):
        assert explanation.startswith(f"{pod}: "), explanation
        assert "last exit 1 (Error)" in explanation, explanation  # the status keeps one past run
        assert err.logs[pod] == [f"starting {pod}", "etcd: unknown flag: --nme"]


def test_working_dir_and_a_volume_at_tmp(cluster_factory):
    cluster = cluster_factory(load_strategy(STRATEGIES / "workdir-tmp"))
    observe.wait_healthy(cluster, timeout=90)
    assert [(p.name, p.restart_count) for p in cluster.pods()] == [("etcd-0", 0)]


def test_a_cluster_that_never_starts_is_judged_and_kept_with_why(cluster_factory, tmp_path):
    """Not a traceback: a verdict (not-started) whose headline is the pod's own explanation, and a kept history."""
    strategy = load_strategy(STRATEGIES / "exits-at-once")
    cluster = cluster_factory(strategy)
    schedule = faults.plan("pod-delete", 0, strategy.pod_names)
    result = scenario.run(cluster, schedule, seed=0, timing=Timing(start_timeout=START), report_dir=tmp_path / "run")
    v = result.verdict
    assert v.verdict == "fail" and v.reasons[0] == "not-started" and set(v.reasons) <= {"not-started", "crash-loop", "panic"}
    # the release it ran, and etcd's own reason, in the one line
    assert v.headline(0.0).startswith(f"the cluster never became whole on etcd {cluster.etcd_version}: etcd-0: ")
    assert "last exit 1 (Error)" in v.headline(0.0) and v.headline(0.0).endswith("etcd: unknown flag: --nme")
    assert result.windows == [] and result.history.operations == []  # no traffic, no fault
    kept = History.load(tmp_path / "run" / "history.json")
    assert judge(kept, kept.meta["outage_budget"]).reasons == v.reasons
    assert any("etcd: unknown flag: --nme" in p.read_text() for p in (tmp_path / "run" / "logs").glob("etcd-0-*.log"))
