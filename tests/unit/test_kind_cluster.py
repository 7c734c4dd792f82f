"""The kind cluster's command sequences: create or reuse, load the image, route the pods, export logs, delete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kind_fakes import FakeRunner

from clusters.kind import cluster as kind_cluster
from clusters.kind import versions
from clusters.kind.cluster import KindCluster
from clusters.kind.run import KindError
from clusters.localkube import images

CP = "etcd-chaos-control-plane"
WORKERS = [f"etcd-chaos-worker{n if n > 1 else ''}" for n in range(1, 6)]
PS = ["docker", "ps", "-a", "--filter", "label=io.x-k8s.kind.cluster=etcd-chaos",
      "--format", '{{.Names}} {{.Label "io.x-k8s.kind.role"}} {{.State}}']
KUBECTL = ["docker", "exec", CP, "kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf"]
WAIT = [*KUBECTL, "wait", "--for=condition=Ready", "nodes", "--all", "--timeout=180s"]


def listing(workers: list[str] = WORKERS, state: str = "running") -> str:
    return "".join(f"{name} {role} {state}\n" for name, role in [(CP, "control-plane"), *((w, "worker") for w in workers)])


def cluster_runner(clusters: str = "", workers: list[str] = WORKERS, state: str = "running") -> FakeRunner:
    return (FakeRunner()
            .on("kind", "get", "clusters", out=clusters, err="" if clusters else "No kind clusters found.\n")
            .on(*PS, out=listing(workers, state)))


def test_a_new_cluster_is_created_from_the_config_with_the_pinned_image(tmp_path: Path) -> None:
    runner = cluster_runner()
    kind = KindCluster(tmp_path, runner=runner, progress=lambda line: None)
    kind.up()
    assert runner.calls == [
        ["kind", "get", "clusters"],
        ["kind", "create", "cluster", "--name", "etcd-chaos", "--config", str(kind_cluster.CONFIG),
         "--image", versions.NODE_IMAGE, "--wait", "120s", "--kubeconfig", str(tmp_path / "kind-etcd-chaos.kubeconfig")],
        PS,
        WAIT,
    ]
    assert all(timeout > 0 for timeout in runner.timeouts), "every command is bounded in time"
    assert kind.created and not kind.reused and kind.control_plane == CP


def test_a_cluster_of_that_name_is_not_taken_unless_asked(tmp_path: Path) -> None:
    runner = cluster_runner(clusters="etcd-chaos\n")
    with pytest.raises(KindError, match="a kind cluster named etcd-chaos exists already: reuse it, or delete it"):
        KindCluster(tmp_path, runner=runner, progress=lambda line: None).up()
    assert runner.commands("kind", "create") == []


def test_a_reused_cluster_is_kept_at_the_end(tmp_path: Path) -> None:
    runner = cluster_runner(clusters="other\netcd-chaos\n")
    kind = KindCluster(tmp_path, runner=runner, progress=lambda line: None)
    kind.up(reuse=True)
    assert runner.calls[1] == ["kind", "export", "kubeconfig", "--name", "etcd-chaos",
                               "--kubeconfig", str(tmp_path / "kind-etcd-chaos.kubeconfig")]
    assert runner.commands("kind", "create") == []
    assert kind.down() == []
    assert runner.commands("kind", "delete") == []


def test_a_reused_cluster_without_five_workers_is_refused(tmp_path: Path) -> None:
    runner = cluster_runner(clusters="etcd-chaos\n", workers=WORKERS[:3])
    with pytest.raises(KindError, match="has 1 control plane.s. and 3 workers; scenarios need 1 and 5"):
        KindCluster(tmp_path, runner=runner, progress=lambda line: None).up(reuse=True)


def test_a_reused_cluster_with_a_stopped_node_is_refused(tmp_path: Path) -> None:
    runner = cluster_runner(clusters="etcd-chaos\n", state="exited")
    with pytest.raises(KindError, match=f"node {CP} is exited .`docker start {CP}`"):
        KindCluster(tmp_path, runner=runner, progress=lambda line: None).up(reuse=True)


def test_a_failed_create_names_kinds_error_and_is_still_deleted_at_the_end(tmp_path: Path) -> None:
    runner = cluster_runner().on("kind", "create", rc=1, err=(
        "Creating cluster \"etcd-chaos\" ...\n ✗ Preparing nodes\nERROR: failed to create cluster: could not find a log line\n"
        "Command Output: hint\n"))
    kind = KindCluster(tmp_path, runner=runner, progress=lambda line: None)
    with pytest.raises(KindError, match="failed: ERROR: failed to create cluster: could not find a log line$"):
        kind.up()
    assert kind.down() == []
    assert runner.calls[-1] == ["kind", "delete", "cluster", "--name", "etcd-chaos"]


def test_the_strategy_image_is_built_from_its_rootfs_and_loaded_into_the_nodes(tmp_path: Path, fake_inputs: dict[str, Path]) -> None:
    image = images.strategy_image(fake_inputs["etcd_bin"], "3.5.1", fake_inputs["busybox"], fake_inputs["getent"])
    context: dict[str, object] = {}

    def build(argv: list[str]) -> tuple[int, str, str]:
        directory = Path(argv[-1])
        context["files"] = sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file() and "bin" in p.parts)
        context["dockerfile"] = (directory / "Dockerfile").read_text()
        return 0, "", ""

    runner = FakeRunner().call("docker", "build", answer=build)
    KindCluster(tmp_path, runner=runner, progress=lambda line: None).load_image(image)
    assert runner.calls[0][:4] == ["docker", "build", "--tag", "docker.io/etcd-chaos/etcd:3.5.1"]
    assert runner.calls[1] == ["kind", "load", "docker-image", "docker.io/etcd-chaos/etcd:3.5.1", "--name", "etcd-chaos"]
    assert "rootfs/usr/local/bin/etcdctl" in context["files"] and "rootfs/usr/local/bin/getent" in context["files"]
    assert "FROM scratch" in context["dockerfile"]
    assert not Path(runner.calls[0][-1]).exists(), "the build context is removed afterwards"


NODES_JSON = json.dumps({"items": [
    {"metadata": {"name": CP}, "spec": {"podCIDR": "10.244.0.0/24"}},
    {"metadata": {"name": "etcd-chaos-worker"}, "spec": {"podCIDR": "10.244.1.0/24"}},
    {"metadata": {"name": "etcd-chaos-worker2"}, "spec": {"podCIDR": "10.244.2.0/24"}},
]})
ADDRESSES = {CP: "172.18.0.2", "etcd-chaos-worker": "172.18.0.3", "etcd-chaos-worker2": "172.18.0.4"}
HOST_ROUTES = "default via 10.0.0.1 dev eth0\n172.18.0.0/16 dev br-1a2b proto kernel scope link src 172.18.0.1\n"


def routed_runner(host_routes: str = HOST_ROUTES) -> FakeRunner:
    def inspect(argv: list[str]) -> tuple[int, str, str]:
        return 0, json.dumps({"kind": {"IPAddress": ADDRESSES[argv[-1]]}}) + "\n", ""

    return (cluster_runner()
            .on("docker", "ps", "-a", "--filter", "label=io.x-k8s.kind.cluster=etcd-chaos", "--format", "{{.Names}}",
                out="\n".join(ADDRESSES) + "\n")
            .on("ip", "-4", "route", "show", out=host_routes)
            .on(*KUBECTL, "get", "nodes", out=NODES_JSON)
            .call("docker", "inspect", answer=inspect))


def test_each_nodes_pod_range_is_routed_through_its_container_and_removed_at_the_end(tmp_path: Path) -> None:
    runner = routed_runner()
    kind = KindCluster(tmp_path, runner=runner, progress=lambda line: None, euid=1000)
    kind.up()
    kind.route_pods()
    assert runner.commands("sudo") == [
        ["sudo", "-n", "ip", "route", "replace", "10.244.0.0/24", "via", "172.18.0.2"],
        ["sudo", "-n", "ip", "route", "replace", "10.244.1.0/24", "via", "172.18.0.3"],
        ["sudo", "-n", "ip", "route", "replace", "10.244.2.0/24", "via", "172.18.0.4"],
    ]
    assert runner.commands(*KUBECTL, "get") == [[*KUBECTL, "get", "nodes", "-o", "json"]]
    assert runner.commands("docker", "inspect")[0] == [
        "docker", "inspect", "--format", "{{json .NetworkSettings.Networks}}", CP]
    assert kind.down() == []
    assert runner.commands("sudo", "-n", "ip", "route", "del") == [
        ["sudo", "-n", "ip", "route", "del", "10.244.0.0/24", "via", "172.18.0.2"],
        ["sudo", "-n", "ip", "route", "del", "10.244.1.0/24", "via", "172.18.0.3"],
        ["sudo", "-n", "ip", "route", "del", "10.244.2.0/24", "via", "172.18.0.4"],
    ]
    assert runner.calls[-1] == ["kind", "delete", "cluster", "--name", "etcd-chaos"]
    assert kind.down() == [] and len(runner.commands("kind", "delete")) == 1, "a second down does nothing"


def test_as_root_the_routes_need_no_sudo(tmp_path: Path) -> None:
    runner = routed_runner()
    kind = KindCluster(tmp_path, runner=runner, progress=lambda line: None, euid=0)
    kind.up()
    kind.route_pods()
    assert runner.commands("sudo") == []
    assert ["ip", "route", "replace", "10.244.1.0/24", "via", "172.18.0.3"] in runner.calls


def test_no_route_is_added_over_a_network_this_machine_has_itself(tmp_path: Path) -> None:
    runner = routed_runner(HOST_ROUTES + "10.244.1.0/24 dev etcd-br1 proto kernel scope link src 10.244.1.1\n")
    kind = KindCluster(tmp_path, runner=runner, progress=lambda line: None, euid=0)
    kind.up()
    with pytest.raises(KindError, match=r"this machine itself has '10.244.1.0/24 dev etcd-br1 .*', inside kind's pod network"):
        kind.route_pods()
    assert runner.commands("ip", "route", "replace") == []


def test_a_stale_route_through_a_gateway_is_replaced_not_refused(tmp_path: Path) -> None:
    runner = routed_runner(HOST_ROUTES + "10.244.1.0/24 via 172.18.0.7 dev br-1a2b\n")
    kind = KindCluster(tmp_path, runner=runner, progress=lambda line: None, euid=0)
    kind.up()
    kind.route_pods()
    assert len(runner.commands("ip", "route", "replace")) == 3


def test_a_route_that_cannot_be_removed_is_reported_as_left_behind(tmp_path: Path) -> None:
    runner = routed_runner().on("ip", "route", "del", rc=2, err="RTNETLINK answers: Operation not permitted\n")
    kind = KindCluster(tmp_path, runner=runner, progress=lambda line: None, euid=0)
    kind.up()
    kind.route_pods()
    left = kind.down()
    assert len(left) == 3 and left[0] == (
        f"route 10.244.0.0/24 via 172.18.0.2 ({CP}): `ip route del 10.244.0.0/24 via 172.18.0.2` failed: "
        "RTNETLINK answers: Operation not permitted")


def test_logs_are_exported_into_the_report(tmp_path: Path) -> None:
    runner = FakeRunner()
    assert KindCluster(tmp_path, runner=runner).export_logs(tmp_path / "report" / "kind-logs") is None
    assert runner.calls == [["kind", "export", "logs", str(tmp_path / "report" / "kind-logs"), "--name", "etcd-chaos"]]
    failing = FakeRunner().on("kind", "export", rc=1, err="ERROR: unknown cluster \"etcd-chaos\"\n")
    assert KindCluster(tmp_path, runner=failing).export_logs(tmp_path) == (
        'kind export logs failed: ERROR: unknown cluster "etcd-chaos"')


def test_a_node_without_an_address_on_kinds_network_stops_the_routing(tmp_path: Path) -> None:
    runner = routed_runner().call("docker", "inspect", answer=lambda argv: (0, "{}\n", ""))
    runner.script.insert(0, runner.script.pop())  # before routed_runner's own answer
    kind = KindCluster(tmp_path, runner=runner, progress=lambda line: None, euid=0)
    kind.up()
    with pytest.raises(KindError, match=f"{CP} has no address on docker's kind network"):
        kind.route_pods()
    assert kind.routes.added == {}
