import random

import pytest

import faults
from clusters.base import PodInfo
from faults import Context, FaultError, choose_target
from faults.pod_faults import InplaceRestart, PodDelete


def test_make_by_name_uses_the_default_target():
    fault = faults.make("pod-delete")
    assert isinstance(fault, PodDelete)
    assert (fault.target, fault.id) == ("leader", "pod-delete")
    restart = faults.make("inplace-restart")
    assert isinstance(restart, InplaceRestart) and restart.target == "follower"


def test_make_with_a_target():
    assert faults.make("pod-delete:follower").id == "pod-delete-follower"
    assert faults.make("pod-delete:etcd-2").target == "etcd-2"
    assert faults.make("inplace-restart:leader").id == "inplace-restart-leader"
    # the id names the target only when it differs from the fault's default (Fault.id docstring)
    assert faults.make("pod-delete:leader").id == "pod-delete"


def test_unknown_fault_lists_known_ones():
    with pytest.raises(FaultError, match=r"unknown fault 'meteor'; known faults: inplace-restart, pod-delete"):
        faults.make("meteor:leader")


class FakeCluster:
    def __init__(self, *phases):
        self._pods = [PodInfo(f"etcd-{i}", i, f"u{i}", None, f"10.0.0.{i + 1}", phase, True, False, 0) for i, phase in enumerate(phases)]

    def pods(self):
        return self._pods


def ctx(make_snapshot, make_views, leader=1, seed=0):
    return Context(random.Random(seed), make_snapshot(make_views(leader=leader)))


def test_leader_and_pod_name(make_snapshot, make_views):
    cluster = FakeCluster("Running", "Running", "Running")
    assert choose_target("leader", cluster, ctx(make_snapshot, make_views, leader=2)) == "etcd-2"
    assert choose_target("etcd-0", cluster, ctx(make_snapshot, make_views)) == "etcd-0"


def test_follower_is_never_the_leader(make_snapshot, make_views):
    cluster = FakeCluster("Running", "Running", "Running")
    context = ctx(make_snapshot, make_views, leader=1)
    picks = {choose_target("follower", cluster, context) for _ in range(50)}
    assert picks == {"etcd-0", "etcd-2"}


def test_random_picks_only_running_pods(make_snapshot, make_views):
    cluster = FakeCluster("Running", "Pending", "Running")
    context = ctx(make_snapshot, make_views)
    assert {choose_target("random", cluster, context) for _ in range(50)} == {"etcd-0", "etcd-2"}


@pytest.mark.parametrize("target", ["random", "follower"])
def test_same_seed_same_choices(make_snapshot, make_views, target):
    cluster = FakeCluster("Running", "Running", "Running", "Running", "Running")

    def draws(seed):
        context = ctx(make_snapshot, make_views, seed=seed)
        return [choose_target(target, cluster, context) for _ in range(10)]

    assert draws(42) == draws(42)
    assert len(set(draws(42))) > 1


def test_no_leader_reported(make_snapshot, make_views):
    views = [v.__class__(**{**v.__dict__, "leader": ""}) for v in make_views()]
    context = Context(random.Random(0), make_snapshot(views))
    with pytest.raises(FaultError, match="cannot aim at the leader: no member reports a leader"):
        choose_target("leader", FakeCluster("Running", "Running", "Running"), context)


def test_unknown_target(make_snapshot, make_views):
    with pytest.raises(FaultError, match="unknown target 'etcd-7'"):
        choose_target("etcd-7", FakeCluster("Running", "Running", "Running"), ctx(make_snapshot, make_views))


def test_inject_acts_on_the_chosen_pod(make_snapshot, make_views):
    calls = []
    cluster = FakeCluster("Running", "Running", "Running")
    cluster.delete_pod = lambda name: calls.append(("delete", name))
    cluster.kill_container = lambda name, sig: calls.append(("kill", name, int(sig)))
    assert faults.make("pod-delete").inject(cluster, ctx(make_snapshot, make_views, leader=0)) == ["etcd-0"]
    assert faults.make("inplace-restart:etcd-2").inject(cluster, ctx(make_snapshot, make_views)) == ["etcd-2"]
    assert calls == [("delete", "etcd-0"), ("kill", "etcd-2", 9)]
