"""kind's node driver: the exact ``docker`` command lines it runs, and what it refuses to do."""

from __future__ import annotations

import json
import signal

import pytest
from kind_fakes import FakeRunner

from clusters.kind import driver as kind_driver
from clusters.kind.driver import KindNodeDriver
from clusters.kind.routes import PodRoutes, Route
from clusters.kube.driver import DriverError

NODE = "etcd-chaos-worker2"
NODES = "etcd-chaos-control-plane\netcd-chaos-worker\netcd-chaos-worker2\n"
LIST = ["docker", "ps", "-a", "--filter", "label=io.x-k8s.kind.cluster=etcd-chaos", "--format", "{{.Names}}"]
CONTAINER = "containerd://0123456789abcdef"
NODE_NS, POD_NS = "pid:[4026531836]", "pid:[4026532301]"
TABLE = "\n".join([
    f"/proc/self/ns/pid {NODE_NS}",
    "/proc/1/exe /usr/lib/systemd/systemd", f"/proc/1/ns/pid {NODE_NS}",
    "/proc/700/exe /usr/local/bin/containerd-shim-runc-v2", f"/proc/700/ns/pid {NODE_NS}",
    "/proc/812/exe /bin/busybox", f"/proc/812/ns/pid {POD_NS}",
    "/proc/840/exe /usr/local/bin/etcd", f"/proc/840/ns/pid {POD_NS}",
    "/proc/950/exe /usr/local/bin/etcd", f"/proc/950/ns/pid {NODE_NS}",
]) + "\n"


def exec_(*argv: str) -> tuple[str, ...]:
    return ("docker", "exec", NODE, *argv)


@pytest.fixture
def runner() -> FakeRunner:
    return (FakeRunner()
            .on(*LIST, out=NODES)
            .on(*exec_("crictl", "inspect"), out=json.dumps({"info": {"pid": 812}})))


def test_a_signal_goes_to_the_containers_pid_inside_its_node(runner: FakeRunner) -> None:
    KindNodeDriver("etcd-chaos", runner).signal(NODE, CONTAINER, signal.SIGKILL)
    assert runner.calls == [
        LIST,
        [*exec_("crictl", "inspect", "-o", "json", "0123456789abcdef")],
        [*exec_("kill", "-9", "812")],
    ]
    assert all(0 < timeout <= 60 for timeout in runner.timeouts)


def test_a_named_process_is_found_in_the_containers_pid_namespace(runner: FakeRunner) -> None:
    runner.on(*exec_("sh", "-c"), out=TABLE)
    KindNodeDriver("etcd-chaos", runner).signal(NODE, CONTAINER, signal.SIGTERM, process="etcd")
    assert runner.calls[2] == [*exec_("sh", "-c", kind_driver.PROCESS_TABLE)]
    assert runner.calls[3] == [*exec_("kill", "-15", "840")], "not the node's own etcd (950)"


def test_no_such_process_is_an_error_and_nothing_is_signalled(runner: FakeRunner) -> None:
    runner.on(*exec_("sh", "-c"), out=TABLE)
    with pytest.raises(DriverError, match="no etcdctl process in container 0123456789abc on etcd-chaos-worker2"):
        KindNodeDriver("etcd-chaos", runner).signal(NODE, CONTAINER, signal.SIGTERM, process="etcdctl")
    assert runner.commands(*exec_("kill")) == []


def test_a_process_that_exited_before_the_signal_is_an_error(runner: FakeRunner) -> None:
    runner.on(*exec_("kill"), rc=1, err="kill: (812): No such process")
    with pytest.raises(DriverError, match="process 812 on etcd-chaos-worker2 exited before SIGKILL"):
        KindNodeDriver("etcd-chaos", runner).signal(NODE, CONTAINER, signal.SIGKILL)


def test_an_exited_container_runs_no_process(runner: FakeRunner) -> None:
    runner.script.insert(0, (exec_("crictl", "inspect"), (0, json.dumps({"info": {"pid": 0}}), "")))
    with pytest.raises(DriverError, match="runs no process"):
        KindNodeDriver("etcd-chaos", runner).signal(NODE, CONTAINER, signal.SIGKILL)


def test_freeze_stops_every_process_of_the_container_at_once(runner: FakeRunner) -> None:
    runner.on(*exec_("sh", "-c"), out=TABLE).on(*exec_("kill"), rc=1, err="kill: (840): No such process")
    KindNodeDriver("etcd-chaos", runner).freeze(NODE, CONTAINER)  # one exited meanwhile: not an error
    assert runner.commands(*exec_("kill")) == [[*exec_("kill", "-19", "812", "840")]]


def test_only_the_clusters_own_nodes_are_acted_on(runner: FakeRunner) -> None:
    driver = KindNodeDriver("etcd-chaos", runner)
    with pytest.raises(DriverError, match="no node some-other-container in the kind cluster etcd-chaos"):
        driver.node_down("some-other-container")
    assert runner.calls == [LIST]


def test_wipe_empties_a_volume_directory_and_keeps_it(runner: FakeRunner) -> None:
    path = "/var/local-path-provisioner/pvc-1_ns_data-etcd-0"
    KindNodeDriver("etcd-chaos", runner).wipe(NODE, path)
    assert runner.calls[-1] == [*exec_("find", path, "-mindepth", "1", "-maxdepth", "1", "-exec", "rm", "-rf", "--", "{}", "+")]


@pytest.mark.parametrize("path", [
    "/etc", "/var/lib/kubelet/pods/../../../etc", "/var/local-path-provisioner", "/var/lib/kubelet",
    "var/local-path-provisioner/pvc-1", "/var/local-path-provisioner-other/x",
])
def test_wipe_refuses_anything_but_a_volume_directory(runner: FakeRunner, path: str) -> None:
    with pytest.raises(DriverError, match="refusing to empty"):
        KindNodeDriver("etcd-chaos", runner).wipe(NODE, path)
    assert runner.calls == []


def test_an_emptydir_is_where_the_kubelet_keeps_it_in_the_node() -> None:
    assert KindNodeDriver("etcd-chaos", FakeRunner()).pod_volume_dir(NODE, "u-1", "kubernetes.io~empty-dir", "data") == (
        "/var/lib/kubelet/pods/u-1/volumes/kubernetes.io~empty-dir/data")


def network_runner(pod_ns: str) -> FakeRunner:
    return (FakeRunner()
            .on(*LIST, out=NODES)
            .on(*exec_("crictl", "pods"), out=json.dumps({"items": [{"id": "sandbox-1"}]}))
            .on(*exec_("crictl", "inspectp"), out=json.dumps({"info": {"pid": 777}}))
            .on(*exec_("readlink"), out=f"{pod_ns}\nnet:[4026531840]\n"))


def test_a_pods_network_is_entered_through_its_sandbox_inside_the_node() -> None:
    runner = network_runner("net:[4026532400]")
    KindNodeDriver("etcd-chaos", runner).in_pod_network(NODE, "u-1", ["tc", "qdisc", "del", "dev", "eth0", "root"])
    assert runner.calls[1:] == [
        [*exec_("crictl", "pods", "-o", "json", "--state", "ready", "--label", "io.kubernetes.pod.uid=u-1")],
        [*exec_("crictl", "inspectp", "-o", "json", "sandbox-1")],
        [*exec_("readlink", "/proc/777/ns/net", "/proc/self/ns/net")],
        [*exec_("nsenter", "-t", "777", "-n", "tc", "qdisc", "del", "dev", "eth0", "root")],
    ]


def test_the_nodes_own_network_is_never_entered() -> None:
    """A sandbox in the node's network namespace (hostNetwork) must not partition the node itself."""
    runner = network_runner("net:[4026531840]")
    with pytest.raises(DriverError, match="no network namespace of its own to act in"):
        KindNodeDriver("etcd-chaos", runner).in_pod_network(NODE, "u-1", ["nft", "flush ruleset"])
    assert runner.commands(*exec_("nsenter")) == []


def test_a_node_goes_down_as_its_container_is_killed() -> None:
    runner = FakeRunner().on(*LIST, out=NODES)
    KindNodeDriver("etcd-chaos", runner).node_down(NODE)
    assert runner.calls[-1] == ["docker", "kill", "--signal", "KILL", NODE]


def test_a_node_comes_up_once_its_kubelet_runs_and_its_route_follows_its_new_address() -> None:
    runner = (FakeRunner()
              .on(*LIST, out=NODES)
              .sequence(*exec_("systemctl"), answers=[(1, "", "Error response from daemon: not running"),
                                                     (3, "activating\n", ""), (0, "active\n", "")])
              .on("docker", "inspect", out=json.dumps({"kind": {"IPAddress": "172.18.0.9"}})))
    routes = PodRoutes(runner, euid=0)
    routes.added[NODE] = Route("10.244.3.0/24", "172.18.0.4")
    slept: list[float] = []
    KindNodeDriver("etcd-chaos", runner, routes, sleep=slept.append).node_up(NODE)
    assert runner.calls[1] == ["docker", "start", NODE]
    assert runner.commands(*exec_("systemctl")) == [[*exec_("systemctl", "is-active", "kubelet")]] * 3
    assert slept == [kind_driver.POLL] * 2
    assert runner.calls[-1] == ["ip", "route", "replace", "10.244.3.0/24", "via", "172.18.0.9"]
    assert routes.added[NODE] == Route("10.244.3.0/24", "172.18.0.9")


def test_a_kubelet_that_never_comes_back_is_an_error_in_bounded_time() -> None:
    runner = FakeRunner().on(*LIST, out=NODES).on(*exec_("systemctl"), rc=3, out="inactive\n")
    now = [0.0]
    driver = KindNodeDriver("etcd-chaos", runner, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    with pytest.raises(DriverError, match=f"kubelet of {NODE} was not running 90 s after docker start"):
        driver.node_up(NODE)
    assert now[0] <= kind_driver.NODE_START + kind_driver.POLL


def test_dns_cache_is_missing_for_kinds_own_corefile() -> None:
    reason = KindNodeDriver("etcd-chaos", FakeRunner()).missing("dns-cache")
    assert reason is not None and "disable success cluster.local" in reason and "no stale answer" in reason


def test_network_delay_is_probed_once_in_a_throwaway_namespace() -> None:
    runner = FakeRunner().on(*LIST, out=NODES).on("docker", "exec", rc=2, err="Error: Specified qdisc kind is unknown.")
    driver = KindNodeDriver("etcd-chaos", runner)
    assert driver.missing("network-delay") == (
        "network delay needs tc netem, which the kernel under kind's nodes refuses (Error: Specified qdisc kind is unknown.)")
    assert driver.missing("network-delay") is not None
    assert runner.commands("docker", "exec") == [["docker", "exec", "etcd-chaos-control-plane", "unshare", "--net", "tc",
                                                  "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"]]


def test_network_delay_is_there_when_the_probe_succeeds() -> None:
    runner = FakeRunner().on(*LIST, out=NODES)
    assert KindNodeDriver("etcd-chaos", runner).missing("network-delay") is None
    assert len(runner.commands("docker", "exec")) == 1


def test_network_cut_and_node_down_are_there_without_asking_the_nodes() -> None:
    runner = FakeRunner()
    driver = KindNodeDriver("etcd-chaos", runner)
    assert driver.missing("network-cut") is None and driver.missing("node-down") is None
    assert runner.calls == []
