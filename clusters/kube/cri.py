"""What a node's container runtime says of a container or a pod sandbox, read alike by every node driver.

Each driver asks the node's own containerd through crictl, the local one on
this machine and kind's through ``docker exec`` into the node, and each then
picks the processes to signal. The questions (crictl's arguments), the
readings of its JSON and the choice of processes are here once, so the two
drivers cannot drift apart on which process a fault hits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from clusters.kube.driver import DriverError


def runtime_id(container_id: str) -> str:
    """``containerd://0123…`` (as the pod's status names it) -> ``0123…`` (as crictl does)."""
    return container_id.split("://", 1)[-1]


def inspect_args(container_id: str) -> list[str]:
    return ["inspect", "-o", "json", runtime_id(container_id)]


def sandboxes_args(pod_uid: str) -> list[str]:
    """The pod's ready sandboxes only: a restarted pod keeps its exited ones for a while, in other namespaces."""
    return ["pods", "-o", "json", "--state", "ready", "--label", f"io.kubernetes.pod.uid={pod_uid}"]


def inspectp_args(sandbox_id: str) -> list[str]:
    return ["inspectp", "-o", "json", sandbox_id]


def process_id(inspected: dict[str, Any], what: str) -> int:
    """``info.pid`` of ``crictl inspect``/``inspectp``: the process in the node's PID namespace; 0 once it exited."""
    pid = int((inspected.get("info") or {}).get("pid") or 0)
    if pid <= 0:
        raise DriverError(f"{what} runs no process")
    return pid


def one_sandbox(listed: dict[str, Any], pod_uid: str, node: str) -> str:
    """The id of the pod's one ready sandbox; two or none means the namespace to act in is not known."""
    sandboxes = listed.get("items") or []
    if len(sandboxes) != 1:
        raise DriverError(f"pod {pod_uid[:8]} has {len(sandboxes)} ready sandboxes on {node}")
    return str(sandboxes[0]["id"])


@dataclass(frozen=True)
class Process:
    """One process as the node's ``/proc`` shows it."""

    pid: int
    pid_namespace: str  # the target of /proc/PID/ns/pid, e.g. pid:[4026532301]
    executable: str  # the basename of /proc/PID/exe; empty when unreadable (a kernel thread, a zombie)


def container_processes(main: int, processes: Iterable[Process], node_namespace: str) -> list[Process]:
    """Every process of the container whose main process is ``main``: those in its PID namespace, ``main`` first.

    A pod in the node's own PID namespace (``hostPID``) shares it with the
    kubelet and the runtime: then only its main process is its own. Empty
    when ``main`` is gone.
    """
    table = list(processes)
    first = next((p for p in table if p.pid == main), None)
    if first is None:
        return []
    if first.pid_namespace == node_namespace:
        return [first]
    return [first, *(p for p in table if p.pid != main and p.pid_namespace == first.pid_namespace)]


def named(main: int, processes: Iterable[Process], node_namespace: str, name: str) -> list[int]:
    """The container's processes whose executable is ``name`` (etcd under an entrypoint shell, say)."""
    return [p.pid for p in container_processes(main, processes, node_namespace) if p.executable == name]
