"""Faults Kubernetes and the machine inflict on pods: deletion, restarts, kills, stalls."""

from __future__ import annotations

import signal

from clusters.backend import Cluster
from faults.base import Context, Fault, PerPodFault, choose_targets


class PodDelete(Fault):
    """Delete the pod through the API, as a rescheduling, an eviction or a user does.

    It terminates gracefully (preStop, SIGTERM) and the StatefulSet re-creates
    it with the same name and volumes but a new pod IP. With a count as
    target, all those pods are deleted in the same instant.
    """

    name = "pod-delete"
    default_target = "leader"

    def inject(self, cluster: Cluster, ctx: Context) -> list[str]:
        pods = choose_targets(self.target, cluster, ctx)
        ctx.mark("delete", ",".join(pods))
        cluster.delete_pods(pods)
        return pods


class SimultaneousRebuild(PodDelete):
    """Two members' pods deleted at once: with three members, a majority rebuilt together.

    This is how the seed cluster died: a node pool upgrade or a namespace
    redeploy rebuilds several pods at the same time, and each rebuilt member
    waits for the others.
    """

    name = "simultaneous-rebuild"
    default_target = "2"
    draws_target = False


class InplaceRestart(PerPodFault):
    """Kill the container's process; the kubelet restarts it in the same pod at once.

    Same pod, same IP, restart count + 1, and no preStop: what a crash, an OOM
    kill or ``crictl stop`` does. Aimed at a follower by default because that is
    where the seed's panic shows (the leader keeps its progress for a follower).
    """

    name = "inplace-restart"
    default_target = "follower"
    action = "kill container"
    requires = ("signal",)
    wipe_data = False

    def hit(self, cluster: Cluster, pod: str) -> None:
        cluster.kill_container(pod, signal.SIGKILL, wipe_data=self.wipe_data)


class InplaceRestartWiped(InplaceRestart):
    """An in-place restart that finds its data directory empty: a wiped or replaced disk.

    The member's ID is still in the member list and the leader still holds
    its progress, so a strategy that simply starts again meets the seed's
    ``tocommit`` panic.
    """

    name = "inplace-restart-wiped"
    action = "kill container, wipe its volumes"
    requires = ("signal", "freeze", "wipe")
    wipe_data = True


class LeaderKill(PerPodFault):
    """SIGKILL the leader's etcd process (not the entrypoint around it): a crash mid-term.

    The remaining members must elect a new leader; the entrypoint decides
    whether the container exits and is restarted in place.
    """

    name = "leader-kill"
    default_target = "leader"
    draws_target = False
    action = "SIGKILL etcd"
    requires = ("signal",)

    def hit(self, cluster: Cluster, pod: str) -> None:
        cluster.signal_etcd(pod, signal.SIGKILL)


class Pause(PerPodFault):
    """SIGSTOP a member's etcd for ``hold`` seconds, then SIGCONT: a long GC pause or a disk stall.

    Aimed at the leader by default: it wakes up believing it still leads,
    with a term the others have left behind.
    """

    name = "pause"
    default_target = "leader"
    hold = 10.0
    action = "SIGSTOP etcd"
    requires = ("signal",)
    undo_action = "SIGCONT etcd"

    def hit(self, cluster: Cluster, pod: str) -> None:
        cluster.signal_etcd(pod, signal.SIGSTOP)

    def unhit(self, cluster: Cluster, pod: str) -> None:
        cluster.signal_etcd(pod, signal.SIGCONT)
