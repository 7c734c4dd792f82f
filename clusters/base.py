"""What every backend offers to faults and to the harness.

Faults act through these calls only, so one fault definition serves the local
emulator, kind and an existing cluster; a backend that cannot do something
says so by raising ``Unsupported``, and the fault is skipped, not faked.
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

    @property
    def endpoint(self) -> str | None:
        return f"http://{self.ip}:{CLIENT_PORT}" if self.ip and self.phase == "Running" else None


class Cluster(abc.ABC):
    """One strategy's etcd cluster on one backend."""

    backend: str
    strategy: Strategy
    etcd_version: str
    events: EventLog

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
    def delete_pod(self, name: str, grace: float | None = None) -> None:
        """Delete through the API and wait until the object is gone, as ``kubectl delete`` does.

        Waiting matters: a terminating pod may still answer (its preStop hook is
        running), and recovery measured before it is gone would be a false pass.
        The StatefulSet controller then re-creates it.
        """

    @abc.abstractmethod
    def kill_container(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal the container's main process and wait until it exited; the kubelet restarts it in place."""

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
