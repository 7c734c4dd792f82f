"""The backend contract: what every cluster offers to faults and to the harness.

Faults and checks act and read through these calls only, so one fault
definition serves every way of making a cluster: the local one built here,
kind and an existing cluster are all ``clusters.kube.KubeCluster`` with
another node driver. A strategy declares behaviour only (manifests and
expected failures), never anything of a backend.

Capabilities. Deleting, evicting, cordoning, scaling and rolling out are the
API's and every backend has them. What only a node can do
(``clusters.kube.driver.NODE_CAPABILITIES``: ``signal``, ``freeze``, ``wipe``,
``network-cut``, ``network-delay``, ``node-down``) and what depends on the
cluster's DNS (``dns-cache``) a backend may lack: ``missing(capability)`` then says why in one line, the
fault is skipped with that line, and nothing is faked.

Addresses. ``PodInfo.endpoint`` is the pod's own IP and client port, the
address a client inside the cluster would use; the harness's clients and
probes reach it from the pod's node (the node's address is never cut by a
partition).

Events (``EventLog``, monotonic times, in the order seen): ``cluster-created``;
per pod ``pod-created``, ``pod-scheduled`` (node), ``pod-running`` (ip),
``pod-ready`` / ``pod-not-ready``, ``container-started`` (restart_count),
``container-exited`` (exit_code, reason, restart_count, cause), ``back-off``,
``pod-deleting`` (grace), ``pod-gone``; and what the harness itself did:
``evicted``, ``eviction-blocked``, ``cordoned``, ``uncordoned``, ``scaled``,
``rollout-restart``, ``volume-wiped``, ``fault-step``.

Exit causes. A ``container-exited`` event says why the run ended: ``fault``
(a fault killed exactly that container), ``deleted`` (its pod was being
deleted), ``crash`` (anything else: the process exited, a liveness probe
failed, the kernel killed it). Only crashes count towards a crash loop.

Logs. ``logs()`` returns every container run's log from its first line, per
pod name, oldest first, including runs of pods since deleted: a backend must
keep them itself, since the API keeps only the current and previous run.
"""

from __future__ import annotations

import abc
import signal
from dataclasses import dataclass
from pathlib import Path

from clusters.events import EventLog
from clusters.strategy import Strategy

CLIENT_PORT = 2379


class Unsupported(NotImplementedError):
    """This backend cannot perform the requested disruption."""


class EvictionBlocked(RuntimeError):
    """An eviction a PodDisruptionBudget refused (HTTP 429 Too Many Requests); retrying may succeed."""


@dataclass(frozen=True)
class PodInfo:
    name: str
    ordinal: int
    uid: str
    node: str | None
    ip: str | None
    phase: str
    ready: bool
    terminating: bool
    restart_count: int
    release: str = ""  # the etcd release its image holds (the tag of etcd-chaos/etcd), "" for another image

    @property
    def endpoint(self) -> str | None:
        return f"http://{self.ip}:{CLIENT_PORT}" if self.ip and self.phase == "Running" else None


@dataclass(frozen=True)
class Termination:
    """How one container run ended (pod status ``containerStatuses[].lastState.terminated``)."""

    exit_code: int
    reason: str  # Kubernetes' words (Completed, Error, OOMKilled), or what killed it (a probe, a fault)


@dataclass(frozen=True)
class ContainerStatus:
    """What the kubelet knows of a pod's container: what explains a pod that never answers.

    Read from the pod's ``containerStatuses[]`` (``state``, ``restartCount``,
    ``lastState``), so it holds one past termination: the earlier ones are in
    the kept logs and the ``container-exited`` events.
    """

    state: str  # running, waiting: CrashLoopBackOff, waiting: ContainerCreating, terminated, not created
    restart_count: int
    exits: tuple[Termination, ...] = ()  # the latest last

    def describe(self) -> str:
        """``waiting: CrashLoopBackOff, 3 restarts, last exits 1 (Error), 1 (Error)``."""
        text = f"{self.state}, {self.restart_count} restart{'s' if self.restart_count != 1 else ''}"
        if self.exits:
            text += ", last exit" + ("s " if len(self.exits) > 1 else " ")
            text += ", ".join(f"{e.exit_code} ({e.reason})" for e in self.exits)
        return text


class Cluster(abc.ABC):
    """One strategy's etcd cluster on one backend."""

    backend: str
    strategy: Strategy
    etcd_version: str
    etcd_flags: dict[str, str]  # flags every member gets besides its strategy's (--etcd-flag)
    events: EventLog
    replicas: int
    # The nodes its pods may run on, set before start (a lane, harness/lanes.py); None: wherever the scheduler puts them.
    nodes: tuple[str, ...] | None = None

    @abc.abstractmethod
    def start(self) -> None:
        """Apply the manifests; return once the pods exist (not necessarily healthy)."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Remove everything this cluster created. Safe to call twice."""

    @abc.abstractmethod
    def pods(self) -> list[PodInfo]:
        """The current pod objects, lowest ordinal first."""

    @abc.abstractmethod
    def delete_pods(self, names: list[str], grace: float | None = None) -> None:
        """Delete all at the same instant through the API, then wait until every object is gone.

        Waiting matters, as with ``kubectl delete``: a terminating pod may still
        answer (its preStop hook is running), and recovery measured before it
        is gone would be a false pass. The StatefulSet controller then
        re-creates them.
        """

    def delete_pod(self, name: str, grace: float | None = None) -> None:
        self.delete_pods([name], grace)

    @abc.abstractmethod
    def kill_container(self, name: str, sig: int = signal.SIGKILL, wipe_data: bool = False) -> None:
        """Signal the container's main process and wait until it exited; the kubelet restarts it in place.

        With ``wipe_data`` the pod's data volumes are emptied before that
        restart, as a replaced or wiped disk would leave them.
        """

    @abc.abstractmethod
    def signal_etcd(self, name: str, sig: int) -> None:
        """Signal the etcd process itself, which need not be the container's PID 1 (an entrypoint may be)."""

    @abc.abstractmethod
    def evict(self, name: str) -> None:
        """The Eviction API: delete gracefully unless a PodDisruptionBudget forbids it.

        Raises ``EvictionBlocked`` (HTTP 429) when the budget allows no
        disruption; returns without waiting for the pod to be gone.
        """

    @abc.abstractmethod
    def set_schedulable(self, node: str, schedulable: bool) -> None:
        """Cordon (False) or uncordon (True) a node."""

    @abc.abstractmethod
    def set_replicas(self, replicas: int) -> None:
        """Scale the StatefulSet; the controller creates or removes pods as Kubernetes' does."""

    @abc.abstractmethod
    def rollout_restart(self) -> None:
        """``kubectl rollout restart``: a new template revision the controller rolls out pod by pod."""

    @abc.abstractmethod
    def change_etcd_release(self, release: str) -> None:
        """Move the StatefulSet's etcd image to ``release``: a new template revision, rolled out pod by pod."""

    @abc.abstractmethod
    def rollout_complete(self) -> bool:
        """Every pod runs the current revision and is ready."""

    def missing(self, capability: str) -> str | None:
        """Why this backend cannot do ``capability`` (``network-cut``, ``network-delay``, ``dns-cache``), or None."""
        return f"the {self.backend} backend cannot do {capability}"

    def cut_network(self, name: str, direction: str) -> None:
        """Drop traffic between this pod and every other pod: ``both``, ``in`` or ``out``; open connections too."""
        raise Unsupported(self.missing("network-cut") or "network-cut")

    def restore_network(self, name: str) -> None:
        raise Unsupported(self.missing("network-cut") or "network-cut")

    def delay_network(self, name: str, milliseconds: int) -> None:
        """Delay every packet the pod sends (``network-delay``)."""
        raise Unsupported(self.missing("network-delay") or "network-delay")

    def restore_delay(self, name: str) -> None:
        raise Unsupported(self.missing("network-delay") or "network-delay")

    def hold_dns(self, name: str, seconds: float) -> None:
        """Let other pods keep resolving ``name`` to the address it has now for ``seconds``, as a DNS cache does."""
        raise Unsupported(self.missing("dns-cache") or "dns-cache")

    def node_down(self, node: str) -> None:
        """Take a node away at once (kubelet, runtime, containers), as a power loss does (``node-down``)."""
        raise Unsupported(self.missing("node-down") or "node-down")

    def node_up(self, node: str) -> None:
        raise Unsupported(self.missing("node-down") or "node-down")

    def container_status(self, name: str) -> ContainerStatus:
        """The container status of the current pod named ``name``."""
        raise Unsupported(f"the {self.backend} backend cannot report container status")

    @abc.abstractmethod
    def logs(self) -> dict[str, list[str]]:
        """Every container run's log text, per pod name, oldest first."""

    @abc.abstractmethod
    def save_logs(self, directory: Path) -> None:
        """Copy every container run's log into ``directory``."""

    def endpoints(self) -> list[str]:
        return [p.endpoint for p in self.pods() if p.endpoint]

    def pod(self, name: str) -> PodInfo:
        for pod in self.pods():
            if pod.name == name:
                return pod
        raise KeyError(f"no pod named {name}")
