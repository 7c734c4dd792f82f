"""What a pod object says, read as the harness needs it: pure functions of the API's JSON.

Everything the harness knows about a member's pod (address, node, readiness,
restarts, how its last run ended) comes from here, from the pod's status as
the kubelet reported it, never from our own bookkeeping: so the same code
serves every cluster, and a test feeds it a hand-written dict.
"""

from __future__ import annotations

from typing import Any

from clusters.backend import ContainerStatus, PodInfo, Termination
from clusters.kube import etcd_image


def ordinal(name: str) -> int:
    """A StatefulSet pod's ordinal is the number after its last dash."""
    tail = name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else -1


def is_ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in pod.get("status", {}).get("conditions") or [])


def info(pod: dict[str, Any]) -> PodInfo:
    metadata, spec, status = pod["metadata"], pod.get("spec", {}), pod.get("status", {})
    return PodInfo(
        name=metadata["name"],
        ordinal=ordinal(metadata["name"]),
        uid=metadata["uid"],
        node=spec.get("nodeName"),
        ip=status.get("podIP"),
        phase=status.get("phase", "Pending"),
        ready=is_ready(pod),
        terminating=bool(metadata.get("deletionTimestamp")),
        restart_count=sum(c.get("restartCount", 0) for c in status.get("containerStatuses") or []),
        release=etcd_image.release(spec.get("containers") or []),
    )


def main_container(pod: dict[str, Any]) -> str:
    """The container the harness signals and reads: the first one, as ``kubectl logs`` picks by default."""
    return pod["spec"]["containers"][0]["name"]


def container_entry(pod: dict[str, Any], container: str) -> dict[str, Any] | None:
    for entry in pod.get("status", {}).get("containerStatuses") or []:
        if entry.get("name") == container:
            return entry
    return None


def container_id(pod: dict[str, Any], container: str) -> str | None:
    """The running container's runtime id (``containerd://…``), or None when it does not run now."""
    entry = container_entry(pod, container)
    if entry and "running" in (entry.get("state") or {}):
        return entry.get("containerID") or None
    return None


def termination(raw: dict[str, Any]) -> Termination:
    return Termination(int(raw.get("exitCode", -1)), raw.get("reason") or ("Completed" if raw.get("exitCode") == 0 else "Error"))


def state_text(state: dict[str, Any]) -> str:
    """``running``, ``waiting: CrashLoopBackOff``, ``terminated: Error``: what ``kubectl get pod`` shows."""
    for key in ("running", "waiting", "terminated"):
        if key in state:
            reason = (state[key] or {}).get("reason")
            return f"{key}: {reason}" if reason and key != "running" else key
    return "unknown"


def container_status(pod: dict[str, Any]) -> ContainerStatus:
    """The main container's status; a pod with none yet says why (unscheduled, or still being created)."""
    entry = container_entry(pod, main_container(pod))
    if entry is None:
        unscheduled = next(
            (c for c in pod.get("status", {}).get("conditions") or [] if c.get("type") == "PodScheduled" and c.get("status") == "False"),
            None,
        )
        if unscheduled:
            why = " ".join((unscheduled.get("message") or unscheduled.get("reason") or "").split())
            return ContainerStatus(f"not created: the pod is Pending, {why or 'not scheduled'}", 0)
        return ContainerStatus("not created", 0)
    last = (entry.get("lastState") or {}).get("terminated")
    return ContainerStatus(
        state_text(entry.get("state") or {}), int(entry.get("restartCount", 0)), (termination(last),) if last else ()
    )
