"""Hand-made inputs shared by several unit test modules."""

from __future__ import annotations

import random
import signal
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from clusters.backend import Cluster, EvictionBlocked, PodInfo
from clusters.events import EventLog
from clusters.observe import MemberView, Snapshot
from faults import Context


def minimal_documents() -> list[dict[str, Any]]:
    """A minimal valid StatefulSet and headless Service, fresh on every call."""
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "etcd"},
        "spec": {
            "serviceName": "etcd",
            "replicas": 3,
            "selector": {"matchLabels": {"app": "etcd"}},
            "template": {
                "metadata": {"labels": {"app": "etcd"}},
                "spec": {
                    "containers": [
                        {
                            "name": "etcd",
                            "image": "etcd:3.5.1",
                            "command": ["etcd"],
                            "args": ["--name=$(POD_NAME)"],
                            "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                            "ports": [{"name": "client", "containerPort": 2379}, {"name": "peer", "containerPort": 2380}],
                            "readinessProbe": {"httpGet": {"path": "/health", "port": "client"}},
                            "volumeMounts": [{"name": "data", "mountPath": "/var/lib/etcd"}],
                        }
                    ]
                },
            },
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}],
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "etcd"},
        "spec": {"clusterIP": "None", "selector": {"app": "etcd"}},
    }
    return [statefulset, service]


@pytest.fixture
def docs() -> list[dict[str, Any]]:
    return minimal_documents()


def member_views(n: int = 3, leader: int = 0, cluster_id: str = "c1") -> list[MemberView]:
    """``n`` pods etcd-0.. that all agree: same member list, same cluster, pod ``leader`` leads."""
    members = tuple((f"id{i}", f"etcd-{i}", False) for i in range(n))
    return [
        MemberView(f"etcd-{i}", f"http://10.0.0.{i + 1}:2379", f"id{i}", cluster_id, f"id{leader}", False, members)
        for i in range(n)
    ]


def snapshot(views: list[MemberView] | None = None, replicas: int = 3, time: float = 0.0) -> Snapshot:
    return Snapshot(time, replicas, tuple(member_views() if views is None else views))


@pytest.fixture
def make_views():
    return member_views


@pytest.fixture
def make_snapshot():
    return snapshot


def pod_info(
    ordinal: int, phase: str = "Running", *, node: str | None = None, ready: bool = True, terminating: bool = False
) -> PodInfo:
    """Pod ``etcd-<ordinal>`` with uid ``u<ordinal>``, as a backend would report it."""
    ip = f"10.0.0.{ordinal + 1}" if phase == "Running" else None
    return PodInfo(f"etcd-{ordinal}", ordinal, f"u{ordinal}", node, ip, phase, ready, terminating, 0)


class FakeCluster(Cluster):
    """Pods as plain data; every call a fault makes is appended to ``calls`` as ``(method, *args)``.

    ``set_replicas`` re-creates the pod list at the new size, ready unless
    ``stuck``; ``rollout_complete`` answers True from its ``rollout_polls``-th
    call on, or never when ``stuck``. Only ``capabilities`` are not ``missing``.

    Evictions: ``refuse`` says how often each pod's eviction is refused by
    the budget (``math.inf``: always). An evicted pod still shows, terminating
    with its old uid, in the next ``linger`` answers of ``pods()``; after that
    it is re-created (a new uid, Pending) or, with ``recreate=False``, absent.
    """

    refusal = "Cannot evict pod as it would violate the pod's disruption budget etcd: 2 healthy, 2 required"

    def __init__(
        self,
        pods: list[PodInfo] | None = None,
        *,
        backend: str = "local",
        capabilities: tuple[str, ...] = ("signal", "freeze", "wipe", "network-cut", "dns-cache"),
        stuck: bool = False,
        rollout_polls: int = 1,
        refuse: dict[str, float] | None = None,
        linger: float = 0,
        recreate: bool = True,
    ) -> None:
        self.backend = backend
        self.etcd_version = "3.5.1"
        self.etcd_flags = {}
        self.events = EventLog()
        self.capabilities = set(capabilities)
        self.stuck = stuck
        self.rollout_polls = rollout_polls
        self._pods = [pod_info(i) for i in range(3)] if pods is None else list(pods)
        self.replicas = len(self._pods)
        self.calls: list[tuple[Any, ...]] = []
        self.refuse = dict(refuse or {})
        self.linger = linger
        self.recreate = recreate
        self.leaving: dict[str, float] = {}  # evicted pod -> answers of pods() it still shows up in
        self.polls_since_eviction = 0

    def pods(self) -> list[PodInfo]:
        if self.leaving:
            self.polls_since_eviction += 1
        shown = []
        for pod in self._pods:
            left = self.leaving.get(pod.name)
            if left is None:
                shown.append(pod)
            elif left > 0:
                self.leaving[pod.name] = left - 1
                shown.append(replace(pod, terminating=True))
            elif self.recreate:
                shown.append(replace(pod, uid=f"{pod.uid}-new", node=None, ip=None, phase="Pending", ready=False))
        return shown

    def missing(self, capability: str) -> str | None:
        return None if capability in self.capabilities else super().missing(capability)

    def delete_pods(self, names: list[str], grace: float | None = None) -> None:
        self.calls.append(("delete_pods", list(names)))

    def kill_container(self, name: str, sig: int = signal.SIGKILL, wipe_data: bool = False) -> None:
        self.calls.append(("kill_container", name, sig, wipe_data))

    def signal_etcd(self, name: str, sig: int) -> None:
        self.calls.append(("signal_etcd", name, sig))

    def evict(self, name: str) -> None:
        self.calls.append(("evict", name))
        if self.refuse.get(name, 0) > 0:
            self.refuse[name] -= 1
            raise EvictionBlocked(self.refusal)
        self.leaving[name] = self.linger

    def set_schedulable(self, node: str, schedulable: bool) -> None:
        self.calls.append(("set_schedulable", node, schedulable))

    def set_replicas(self, replicas: int) -> None:
        self.calls.append(("set_replicas", replicas))
        self.replicas = replicas
        self._pods = [replace(pod_info(i), ready=not self.stuck) for i in range(replicas)]

    def rollout_restart(self) -> None:
        self.calls.append(("rollout_restart",))

    def change_etcd_release(self, release: str) -> None:
        self.calls.append(("change_etcd_release", release))
        self.etcd_version = release

    def rollout_complete(self) -> bool:
        self.calls.append(("rollout_complete",))
        return not self.stuck and self.calls.count(("rollout_complete",)) >= self.rollout_polls

    def cut_network(self, name: str, direction: str) -> None:
        self.calls.append(("cut_network", name, direction))

    def delay_network(self, name: str, milliseconds: int) -> None:
        self.calls.append(("delay_network", name, milliseconds))

    def restore_delay(self, name: str) -> None:
        self.calls.append(("restore_delay", name))

    def restore_network(self, name: str) -> None:
        self.calls.append(("restore_network", name))

    def hold_dns(self, name: str, seconds: float) -> None:
        self.calls.append(("hold_dns", name, seconds))

    def node_down(self, node: str) -> None:
        self.calls.append(("node_down", node))

    def node_up(self, node: str) -> None:
        self.calls.append(("node_up", node))

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def logs(self) -> dict[str, list[str]]:
        return {}

    def save_logs(self, directory: Path) -> None:
        pass


def fault_context(leader: int = 0, seed: int = 0, n: int = 3) -> Context:
    """What a fault is injected with: a seeded generator, a snapshot in which ``etcd-<leader>`` leads, a timeline."""
    return Context(random.Random(seed), snapshot(member_views(n, leader=leader)), EventLog())


@pytest.fixture
def make_pod():
    return pod_info


@pytest.fixture
def make_cluster():
    return FakeCluster


@pytest.fixture
def make_context():
    return fault_context


@pytest.fixture
def fake_inputs(tmp_path: Path) -> dict[str, Path]:
    """A strategy image's inputs: a busybox that lists its applets, etcd's three tools and getent, as stand-ins."""
    busybox = tmp_path / "busybox"
    busybox.write_text("#!/bin/sh\nprintf 'sh\\nsleep\\nbusybox\\nawk\\n'\n")
    busybox.chmod(0o755)
    etcd_bin = tmp_path / "etcdbin"
    etcd_bin.mkdir()
    for tool in ("etcd", "etcdctl", "etcdutl"):
        (etcd_bin / tool).write_bytes(f"binary {tool}".encode())
    getent = tmp_path / "getent"
    getent.write_bytes(b"binary getent")
    return {"busybox": busybox, "etcd_bin": etcd_bin, "getent": getent}
