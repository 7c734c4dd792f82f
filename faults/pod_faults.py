"""Faults Kubernetes inflicts on pods every day: deletion and in-place restarts."""

from __future__ import annotations

import signal

from clusters.base import Cluster
from faults.base import Context, Fault, choose_target


class PodDelete(Fault):
    """Delete the pod through the API, as a rescheduling, an eviction or a user does.

    It terminates gracefully (preStop, SIGTERM) and the StatefulSet re-creates
    it with the same name and volumes but a new pod IP.
    """

    name = "pod-delete"
    default_target = "leader"

    def inject(self, cluster: Cluster, ctx: Context) -> list[str]:
        pod = choose_target(self.target, cluster, ctx)
        cluster.delete_pod(pod)
        return [pod]


class InplaceRestart(Fault):
    """Kill the container's process; the kubelet restarts it in the same pod at once.

    Same pod, same IP, restart count + 1, and no preStop: what a crash, an OOM
    kill or ``crictl stop`` does. Aimed at a follower by default because that is
    where the seed's panic shows (the leader keeps its progress for a follower).
    """

    name = "inplace-restart"
    default_target = "follower"

    def inject(self, cluster: Cluster, ctx: Context) -> list[str]:
        pod = choose_target(self.target, cluster, ctx)
        cluster.kill_container(pod, signal.SIGKILL)
        return [pod]
