"""node-drain as ``kubectl drain`` does it: cordon, evict what the budget allows, wait, uncordon."""

import math
import re

import pytest

import faults
from faults import FaultError, node_faults
from faults.node_faults import NodeDown, NodeDrain


@pytest.fixture(autouse=True)
def quick_drain(monkeypatch):
    """Retry refused evictions every 10 ms and give up within a second, instead of 5 s and minutes."""
    monkeypatch.setattr(node_faults, "EVICTION_RETRY", 0.01)
    monkeypatch.setattr(node_faults, "DRAIN_TIMEOUT", 0.1)
    monkeypatch.setattr(node_faults, "GONE_TIMEOUT", 1.5)  # room for one of its 1 s polls


@pytest.fixture
def nodes(make_cluster, make_pod):
    """etcd-0, etcd-2 and the already leaving etcd-3 on node-a; etcd-1 on node-b."""

    def cluster(**behaviour):
        pods = [
            make_pod(0, node="node-a"),
            make_pod(1, node="node-b"),
            make_pod(2, node="node-a"),
            make_pod(3, node="node-a", terminating=True),
        ]
        return make_cluster(pods, **behaviour)

    return cluster


def evictions(cluster):
    return [name for method, name, *_ in cluster.calls if method == "evict"]


def actions(context):
    return [(e.detail["action"], e.pod) for e in context.events.since(0)]


@pytest.mark.parametrize(
    ("target", "node", "drained"),
    [("leader", "node-a", ["etcd-0", "etcd-2"]), ("etcd-1", "node-b", ["etcd-1"]), ("etcd-2", "node-a", ["etcd-0", "etcd-2"])],
)
def test_cordons_the_targets_node_and_evicts_only_its_pods(nodes, make_context, target, node, drained):
    cluster, context = nodes(), make_context(leader=0)
    assert faults.make(f"node-drain:{target}").inject(cluster, context) == drained
    assert cluster.calls == [("set_schedulable", node, False), *(("evict", pod) for pod in drained)]
    assert actions(context) == [("cordon", None), *(("evicted", pod) for pod in drained)]


def test_refused_evictions_are_retried_until_the_budget_allows_them(nodes, make_context):
    cluster, context = nodes(refuse={"etcd-2": 2}), make_context(leader=0)
    assert NodeDrain().inject(cluster, context) == ["etcd-0", "etcd-2"]
    assert evictions(cluster) == ["etcd-0", "etcd-2", "etcd-2", "etcd-2"]  # an evicted pod is not evicted again
    refused = [e for e in context.events.since(0) if e.detail["action"] == "eviction refused, retrying"]
    assert [(e.pod, e.detail["reason"]) for e in refused] == [("etcd-2", cluster.refusal)] * 2


def test_a_drain_the_budget_keeps_refusing_fails_naming_the_pod_and_the_budget(nodes, make_context):
    cluster, context = nodes(refuse={"etcd-2": math.inf}), make_context(leader=0)
    fault = NodeDrain()
    with pytest.raises(FaultError, match=f"^drain of node-a timed out: evicting etcd-2: {re.escape(cluster.refusal)}$"):
        fault.inject(cluster, context)
    assert evictions(cluster).count("etcd-2") > 2  # it kept retrying until the deadline
    fault.heal(cluster, context)
    assert cluster.calls[-1] == ("set_schedulable", "node-a", True)  # the node does not stay cordoned


def test_waits_until_the_evicted_pods_are_replaced(nodes, make_context):
    cluster = nodes(linger=1)  # still there, terminating, in the first answer after the evictions
    assert NodeDrain().inject(cluster, make_context(leader=0)) == ["etcd-0", "etcd-2"]
    assert cluster.polls_since_eviction == 2


@pytest.mark.parametrize("recreate", [True, False], ids=["new-uid", "absent"])
def test_a_pod_back_under_a_new_uid_or_absent_is_gone(nodes, make_context, recreate):
    cluster = nodes(recreate=recreate)
    assert NodeDrain().inject(cluster, make_context(leader=0)) == ["etcd-0", "etcd-2"]
    assert cluster.polls_since_eviction == 1


def test_evicted_pods_that_never_go_fail_the_drain(nodes, make_context, monkeypatch):
    monkeypatch.setattr(node_faults, "GONE_TIMEOUT", 0.0)
    with pytest.raises(FaultError, match="evicted pods were not gone 0s after eviction"):
        NodeDrain().inject(nodes(linger=math.inf), make_context(leader=0))


def test_heal_uncordons_the_drained_node(nodes, make_context):
    cluster, context = nodes(), make_context(leader=0)
    fault = faults.make("node-drain:etcd-1")
    fault.inject(cluster, context)
    drained = len(cluster.calls)
    fault.heal(cluster, context)
    assert cluster.calls[drained:] == [("set_schedulable", "node-b", True)]
    assert actions(context)[-1] == ("uncordon", None)


def test_an_unscheduled_target_is_refused_without_cordoning(make_cluster, make_pod, make_context):
    cluster, context = make_cluster([make_pod(0), make_pod(1), make_pod(2)]), make_context(leader=0)
    fault = NodeDrain()
    with pytest.raises(FaultError, match="cannot drain the node of etcd-0: it is not scheduled"):
        fault.inject(cluster, context)
    fault.heal(cluster, context)
    assert cluster.calls == []


def test_node_down_takes_the_targets_node_and_brings_it_back_on_heal(nodes, make_context):
    cluster, context = nodes(), make_context(leader=0)
    fault = NodeDown("etcd-2")
    assert fault.inject(cluster, context) == ["etcd-0", "etcd-2", "etcd-3"]  # every pod on node-a goes with it
    assert cluster.calls == [("node_down", "node-a")]
    fault.heal(cluster, context)
    assert cluster.calls[-1] == ("node_up", "node-a")
    assert actions(context) == [("node down", None), ("node up", None)]


def test_node_down_is_skipped_where_the_backend_cannot_take_a_node_away(nodes):
    cluster = nodes()
    cluster.missing = lambda capability: "the fake backend has no nodes to take away"  # type: ignore[method-assign]
    assert NodeDown().unavailable(cluster) == "node-down skipped: the fake backend has no nodes to take away"
