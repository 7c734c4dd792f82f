"""The existing backend's node driver when the user has not opted in to node faults.

On someone's own cluster the API's disruptions (delete, evict, drain, scale,
rollout) are what the user asked for by choosing the backend; killing
processes, wiping volumes and cutting networks on their nodes is not, and
needs an agent on each node besides. So every node action is refused with
the one line that says how to opt in, and the faults that need one are
skipped with it; nothing is faked.
"""

from __future__ import annotations

from typing import NoReturn

from clusters.kube.driver import NODE_CAPABILITIES, DriverError, NodeDriver

OPT_IN = (
    "node faults on an existing cluster act on its nodes themselves: opt in with --node-faults local "
    "when its nodes are this machine's (`etcd-chaos cluster up`)"
)


class NoNodeDriver(NodeDriver):
    def missing(self, capability: str) -> str | None:
        """The opt-in line for what a node does; nothing of the cluster's DNS, which opting in would not give."""
        return f"{capability}: {OPT_IN}" if capability in NODE_CAPABILITIES else None

    def _refuse(self) -> NoReturn:
        raise DriverError(OPT_IN)

    def signal(self, node: str, container_id: str, sig: int, process: str | None = None) -> None:
        self._refuse()

    def freeze(self, node: str, container_id: str) -> None:
        self._refuse()

    def wipe(self, node: str, path: str) -> None:
        self._refuse()

    def pod_volume_dir(self, node: str, pod_uid: str, plugin: str, volume: str) -> str:
        self._refuse()

    def in_pod_network(self, node: str, pod_uid: str, argv: list[str]) -> None:
        self._refuse()

    def node_down(self, node: str) -> None:
        self._refuse()

    def node_up(self, node: str) -> None:
        self._refuse()
