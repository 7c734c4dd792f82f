"""Smoke tests of the local Kubernetes itself: the semantics the verdicts rest on are Kubernetes' own.

One cluster for the module (the ``local_kubernetes`` session fixture), one
built-in strategy applied unchanged in its own namespace. Each case that
disrupts it waits until the StatefulSet is whole again before it ends, so the
cases do not depend on their order.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import time
from collections.abc import Callable, Iterator

import pytest

from clusters.localkube.cluster import ClusterError, Running, wait_for
from clusters.strategy import discover

NAMESPACE = "smoke"
STRATEGY = "static-dns"  # required anti-affinity, a headless Service, a PDB of minAvailable 2
TIMEOUT = 90.0


def _pods(kube: Running) -> dict[str, dict]:
    items = kube.kubectl.json("-n", NAMESPACE, "get", "pods", "-l", "app=etcd")["items"]
    return {p["metadata"]["name"]: p for p in items}


def _ready(pod: dict) -> bool:
    conditions = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions", [])}
    return conditions.get("Ready") == "True" and pod["metadata"].get("deletionTimestamp") is None


def _whole(kube: Running) -> Callable[[], bool]:
    return lambda: sum(_ready(p) for p in _pods(kube).values()) == 3


@pytest.fixture(scope="module")
def kube(local_kubernetes: Running) -> Iterator[Running]:
    strategy = discover([])[STRATEGY]
    local_kubernetes.kubectl("create", "namespace", NAMESPACE)
    for manifest in sorted(strategy.directory.glob("*.yaml")):
        if manifest.name != "strategy.yaml":
            local_kubernetes.kubectl("-n", NAMESPACE, "apply", "-f", str(manifest))
    wait_for(f"{STRATEGY} 3/3 Ready", _whole(local_kubernetes), TIMEOUT)
    yield local_kubernetes
    local_kubernetes.kubectl("delete", "namespace", NAMESPACE, "--wait=true", timeout=TIMEOUT)


@pytest.fixture
def whole_after(kube: Running) -> Iterator[Running]:
    yield kube
    wait_for(f"{STRATEGY} whole again", _whole(kube), TIMEOUT)


def _exec(kube: Running, pod: str, *command: str) -> str:
    return kube.kubectl("-n", NAMESPACE, "exec", pod, "-c", "etcd", "--", *command)


def test_members_are_ready_one_per_node_with_their_volumes(kube: Running) -> None:
    pods = _pods(kube)
    assert sorted(pods) == ["etcd-0", "etcd-1", "etcd-2"]
    assert len({p["spec"]["nodeName"] for p in pods.values()}) == 3
    nodes = {n["metadata"]["name"]: n for n in kube.kubectl.json("get", "nodes")["items"]}
    zones = {n["metadata"]["labels"].get("topology.kubernetes.io/zone") for n in nodes.values()}
    assert zones == {"zone-a", "zone-b", "zone-c"}, zones
    for pod in pods.values():  # each pod's address comes from its node's range
        cidr = ipaddress.ip_network(nodes[pod["spec"]["nodeName"]]["spec"]["podCIDR"])
        assert ipaddress.ip_address(pod["status"]["podIP"]) in cidr
    claims = kube.kubectl.json("-n", NAMESPACE, "get", "pvc")["items"]
    assert sorted(c["status"]["phase"] for c in claims) == ["Bound"] * 3
    members = _exec(kube, "etcd-0", "etcdctl", "member", "list")
    assert members.count("started") == 3, members


def test_pods_resolve_each_other_through_cluster_dns(kube: Running) -> None:
    pods = _pods(kube)
    answer = _exec(kube, "etcd-0", "nslookup", f"etcd-2.etcd.{NAMESPACE}.svc.cluster.local")
    assert pods["etcd-2"]["status"]["podIP"] in answer, answer
    resolver = _exec(kube, "etcd-1", "cat", "/etc/resolv.conf")
    assert f"search {NAMESPACE}.svc.cluster.local svc.cluster.local cluster.local" in resolver, resolver
    # <pod>.<service> through the search list, as etcd's own (Go) resolver looks peers up
    health = _exec(kube, "etcd-1", "etcdctl", "--endpoints=http://etcd-0.etcd:2379", "endpoint", "health")
    assert "is healthy" in health, health


def test_getent_counts_the_headless_services_addresses_as_bitnamis_scripts_do(kube: Running) -> None:
    """The self-healing strategies' scripts run ``getent ahosts <service>``, as Bitnami's (glibc) image would."""
    ips = sorted(p["status"]["podIP"] for p in _pods(kube).values())
    answer = _exec(kube, "etcd-0", "sh", "-c", "getent ahosts etcd | awk '{ print $1 }' | sort -u")
    assert sorted(answer.split()) == ips, answer  # a short name, through the search list
    lines = _exec(kube, "etcd-0", "getent", "ahosts", f"etcd.{NAMESPACE}.svc.cluster.local").splitlines()
    assert [line.split()[1] for line in lines[:3]] == ["STREAM", "DGRAM", "RAW"], lines  # glibc's format
    unknown = _exec(kube, "etcd-0", "sh", "-c", f"getent hosts nothing.{NAMESPACE}.svc.cluster.local.; echo status=$?")
    assert unknown.strip() == "status=2", unknown  # glibc's status for a name not found


def test_a_service_that_selects_no_pod_has_no_endpoints_and_no_name(kube: Running) -> None:
    kube.kubectl("-n", NAMESPACE, "apply", "-f", "-", stdin=json.dumps({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "nobody"},
        "spec": {"clusterIP": "None", "selector": {"app": "no-such-app"}, "ports": [{"port": 2379}]},
    }))
    time.sleep(2)  # the endpoint-slice controller has had its chance
    slices = kube.kubectl.json("-n", NAMESPACE, "get", "endpointslices", "-l", "kubernetes.io/service-name=nobody")
    assert all(not s.get("endpoints") for s in slices["items"])
    with pytest.raises(ClusterError):
        _exec(kube, "etcd-0", "nslookup", f"nobody.{NAMESPACE}.svc.cluster.local")


def _evict(kube: Running, pod: str) -> None:
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": NAMESPACE}}
    kube.kubectl("create", "--raw", f"/api/v1/namespaces/{NAMESPACE}/pods/{pod}/eviction", "-f", "-",
                 stdin=json.dumps(body))


def test_an_eviction_beyond_the_budget_is_refused_with_429(whole_after: Running) -> None:
    kube = whole_after
    _evict(kube, "etcd-0")
    with pytest.raises(ClusterError, match="429|disruption budget"):
        _evict(kube, "etcd-1")


def test_a_drained_member_with_required_anti_affinity_stays_pending(whole_after: Running) -> None:
    kube = whole_after
    node = _pods(kube)["etcd-1"]["spec"]["nodeName"]
    kube.kubectl("cordon", node)
    try:
        _evict(kube, "etcd-1")

        def pending() -> bool:
            pod = _pods(kube).get("etcd-1")
            return pod is not None and pod["status"].get("phase") == "Pending" and _ready(pod) is False

        wait_for("a new etcd-1, Pending", pending, TIMEOUT)
        time.sleep(3)
        pod = _pods(kube)["etcd-1"]
        assert pod["status"]["phase"] == "Pending" and not pod["spec"].get("nodeName"), pod["status"]
    finally:
        kube.kubectl("uncordon", node)


def test_logs_and_previous_logs_after_an_in_place_kill(whole_after: Running) -> None:
    kube = whole_after
    pod = _pods(kube)["etcd-2"]
    node = pod["spec"]["nodeName"]
    pid = kube.container_pid(node, NAMESPACE, "etcd-2", "etcd")
    os.kill(pid, signal.SIGKILL)  # the kubelet restarts it in place: same pod object, last exit 137

    def restarted() -> bool:
        status = _pods(kube)["etcd-2"]["status"]["containerStatuses"][0]
        return status["restartCount"] >= 1 and "running" in status["state"]

    wait_for("etcd-2 restarted in place", restarted, TIMEOUT)
    again = _pods(kube)["etcd-2"]
    assert again["metadata"]["uid"] == pod["metadata"]["uid"]
    assert again["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 137
    previous = kube.kubectl("-n", NAMESPACE, "logs", "etcd-2", "-c", "etcd", "--previous")
    current = kube.kubectl("-n", NAMESPACE, "logs", "etcd-2", "-c", "etcd")
    assert "etcd-2" in previous and "etcd-2" in current
    assert previous != current
