"""What both node drivers read from crictl, and which processes a signal hits."""

from __future__ import annotations

import pytest

from clusters.kube import cri
from clusters.kube.driver import DriverError

NODE_NS = "pid:[4026531836]"
POD_NS = "pid:[4026532301]"
TABLE = [
    cri.Process(1, NODE_NS, "systemd"),
    cri.Process(700, NODE_NS, "containerd-shim-runc-v2"),
    cri.Process(812, POD_NS, "sh"),  # the entrypoint, the container's main process
    cri.Process(840, POD_NS, "etcd"),
    cri.Process(901, "pid:[4026532999]", "etcd"),  # another pod's etcd
    cri.Process(950, NODE_NS, "etcd"),  # the control plane's own etcd, in the node's namespace
]


def test_the_runtime_id_is_what_crictl_names() -> None:
    assert cri.runtime_id("containerd://0123abc") == "0123abc"
    assert cri.inspect_args("containerd://0123abc") == ["inspect", "-o", "json", "0123abc"]
    assert cri.sandboxes_args("u-1") == ["pods", "-o", "json", "--state", "ready", "--label", "io.kubernetes.pod.uid=u-1"]


def test_a_container_that_exited_runs_no_process() -> None:
    assert cri.process_id({"info": {"pid": 812}}, "container x") == 812
    with pytest.raises(DriverError, match="container x runs no process"):
        cri.process_id({"info": {"pid": 0}}, "container x")
    with pytest.raises(DriverError, match="runs no process"):
        cri.process_id({}, "container x")


def test_only_one_ready_sandbox_names_the_namespace() -> None:
    assert cri.one_sandbox({"items": [{"id": "s-1"}]}, "u-12345678", "n") == "s-1"
    with pytest.raises(DriverError, match="pod u-123456 has 2 ready sandboxes on n"):
        cri.one_sandbox({"items": [{"id": "s-1"}, {"id": "s-2"}]}, "u-12345678", "n")
    with pytest.raises(DriverError, match="0 ready sandboxes"):
        cri.one_sandbox({"items": None}, "u-12345678", "n")


def test_a_container_is_its_pid_namespace_main_first() -> None:
    assert [p.pid for p in cri.container_processes(812, TABLE, NODE_NS)] == [812, 840]
    assert cri.named(812, TABLE, NODE_NS, "etcd") == [840], "not another pod's etcd, nor the node's"
    assert cri.named(812, TABLE, NODE_NS, "etcdctl") == []


def test_a_pod_in_the_nodes_pid_namespace_owns_only_its_main_process() -> None:
    assert [p.pid for p in cri.container_processes(700, TABLE, NODE_NS)] == [700]
    assert cri.named(700, TABLE, NODE_NS, "etcd") == [], "the node's etcd is not the pod's"


def test_a_main_process_that_is_gone_has_no_processes() -> None:
    assert cri.container_processes(4242, TABLE, NODE_NS) == []
