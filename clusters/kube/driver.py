"""What only a node can do, behind one small interface each way of making a cluster implements.

The API can delete, evict and cordon; it cannot kill a container's process
without a deletion (a signal sent from inside the pod cannot kill its PID 1),
freeze it, empty a volume under a running claim, cut a pod's open
connections (a NetworkPolicy only stops new ones, and not on every CNI) or
take a node away. Those act on the node itself: on this machine directly
(``clusters.localkube.driver``), on kind through ``docker exec`` into the
node's container. Containers are named by the runtime id the pod's status
reports (``containerd://…``), so a driver needs no bookkeeping of its own.

A driver that cannot do something says why in ``missing``; the fault that
needs it is then skipped with that reason, never faked.
"""

from __future__ import annotations

import abc

# What a driver may lack: the faults that need one declare it (``Fault.requires``).
NODE_CAPABILITIES = ("signal", "freeze", "wipe", "network-cut", "network-delay", "node-down")


class DriverError(RuntimeError):
    """A node action that failed; the message names the node, the container and the command."""


class NodeDriver(abc.ABC):
    @abc.abstractmethod
    def signal(self, node: str, container_id: str, sig: int, process: str | None = None) -> None:
        """Send ``sig`` to the container's main process, or to its process whose executable is named ``process``.

        Returns once the signal is sent; raises ``DriverError`` when no such
        process runs (the container has exited meanwhile).
        """

    @abc.abstractmethod
    def freeze(self, node: str, container_id: str) -> None:
        """Stop every process of the container (SIGSTOP), so nothing in it writes until it is killed."""

    @abc.abstractmethod
    def wipe(self, node: str, path: str) -> None:
        """Empty a directory on the node (a volume's backing directory), keeping the directory itself."""

    @abc.abstractmethod
    def pod_volume_dir(self, node: str, pod_uid: str, plugin: str, volume: str) -> str:
        """Where the kubelet keeps a pod volume of ``plugin`` (``kubernetes.io~empty-dir``) on the node."""

    @abc.abstractmethod
    def in_pod_network(self, node: str, pod_uid: str, argv: list[str]) -> None:
        """Run a command (``nft``, ``tc``) in the pod's network namespace: its sandbox's, which restarts keep."""

    @abc.abstractmethod
    def node_down(self, node: str) -> None:
        """The node gone at once, as at a power loss: its kubelet, its runtime and every container on it."""

    @abc.abstractmethod
    def node_up(self, node: str) -> None:
        """The node back: its runtime and kubelet started again, which restart the pods still bound to it."""

    def missing(self, capability: str) -> str | None:
        """Why this driver cannot do ``capability`` (``network-cut``, ...), or None when it can.

        Asked for ``dns-cache`` too, which no backend does: a driver may then
        say why its cluster's DNS keeps no answer to hold.
        """
        return None
