"""Lanes: which nodes a scenario gets, and that a scenario with a node fault never shares them."""

import copy
import threading
import time

import pytest

from clusters import filelock
from clusters.kube.placement import HOSTNAME, confine
from faults import plan
from harness import lanes

NODES = [f"node-{i}" for i in range(12)]


def test_split_keeps_name_order_and_gives_leftovers_to_the_shared_lane():
    split = lanes.split(list(reversed(NODES)), 5)
    assert [lane.nodes for lane in split] == [
        ("node-0", "node-1", "node-2", "node-3", "node-4", "node-10", "node-11"),
        ("node-5", "node-6", "node-7", "node-8", "node-9"),
    ]


def test_a_cluster_smaller_than_a_lane_is_one_lane():
    assert lanes.split(["b", "a"], 5) == [lanes.Lane(0, ("a", "b"))]


def test_scenarios_without_node_faults_share_lane_zero(tmp_path):
    leases = lanes.Leases(tmp_path, lanes.split(NODES[:15], 5))
    with leases.lease(alone=False) as first, leases.lease(alone=False) as second:
        assert first == second == leases.lanes[0]


def test_each_scenario_with_a_node_fault_gets_a_lane_of_its_own(tmp_path):
    leases = lanes.Leases(tmp_path, lanes.split([f"n{i}" for i in range(15)], 5))
    with leases.lease(alone=True) as first, leases.lease(alone=True) as second:
        assert {first.index, second.index} == {1, 2}
    with leases.lease(alone=True) as again:
        assert again.index == 1  # released at the end of the block


def test_with_one_lane_a_node_fault_waits_for_the_others_and_new_ones_wait_for_it(tmp_path, monkeypatch):
    monkeypatch.setattr(filelock, "POLL", 0.01)
    leases = lanes.Leases(tmp_path, lanes.split(NODES[:5], 5))
    order: list[str] = []

    def alone() -> None:
        with leases.lease(alone=True) as lane:
            assert lane is None
            order.append("alone")

    def later() -> None:
        with leases.lease(alone=False):
            order.append("later")

    with leases.lease(alone=False):
        waiting = threading.Thread(target=alone)
        waiting.start()
        time.sleep(0.2)  # it now holds the turnstile, waiting for this shared lease to end
        after = threading.Thread(target=later)
        after.start()
        time.sleep(0.2)
        assert order == []  # neither the one alone nor the one after it started
    waiting.join(5)
    after.join(5)
    assert order == ["alone", "later"]


def test_a_lease_that_never_comes_free_times_out(tmp_path, monkeypatch):
    monkeypatch.setattr(lanes, "WAIT_LIMIT", 0.1)
    monkeypatch.setattr(filelock, "POLL", 0.01)
    leases = lanes.Leases(tmp_path, lanes.split([f"n{i}" for i in range(10)], 5))
    with leases.lease(alone=True), pytest.raises(filelock.LockTimeout):
        with leases.lease(alone=True):
            pass


def test_confine_ands_the_lane_into_every_node_term_of_a_statefulset():
    own = {"key": "disk", "operator": "In", "values": ["ssd"]}
    doc = {"kind": "StatefulSet", "spec": {"template": {"spec": {"affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [own]}, {}]}}}}}}}
    before = copy.deepcopy(doc)
    placed = confine(doc, ("node-5", "node-6"))
    terms = placed["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    ours = {"key": HOSTNAME, "operator": "In", "values": ["node-5", "node-6"]}
    assert terms == [{"matchExpressions": [own, ours]}, {"matchExpressions": [ours]}]
    assert doc == before  # the strategy's own document is untouched
    assert confine({"kind": "Service", "spec": {}}, ("node-5",)) == {"kind": "Service", "spec": {}}


def test_confine_places_a_bare_pod_and_a_cronjob():
    assert confine({"kind": "Pod", "spec": {}}, ("a",))["spec"]["affinity"]["nodeAffinity"]
    cron = confine({"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {}}}}}}, ("a",))
    assert cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["affinity"]


def test_a_schedule_with_a_node_fault_needs_nodes_of_its_own():
    assert plan("pod-delete+node-drain", 0, ["etcd-0"]).touches_nodes
    assert not plan("pod-delete+pause*2", 0, ["etcd-0"]).touches_nodes
