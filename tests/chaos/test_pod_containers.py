"""Containers the local backend must run as a kubelet would, and explain when they never come up.

The strategies are in tests/chaos/strategies: exits-at-once never becomes
healthy, workdir-tmp uses a workingDir and a volume at /tmp.
"""

from pathlib import Path

import pytest

from clusters import observe
from clusters.strategy import load_strategy

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
        assert err.logs[pod] == [f"starting {pod}", "etcd: unknown flag: --nme"]


def test_working_dir_and_a_volume_at_tmp(cluster_factory):
    cluster = cluster_factory(load_strategy(STRATEGIES / "workdir-tmp"))
    observe.wait_healthy(cluster, timeout=30)
    code, out = cluster.exec("etcd-0", ["sh", "-c", "pwd; ls data; stat -c %d / /tmp"])
    assert code == 0, out
    cwd, data, root_device, tmp_device = out.split()
    assert (cwd, data) == ("/var/lib/etcd/member-home", "member")  # etcd's --data-dir=data is relative to it
    assert root_device != tmp_device, "/tmp is not the emptyDir volume"
