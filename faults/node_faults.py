"""Nodes going away: ``kubectl drain`` for maintenance, and a node lost at once.

Where the evicted pod can go decides the outcome, and the cluster's storage
decides that: a node-local volume (the local cluster's own, kind's local-path)
keeps it Pending until its node is back, a network-attached one
follows it to another node, an emptyDir is gone with the old pod.
"""

from __future__ import annotations

import time
from clusters.backend import Cluster, EvictionBlocked
from faults.base import Context, Fault, FaultError, choose_targets

EVICTION_RETRY = 5.0  # kubectl drain retries a 429 every 5 s
DRAIN_TIMEOUT = 120.0  # kubectl's --timeout; 0 (its default) would wait forever
GONE_TIMEOUT = 90.0  # grace period plus teardown, for kubectl's wait until each pod is gone


def target_node(target: str, cluster: Cluster, ctx: Context, verb: str) -> str:
    """The node the fault's target pod runs on; a pod not yet scheduled cannot name one."""
    pod = choose_targets(target, cluster, ctx)[0]
    node = cluster.pod(pod).node
    if node is None:
        raise FaultError(f"cannot {verb} the node of {pod}: it is not scheduled")
    return node


class NodeDrain(Fault):
    """Cordon the node of the target pod, evict its pods as ``kubectl drain`` does, uncordon after ``hold``.

    Evictions that a PodDisruptionBudget refuses are retried every 5 s until
    the drain's timeout; a drain that still cannot evict fails the fault with
    the budget's message, never skipping a pod silently. emptyDir pods are
    evicted too (``--delete-emptydir-data``, which every etcd runbook passes).
    """

    name = "node-drain"
    default_target = "leader"
    touches_nodes = True
    hold = 15.0  # the maintenance window before the node is uncordoned
    node: str | None = None

    def inject(self, cluster: Cluster, ctx: Context) -> list[str]:
        self.node = target_node(self.target, cluster, ctx, "drain")
        ctx.mark("cordon", None, node=self.node)
        cluster.set_schedulable(self.node, False)
        on_node = {p.name: p.uid for p in cluster.pods() if p.node == self.node and not p.terminating}
        pending = dict(on_node)
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while pending:
            for name in list(pending):
                try:
                    cluster.evict(name)
                except EvictionBlocked as blocked:
                    if time.monotonic() >= deadline:
                        raise FaultError(f"drain of {self.node} timed out: evicting {name}: {blocked}") from None
                    ctx.mark("eviction refused, retrying", name, reason=str(blocked))
                    continue
                ctx.mark("evicted", name, node=self.node)
                del pending[name]
            if pending:
                time.sleep(EVICTION_RETRY)
        self._wait_gone(cluster, on_node)
        return sorted(on_node)

    @staticmethod
    def _wait_gone(cluster: Cluster, evicted: dict[str, str]) -> None:
        """Until each evicted pod's object is gone: absent, or back under the same name with a new UID."""
        deadline = time.monotonic() + GONE_TIMEOUT
        while True:
            current = {p.name: p.uid for p in cluster.pods()}
            if all(current.get(name) != uid for name, uid in evicted.items()):
                return
            if time.monotonic() >= deadline:
                raise FaultError(f"evicted pods were not gone {GONE_TIMEOUT:.0f}s after eviction")
            time.sleep(1.0)

    def heal(self, cluster: Cluster, ctx: Context) -> None:
        if self.node is None:
            return
        ctx.mark("uncordon", None, node=self.node)
        cluster.set_schedulable(self.node, True)


class NodeDown(Fault):
    """The target pod's node lost at once, as at a power loss, for ``hold`` seconds; then it comes back.

    Kubernetes cannot tell a dead node from an unreachable one: it marks the
    node NotReady after its node monitor grace period and never replaces a
    StatefulSet pod that might still run there (one pod per identity), so the
    member stays away for the whole outage. This fault does not force-delete
    the pods (that is an operator's decision, and with node-local volumes the
    replacement could not start elsewhere anyway): when the node returns, its
    kubelet restarts their containers in place, on the same volumes.
    """

    name = "node-down"
    default_target = "follower"
    touches_nodes = True
    requires = ("node-down",)
    hold = 60.0  # past the node monitor grace period (50 s), so the node is seen NotReady
    node: str | None = None

    def inject(self, cluster: Cluster, ctx: Context) -> list[str]:
        self.node = node = target_node(self.target, cluster, ctx, "take down")
        hit = sorted(p.name for p in cluster.pods() if p.node == node)
        ctx.mark("node down", None, node=node, pods=hit)
        cluster.node_down(node)
        return hit

    def heal(self, cluster: Cluster, ctx: Context) -> None:
        if self.node is None:
            return
        ctx.mark("node up", None, node=self.node)
        cluster.node_up(self.node)
