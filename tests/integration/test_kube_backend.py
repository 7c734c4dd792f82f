"""The Kubernetes-API backend on the local cluster: Kubernetes, not the harness, decides these outcomes.

Each case is a built-in strategy with one change a user could make by
mistake or on purpose, started through the same ``cluster_factory`` the
matrix uses. Where our old imitation of Kubernetes judged these wrongly,
the real API server, controllers and scheduler now do.
"""

from __future__ import annotations

import random
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from clusters import observe
from clusters.backend import Cluster, EvictionBlocked
from clusters.events import EventLog
from clusters.kube import owner
from clusters.kube.apply import ApplyError
from clusters.strategy import BUILTIN_DIR, Strategy, load_strategy
from faults.base import Context
from faults.node_faults import NodeDrain

BASE = "reconcile-learner"  # required anti-affinity over the nodes, a headless Service, a PDB of minAvailable 2

pytestmark = pytest.mark.chaos


def variant(tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Strategy:
    """The base strategy with ``edit`` applied to each of its documents."""
    target = tmp_path / BASE
    shutil.copytree(BUILTIN_DIR / BASE, target)
    for path in target.glob("*.yaml"):
        if path.name == "strategy.yaml":
            continue
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        for doc in docs:
            edit(doc)
        path.write_text(yaml.safe_dump_all(docs))
    return load_strategy(target)


def eventually(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} not within {timeout:.0f} s"
        time.sleep(0.2)


def evicted(cluster: Cluster, name: str) -> bool:
    try:
        cluster.evict(name)
    except EvictionBlocked:
        return False
    return True


def test_a_service_that_selects_no_pod_publishes_no_names(cluster_factory: Callable[..., Cluster], tmp_path: Path) -> None:
    def edit(doc: dict[str, Any]) -> None:
        if doc["kind"] == "Service":
            doc["spec"]["selector"] = {"app": "nothing"}

    cluster = cluster_factory(variant(tmp_path, edit))
    with pytest.raises(observe.NotHealthy) as failed:
        observe.wait_healthy(cluster, 45)
    logs = "\n".join(run for runs in cluster.logs().values() for run in runs)
    assert "etcd-0.etcd" in logs  # the members looked for each other by name...
    assert failed.value.pods, "...and none of them formed a cluster"


def test_a_statefulset_whose_selector_misses_its_template_is_refused_by_the_api_server(
    kube_backend: Any, tmp_path: Path
) -> None:
    from clusters.kube.cluster import KubeCluster

    def edit(doc: dict[str, Any]) -> None:
        if doc["kind"] == "StatefulSet":
            doc["spec"]["selector"] = {"matchLabels": {"app": "other"}}

    cluster = KubeCluster(variant(tmp_path, edit), kube_backend.api, kube_backend.driver, kube_backend.name, "3.5.1")
    try:
        with pytest.raises(ApplyError) as refused:
            cluster.start()
    finally:
        cluster.stop()
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("StatefulSet/etcd: the API server refused it: ")
    assert "`selector` does not match template `labels`" in message


def test_a_dry_run_names_the_refused_strategy_and_stores_nothing(kube_backend: Any, tmp_path: Path) -> None:
    from clusters.kube.cluster import DRY_RUN_PREFIX, refusals

    def edit(doc: dict[str, Any]) -> None:
        if doc["kind"] == "StatefulSet":
            doc["spec"]["selector"] = {"matchLabels": {"app": "other"}}

    api = kube_backend.api
    broken = variant(tmp_path, edit)
    [refused] = refusals(api, [load_strategy(BUILTIN_DIR / "static-dns"), broken])
    assert refused.startswith(f"{broken.directory}: StatefulSet/etcd: the API server refused it: ")
    assert "`selector` does not match template `labels`" in refused
    assert refusals(api, [load_strategy(BUILTIN_DIR / BASE)]) == []
    scratch = [  # this process's only: side by side, another worker's dry run may be under way
        meta
        for ns in api.raw(api.core.list_namespace)["items"]
        if (meta := ns["metadata"])["name"].startswith(DRY_RUN_PREFIX)
        and meta.get("annotations", {}).get(owner.ANNOTATION) == owner.this_process()
    ]
    assert all(meta.get("deletionTimestamp") for meta in scratch), "the dry run's namespace is deleted at once"
    for meta in scratch:  # and a dry run stored nothing in it
        assert api.raw(api.apps.list_namespaced_stateful_set, meta["name"])["items"] == []
        assert api.raw(api.core.list_namespaced_service, meta["name"])["items"] == []


def test_a_budget_that_selects_no_pod_does_not_block_evictions(cluster_factory: Callable[..., Cluster], tmp_path: Path) -> None:
    def edit(doc: dict[str, Any]) -> None:
        if doc["kind"] == "PodDisruptionBudget":
            doc["spec"]["selector"] = {"matchLabels": {"app": "nothing"}}

    cluster = cluster_factory(variant(tmp_path, edit))
    observe.wait_healthy(cluster, 90)
    for name in ("etcd-0", "etcd-1"):  # two at once: a budget of minAvailable 2 on these pods would refuse the second
        cluster.evict(name)


def test_the_budget_refuses_a_second_eviction(cluster_factory: Callable[..., Cluster], tmp_path: Path) -> None:
    cluster = cluster_factory(variant(tmp_path, lambda doc: None))
    observe.wait_healthy(cluster, 90)
    eventually(lambda: evicted(cluster, "etcd-0"), 30, "the budget allowing one disruption")  # once it has seen 3 Ready
    with pytest.raises(EvictionBlocked, match="disruption budget"):
        cluster.evict("etcd-1")


def test_a_drained_member_under_required_anti_affinity_waits_for_its_node(
    cluster_factory: Callable[..., Cluster], tmp_path: Path
) -> None:
    cluster = cluster_factory(variant(tmp_path, lambda doc: None))
    observe.wait_healthy(cluster, 90)
    node = cluster.pod("etcd-1").node
    assert node
    drain = NodeDrain("etcd-1")  # as kubectl drain: a budget's 429 is retried, the pod waited out
    ctx = Context(random.Random(0), observe.snapshot(cluster), EventLog())
    try:
        assert drain.inject(cluster, ctx) == ["etcd-1"]
        time.sleep(3)
        status = cluster.container_status("etcd-1").state
        assert cluster.pod("etcd-1").phase == "Pending"
        assert status.startswith("not created: the pod is Pending, 0/")  # the scheduler's own words follow
    finally:
        drain.heal(cluster, ctx)
    observe.wait_healthy(cluster, 90)
    assert cluster.pod("etcd-1").node == node  # its claim's volume is on that node


def test_node_down_keeps_the_member_away_until_the_node_returns(
    cluster_factory: Callable[..., Cluster], tmp_path: Path
) -> None:
    cluster = cluster_factory(variant(tmp_path, lambda doc: None))
    observe.wait_healthy(cluster, 90)
    pod = cluster.pod("etcd-2")
    cluster.node_down(pod.node)
    try:
        eventually(lambda: "etcd-2" in " ".join(observe.snapshot(cluster).problems()), 10, "etcd-2 unreachable")
        time.sleep(5)
        assert cluster.pod("etcd-2").uid == pod.uid  # no replacement while the node may still run it
    finally:
        cluster.node_up(pod.node)
    observe.wait_healthy(cluster, 90)
    assert cluster.pod("etcd-2").uid == pod.uid and cluster.pod("etcd-2").restart_count >= 1
    exits = [e for e in cluster.events.since(0) if e.kind == "container-exited" and e.pod == "etcd-2"]
    assert exits and all(e.detail["cause"] == "fault" for e in exits)


def _wait_running(cluster: Cluster, name: str, restarts: int, timeout: float = 30.0) -> None:
    """Until the kubelet has reported run ``restarts + 1`` running: etcd may answer seconds before, under load."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = cluster.container_status(name)
        if status.state == "running" and status.restart_count == restarts:
            return
        time.sleep(0.2)
    pytest.fail(f"{name}: {cluster.container_status(name).describe()} after {timeout:.0f} s")


def test_signals_reach_the_etcd_process_and_the_logs_keep_every_run(
    cluster_factory: Callable[..., Cluster], tmp_path: Path
) -> None:
    cluster = cluster_factory(variant(tmp_path, lambda doc: None))
    observe.wait_healthy(cluster, 90)
    cluster.kill_container("etcd-0", signal.SIGKILL)
    observe.wait_healthy(cluster, 60)
    _wait_running(cluster, "etcd-0", 1)
    cluster.kill_container("etcd-0", signal.SIGKILL)
    observe.wait_healthy(cluster, 60)
    _wait_running(cluster, "etcd-0", 2)
    deadline = time.monotonic() + 30  # the third run's log is followed once its start is seen, a moment after
    while time.monotonic() < deadline and not (len(cluster.logs()["etcd-0"]) == 3 and "etcd" in cluster.logs()["etcd-0"][-1]):
        time.sleep(0.2)
    runs = cluster.logs()["etcd-0"]
    assert len(runs) == 3 and all("etcd" in run for run in runs)
    assert cluster.container_status("etcd-0").restart_count == 2
