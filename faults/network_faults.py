"""Faults on the network between members, and on the names they find each other by."""

from __future__ import annotations

from clusters.backend import Cluster
from faults.base import Context, Fault, PerPodFault, choose_targets


class Partition(PerPodFault):
    """Cut the target off from every other member for ``hold`` seconds, open connections included.

    The default target is a follower (a minority of one); ``partition:leader``
    cuts the leader off from the majority. Clients on the host still reach
    every member: this is a split between nodes, not an outage of the pod.
    """

    name = "partition"
    default_target = "follower"
    requires = ("network-cut",)
    hold = 10.0
    direction = "both"
    undo_action = "restore network"

    @property
    def action(self) -> str:  # type: ignore[override]
        return f"cut network ({self.direction})"

    def hit(self, cluster: Cluster, pod: str) -> None:
        cluster.cut_network(pod, self.direction)

    def unhit(self, cluster: Cluster, pod: str) -> None:
        cluster.restore_network(pod)


class PartitionInbound(Partition):
    """One direction only: the target hears nothing from its peers, while its own messages still arrive.

    On the leader: its heartbeats keep followers quiet, but it never learns
    that they acknowledged anything, so nothing commits.
    """

    name = "partition-in"
    default_target = "leader"
    direction = "in"


class PartitionOutbound(Partition):
    """One direction only: nothing the target sends reaches its peers, while it still hears them.

    On the leader: followers stop hearing heartbeats and elect a new leader,
    whose messages the old one receives.
    """

    name = "partition-out"
    default_target = "leader"
    direction = "out"


class Latency(PerPodFault):
    """Delay everything the target sends by 200 ms for ``hold`` seconds: a slow or congested link.

    etcd's default heartbeat is 100 ms and its election timeout 1 s, so a
    leader this slow keeps its followers waiting but not yet electing.
    """

    name = "latency"
    default_target = "leader"
    requires = ("network-delay",)
    hold = 10.0
    action = "delay network 200 ms"
    undo_action = "restore network speed"
    milliseconds = 200

    def hit(self, cluster: Cluster, pod: str) -> None:
        cluster.delay_network(pod, self.milliseconds)

    def unhit(self, cluster: Cluster, pod: str) -> None:
        cluster.restore_delay(pod)


class DnsStale(Fault):
    """Delete the target's pod while peers keep resolving its name to the old IP for ``hold`` seconds.

    CoreDNS caches answers for up to 30 s (kind's kubeadm Corefile: ``cache
    30``), so a rebuilt member is, for its peers, still at an address nobody
    holds any more.
    """

    name = "dns-stale"
    default_target = "follower"
    requires = ("dns-cache",)
    hold = 30.0

    def inject(self, cluster: Cluster, ctx: Context) -> list[str]:
        pods = choose_targets(self.target, cluster, ctx)
        for pod in pods:
            ctx.mark("cache DNS answer", pod, seconds=self.hold)
            cluster.hold_dns(pod, self.hold)
        ctx.mark("delete", ",".join(pods))
        cluster.delete_pods(pods)
        return pods
