"""Faults: choosing targets, building faults by name, and what each one asks of the cluster."""

import random
import signal
from dataclasses import replace

import pytest

import faults
from clusters import etcd_api
from clusters.events import EventLog
from faults import CATALOG, Context, FaultError, choose_targets, rollout_faults
from faults.pod_faults import InplaceRestart, PodDelete

STATUS = etcd_api.Status("m", "c", "m", 2, 10, 5, False, "3.6.17")


@pytest.fixture(autouse=True)
def bounded_rollouts(monkeypatch):
    """A controller that never finishes fails a test within a second, not after two minutes."""
    monkeypatch.setattr(rollout_faults, "ROLLOUT_TIMEOUT", 1.0)


# --- choose_targets ---------------------------------------------------------


def running(make_cluster, make_pod, n):
    return make_cluster([make_pod(i) for i in range(n)])


def test_leader_and_pod_name(make_cluster, make_context):
    cluster = make_cluster()
    assert choose_targets("leader", cluster, make_context(leader=2)) == ["etcd-2"]
    assert choose_targets("etcd-0", cluster, make_context(leader=2)) == ["etcd-0"]


def test_follower_is_never_the_leader(make_cluster, make_context):
    context = make_context(leader=1)
    picks = {tuple(choose_targets("follower", make_cluster(), context)) for _ in range(50)}
    assert picks == {("etcd-0",), ("etcd-2",)}


def test_random_picks_only_running_pods(make_cluster, make_pod, make_context):
    cluster = make_cluster([make_pod(0), make_pod(1, "Pending"), make_pod(2)])
    context = make_context()
    assert {tuple(choose_targets("random", cluster, context)) for _ in range(50)} == {("etcd-0",), ("etcd-2",)}


@pytest.mark.parametrize(
    ("target", "possible"),
    [
        ("random", {("etcd-0",), ("etcd-2",), ("etcd-3",)}),
        ("follower", {("etcd-2",), ("etcd-3",)}),
        ("3", {("etcd-0", "etcd-2", "etcd-3")}),
    ],
)
def test_terminating_pods_are_never_chosen(make_cluster, make_pod, make_context, target, possible):
    cluster = make_cluster([make_pod(0), make_pod(1, terminating=True), make_pod(2), make_pod(3)])
    context = make_context(leader=0, n=4)
    assert {tuple(choose_targets(target, cluster, context)) for _ in range(50)} == possible


def test_a_count_hits_that_many_distinct_running_pods_sorted(make_cluster, make_pod, make_context):
    cluster = make_cluster([make_pod(0), make_pod(1, "Pending"), make_pod(2), make_pod(3), make_pod(4)])
    running_names = {"etcd-0", "etcd-2", "etcd-3", "etcd-4"}
    context = make_context()
    draws = [choose_targets("2", cluster, context) for _ in range(50)]
    for pods in draws:
        assert len(pods) == 2 and len(set(pods)) == 2
        assert pods == sorted(pods)
        assert set(pods) <= running_names
    assert len({tuple(pods) for pods in draws}) > 1  # not always the same pair


@pytest.mark.parametrize("count", ["0", "4"])
def test_a_count_beyond_the_running_pods_is_refused(make_cluster, make_pod, make_context, count):
    cluster = make_cluster([make_pod(0), make_pod(1), make_pod(2), make_pod(3, "Pending")])
    with pytest.raises(FaultError, match=f"cannot hit {count} pods: 3 are running"):
        choose_targets(count, cluster, make_context())


@pytest.mark.parametrize("target", ["random", "follower", "2"])
def test_same_seed_same_choices(make_cluster, make_pod, make_context, target):
    cluster = running(make_cluster, make_pod, 5)

    def draws(seed):
        context = make_context(seed=seed, n=5)
        return [tuple(choose_targets(target, cluster, context)) for _ in range(10)]

    assert draws(42) == draws(42)
    assert len(set(draws(42))) > 1
    assert len({tuple(draws(seed)) for seed in range(5)}) > 1  # the seed matters


@pytest.mark.parametrize("target", ["leader", "follower"])
def test_no_leader_reported(make_cluster, make_snapshot, make_views, target):
    views = [v.__class__(**{**v.__dict__, "leader": ""}) for v in make_views()]
    context = Context(random.Random(0), make_snapshot(views), EventLog())
    with pytest.raises(FaultError, match=f"cannot aim at the {target}: no member reports a leader"):
        choose_targets(target, make_cluster(), context)


def test_no_follower_when_only_the_leader_runs(make_cluster, make_pod, make_context):
    cluster = make_cluster([make_pod(0), make_pod(1, "Pending"), make_pod(2, "Pending")])
    with pytest.raises(FaultError, match="cannot aim at a follower: only the leader is running"):
        choose_targets("follower", cluster, make_context(leader=0))


def test_nothing_running(make_cluster, make_pod, make_context):
    cluster = make_cluster([make_pod(0, "Pending")])
    with pytest.raises(FaultError, match="cannot aim at leader: no pod is running"):
        choose_targets("leader", cluster, make_context())


def test_unknown_target(make_cluster, make_context):
    with pytest.raises(FaultError, match="unknown target 'etcd-7': use leader, follower, random"):
        choose_targets("etcd-7", make_cluster(), make_context())


# --- building faults by name ---------------------------------------------------


def test_make_by_name_uses_the_default_target():
    fault = faults.make("pod-delete")
    assert isinstance(fault, PodDelete)
    assert (fault.target, fault.id) == ("leader", "pod-delete")
    restart = faults.make("inplace-restart")
    assert isinstance(restart, InplaceRestart) and restart.target == "follower"


@pytest.mark.parametrize(
    ("spec", "fault_id"),
    [
        ("partition:leader", "partition-leader"),
        ("partition", "partition"),
        ("partition:follower", "partition"),  # the default target, spelled out
        ("pod-delete:etcd-2", "pod-delete-etcd-2"),
        ("pod-delete:2", "pod-delete-2"),
        ("scale:7", "scale-7"),
    ],
)
def test_id_names_the_target_only_when_it_is_not_the_default(spec, fault_id):
    assert faults.make(spec).id == fault_id


DEFAULTS = sorted(name for name, cls in CATALOG.items() if cls.in_default_matrix)


@pytest.mark.parametrize("name", DEFAULTS)
def test_every_fault_by_its_bare_name(name):
    fault = faults.make(name)
    assert isinstance(fault, CATALOG[name])
    assert (fault.id, fault.spec) == (name, f"{name}:{CATALOG[name].default_target}")


def test_default_matrix_entries_all_build():
    assert [faults.make(spec).id for spec in faults.DEFAULT_MATRIX] == [*DEFAULTS, "partition-leader"]
    assert sorted(set(CATALOG) - set(DEFAULTS)) == ["rolling-downgrade", "rolling-upgrade"], (
        "only the faults whose target is the user's choice are left out"
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param("meteor", r"unknown fault 'meteor'; known faults: dns-stale, inplace-restart, ", id="unknown"),
        pytest.param("meteor:leader", r"unknown fault 'meteor'", id="unknown-with-target"),
        pytest.param("rolling-restart:leader", r"rolling-restart restarts every pod: it takes no target", id="restart"),
        pytest.param("scale:abc", r"scale takes the size to grow to, e.g. scale:5 \(got 'abc'\)", id="scale"),
        pytest.param("rolling-upgrade", r"rolling-upgrade takes FROM->TO, e.g. rolling-upgrade:3.5.1->3.6.16", id="upgrade-bare"),
        pytest.param("rolling-upgrade:3.5.1->3.6", r"etcd version '3.6': expected MAJOR.MINOR.PATCH", id="upgrade-not-a-release"),
        pytest.param("rolling-upgrade:3.4.23->3.6.16", r"one minor release at a time; go through 3.5 first", id="upgrade-skips-a-minor"),
        pytest.param("rolling-upgrade:3.6.16->3.4.23", r"one minor release at a time; go through 3.5 first", id="downgrade-skips-a-minor"),
        pytest.param("rolling-upgrade:3.5.1->3.5.1", r"the same release twice", id="upgrade-to-itself"),
        pytest.param("rolling-downgrade:3.5.21->3.6.17", r"that is an upgrade; use rolling-upgrade:3.5.21->3.6.17", id="downgrade-up"),
        pytest.param("rolling-downgrade:3.5.21->3.4.23", r"downgrade call starts at 3.6; .* use rolling-upgrade", id="downgrade-from-3.5"),
        pytest.param("rolling-downgrade:3.6.17->3.6.16", r"a patch release needs no downgrade call", id="downgrade-a-patch"),
        pytest.param("rolling-downgrade:3.7.4->3.5.21", r"one minor release at a time; go through 3.6 first", id="downgrade-two-minors"),
    ],
)
def test_make_refuses(spec, message):
    with pytest.raises(FaultError, match=message):
        faults.make(spec)


def test_unknown_fault_lists_every_known_one():
    with pytest.raises(FaultError) as caught:
        faults.make("meteor")
    assert str(caught.value).endswith(", ".join(sorted(CATALOG)))


# --- what each fault asks of the cluster -------------------------------------------

SIGKILL, SIGSTOP, SIGCONT = signal.SIGKILL, signal.SIGSTOP, signal.SIGCONT


@pytest.mark.parametrize(
    ("spec", "hit", "inject_calls", "heal_calls"),
    [
        pytest.param("pod-delete", ["etcd-1"], [("delete_pods", ["etcd-1"])], [], id="pod-delete"),
        pytest.param(
            "inplace-restart:etcd-2", ["etcd-2"], [("kill_container", "etcd-2", SIGKILL, False)], [], id="inplace-restart"
        ),
        pytest.param(
            "inplace-restart-wiped:etcd-2",
            ["etcd-2"],
            [("kill_container", "etcd-2", SIGKILL, True)],
            [],
            id="inplace-restart-wiped",
        ),
        pytest.param("leader-kill", ["etcd-1"], [("signal_etcd", "etcd-1", SIGKILL)], [], id="leader-kill"),
        pytest.param(
            "pause", ["etcd-1"], [("signal_etcd", "etcd-1", SIGSTOP)], [("signal_etcd", "etcd-1", SIGCONT)], id="pause"
        ),
        pytest.param(
            "partition:etcd-2",
            ["etcd-2"],
            [("cut_network", "etcd-2", "both")],
            [("restore_network", "etcd-2")],
            id="partition",
        ),
        pytest.param(
            "partition-in", ["etcd-1"], [("cut_network", "etcd-1", "in")], [("restore_network", "etcd-1")], id="in"
        ),
        pytest.param(
            "partition-out", ["etcd-1"], [("cut_network", "etcd-1", "out")], [("restore_network", "etcd-1")], id="out"
        ),
        pytest.param(
            "latency", ["etcd-1"], [("delay_network", "etcd-1", 200)], [("restore_delay", "etcd-1")], id="latency"
        ),
        pytest.param(
            "dns-stale:etcd-2",
            ["etcd-2"],
            [("hold_dns", "etcd-2", 30.0), ("delete_pods", ["etcd-2"])],  # the name is cached before the pod goes
            [],
            id="dns-stale",
        ),
    ],
)
def test_inject_and_heal_calls(make_cluster, make_context, spec, hit, inject_calls, heal_calls):
    cluster, context = make_cluster(), make_context(leader=1)
    fault = faults.make(spec)
    assert fault.inject(cluster, context) == hit
    assert cluster.calls == inject_calls
    fault.heal(cluster, context)
    assert cluster.calls[len(inject_calls) :] == heal_calls
    steps = context.events.since(0)
    assert steps and {e.kind for e in steps} == {"fault-step"}
    assert {e.pod for e in steps if e.pod} >= set(hit)


@pytest.mark.parametrize("spec", ["pause:follower", "partition:random", "partition-in:2", "partition-out:follower"])
@pytest.mark.parametrize("seed", range(4))
def test_heal_undoes_exactly_the_pods_inject_hit(make_cluster, make_pod, make_context, spec, seed):
    cluster, context = running(make_cluster, make_pod, 5), make_context(seed=seed, n=5)
    fault = faults.make(spec)
    hit = fault.inject(cluster, context)
    injected = len(cluster.calls)
    fault.heal(cluster, context)
    assert [call[1] for call in cluster.calls[:injected]] == hit
    assert [call[1] for call in cluster.calls[injected:]] == hit


@pytest.mark.parametrize("spec", ["simultaneous-rebuild", "pod-delete:2"])
@pytest.mark.parametrize("seed", range(3))
def test_several_pods_are_deleted_in_one_call(make_cluster, make_context, spec, seed):
    cluster = make_cluster()
    hit = faults.make(spec).inject(cluster, make_context(seed=seed))
    [(method, names)] = cluster.calls
    assert method == "delete_pods"
    assert names == hit and len(set(names)) == 2


@pytest.mark.parametrize("spec", [*DEFAULTS, "rolling-upgrade:3.5.1->3.6.16"])
def test_heal_without_inject_touches_nothing(make_cluster, make_context, spec):
    """After an inject that failed before hitting anything, heal must not act blindly."""
    cluster = make_cluster()
    faults.make(spec).heal(cluster, make_context())
    assert cluster.calls == []


@pytest.mark.parametrize(("replicas", "spec", "grown"), [(3, "scale", 5), (4, "scale:6", 6)])
def test_scale_grows_then_heals_back_to_the_original_size(
    make_cluster, make_pod, make_context, replicas, spec, grown
):
    cluster, context = running(make_cluster, make_pod, replicas), make_context()
    fault = faults.make(spec)
    assert fault.inject(cluster, context) == [f"etcd-{i}" for i in range(replicas, grown)]
    assert cluster.calls == [("set_replicas", grown)]
    fault.heal(cluster, context)
    assert cluster.calls == [("set_replicas", grown), ("set_replicas", replicas)]
    assert len(cluster.pods()) == replicas


def test_rolling_restart_waits_for_the_rollout(make_cluster, make_context):
    cluster, context = make_cluster(rollout_polls=2), make_context()
    assert faults.make("rolling-restart").inject(cluster, context) == ["etcd-0", "etcd-1", "etcd-2"]
    assert cluster.calls == [("rollout_restart",), ("rollout_complete",), ("rollout_complete",)]
    assert [e.detail["action"] for e in context.events.since(0)] == ["rollout restart", "rollout complete"]


def test_a_rolling_upgrade_moves_the_image_and_waits_for_the_rollout(make_cluster, make_context):
    cluster, context = make_cluster(rollout_polls=2), make_context()
    fault = faults.make("rolling-upgrade:v3.5.1->3.6.16")
    assert (fault.id, fault.etcd_versions) == ("rolling-upgrade-v3.5.1->3.6.16", ("3.6.16",))
    assert fault.unavailable(cluster) is None
    assert fault.inject(cluster, context) == ["etcd-0", "etcd-1", "etcd-2"]
    assert cluster.calls == [("change_etcd_release", "3.6.16"), ("rollout_complete",), ("rollout_complete",)]
    assert [e.detail["action"] for e in context.events.since(0)] == ["etcd image 3.5.1 -> 3.6.16", "rollout complete"]
    assert faults.schedule.outline("rolling-upgrade:3.5.1->3.6.16+pod-delete").etcd_versions == ("3.6.16",)


def test_a_rolling_downgrade_asks_etcd_first_and_waits_for_every_members_storage(
    make_cluster, make_context, make_pod, monkeypatch
):
    cluster, context = make_cluster([make_pod(i) for i in range(3)], rollout_polls=1), make_context()
    cluster.etcd_version = "3.6.17"
    asked, storage = [], iter(["3.6.0", "3.5.0", "3.5.0"] + ["3.5.0"] * 6)

    def downgrade(endpoint, action, version, timeout=5.0):
        asked.append((endpoint, action, version))
        if endpoint.startswith("http://10.0.0.1:") and action == "VALIDATE":
            raise etcd_api.NotApplied("etcd-0 is restarting")
        return version

    monkeypatch.setattr(etcd_api, "downgrade", downgrade)
    monkeypatch.setattr(etcd_api, "status", lambda endpoint: replace(STATUS, storage_version=next(storage)))
    fault = faults.make("rolling-downgrade:3.6.17->3.5.21")
    assert fault.unavailable(cluster) is None
    assert fault.inject(cluster, context) == ["etcd-0", "etcd-1", "etcd-2"]
    assert [(e[0][7:15], e[1], e[2]) for e in asked] == [
        ("10.0.0.1", "VALIDATE", "3.5"), ("10.0.0.2", "VALIDATE", "3.5"), ("10.0.0.1", "ENABLE", "3.5")
    ]
    assert cluster.calls == [("change_etcd_release", "3.5.21"), ("rollout_complete",)]
    assert [e.detail["action"] for e in context.events.since(0)] == [
        "etcdctl downgrade validate 3.5", "etcdctl downgrade enable 3.5", "every member's storage version is 3.5.0",
        "etcd image 3.6.17 -> 3.5.21", "rollout complete",
    ]


def test_a_downgrade_every_member_refuses_fails_the_fault_with_their_words(make_cluster, make_context, make_pod, monkeypatch):
    cluster = make_cluster([make_pod(i) for i in range(2)])
    cluster.etcd_version = "3.6.17"

    def downgrade(endpoint, action, version, timeout=5.0):
        raise etcd_api.NotApplied("etcdserver: invalid downgrade target version")

    monkeypatch.setattr(etcd_api, "downgrade", downgrade)
    with pytest.raises(FaultError, match=r"^etcdctl downgrade validate 3.5: etcdserver: invalid downgrade target version; etcdserver"):
        faults.make("rolling-downgrade:3.6.17->3.5.21").inject(cluster, make_context())
    assert cluster.calls == [], "no image changes before etcd agreed"


def test_a_rolling_upgrade_runs_only_from_its_own_release(make_cluster):
    reason = faults.make("rolling-upgrade:3.4.23->3.5.1").unavailable(make_cluster())
    assert reason == "rolling-upgrade:3.4.23->3.5.1 starts from etcd 3.4.23; this cluster runs 3.5.1"


@pytest.mark.parametrize(
    ("spec", "what"), [("rolling-restart", "the rollout"), ("scale", "5 ready pods")], ids=["restart", "scale"]
)
def test_a_controller_that_never_finishes_fails_the_fault(make_cluster, make_context, monkeypatch, spec, what):
    monkeypatch.setattr(rollout_faults, "ROLLOUT_TIMEOUT", 0.0)
    with pytest.raises(FaultError, match=f"{what} did not happen within 0s"):
        faults.make(spec).inject(make_cluster(stuck=True), make_context())


# --- where a fault can run ------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "capability"),
    [("partition", "network-cut"), ("partition-in:leader", "network-cut"), ("dns-stale", "dns-cache"),
     ("inplace-restart", "signal"), ("leader-kill", "signal"), ("pause", "signal")],
)
def test_a_missing_capability_skips_the_fault_with_one_line(make_cluster, spec, capability):
    fault = faults.make(spec)
    reason = fault.unavailable(make_cluster(backend="kind", capabilities=()))
    assert reason == f"{fault.name} skipped: the kind backend cannot do {capability}"
    assert fault.unavailable(make_cluster(backend="kind", capabilities=(capability,))) is None


def test_faults_without_requirements_run_anywhere(make_cluster):
    cluster = make_cluster(capabilities=())
    runnable = [name for name in DEFAULTS if faults.make(name).unavailable(cluster) is None]
    assert runnable == ["node-drain", "pod-delete", "rolling-restart", "scale", "simultaneous-rebuild"]  # the API's own


def test_a_fault_for_other_backends_is_unavailable(make_cluster):
    class LocalOnly(PodDelete):
        backends = frozenset({"local"})

    assert LocalOnly().unavailable(make_cluster(backend="local")) is None
    assert LocalOnly().unavailable(make_cluster(backend="kind")) == "pod-delete is not available on the kind backend"


def test_several_pods_by_name_are_hit_together(make_cluster, make_context):
    cluster = make_cluster()
    assert choose_targets("etcd-0,etcd-2", cluster, make_context()) == ["etcd-0", "etcd-2"]
    with pytest.raises(FaultError):
        choose_targets("etcd-0,etcd-7", cluster, make_context())
