"""Containers the local backend must run as a kubelet would, and explain when they never come up.

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


def test_a_container_that_exits_at_once_is_explained(cluster_factory):
    cluster = cluster_factory(load_strategy(STRATEGIES / "exits-at-once"), backoff_base=1.0)
    with pytest.raises(observe.NotHealthy) as caught:
        observe.wait_healthy(cluster, timeout=6)
    err = caught.value
    assert len(err.pods) == 3, str(err)
    for pod, explanation in zip(("etcd-0", "etcd-1", "etcd-2"), err.pods):
        assert explanation.startswith(f"{pod}: "), explanation
        assert "last exits 1 (Error), 1 (Error)" in explanation, explanation
        # stdout and stderr reach the log through two pipes: their order within a millisecond is not kept
        assert sorted(err.logs[pod]) == sorted([f"starting {pod}", "etcd: unknown flag: --nme"])


def test_working_dir_and_a_volume_at_tmp(cluster_factory):
    cluster = cluster_factory(load_strategy(STRATEGIES / "workdir-tmp"))
    observe.wait_healthy(cluster, timeout=30)
    code, out = cluster.exec("etcd-0", ["sh", "-c", "pwd; ls data; stat -c %d / /tmp"])
    assert code == 0, out
    cwd, data, root_device, tmp_device = out.split()
    assert (cwd, data) == ("/var/lib/etcd/member-home", "member")  # etcd's --data-dir=data is relative to it
    assert root_device != tmp_device, "/tmp is not the emptyDir volume"


def test_a_cluster_that_never_starts_is_judged_and_kept_with_why(cluster_factory, tmp_path):
    """Not a traceback: a verdict (not-started) whose headline is the pod's own explanation, and a kept history."""
    strategy = load_strategy(STRATEGIES / "exits-at-once")
    cluster = cluster_factory(strategy, backoff_base=1.0)
    schedule = faults.plan("pod-delete", 0, strategy.pod_names)
    result = scenario.run(cluster, schedule, seed=0, timing=Timing(start_timeout=6), report_dir=tmp_path / "run")
    v = result.verdict
    assert v.verdict == "fail" and v.reasons[0] == "not-started" and set(v.reasons) <= {"not-started", "crash-loop", "panic"}
    assert v.headline(0.0).startswith("the cluster never became whole: etcd-0: ") and "last exits 1 (Error)" in v.headline(0.0)
    assert result.windows == [] and result.history.operations == []  # no traffic, no fault
    kept = History.load(tmp_path / "run" / "history.json")
    assert judge(kept, kept.meta["outage_budget"]).reasons == v.reasons
    assert any("etcd: unknown flag: --nme" in p.read_text() for p in (tmp_path / "run" / "logs").glob("etcd-0-*.log"))
