"""Read a cluster's state from etcd itself: who leads, who is a member, is it whole.

A snapshot is plain data, recorded into the history, so that the recovery
check can be re-run later from the history alone.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from clusters import etcd_api
from clusters.base import Cluster, PodInfo


@dataclass(frozen=True)
class MemberView:
    """What one pod's etcd says, or why it said nothing."""

    pod: str
    endpoint: str | None
    member_id: str = ""
    cluster_id: str = ""
    leader: str = ""
    is_learner: bool = False
    members: tuple[tuple[str, str, bool], ...] = ()  # (id, name, is_learner); name "" = not started
    error: str = ""


@dataclass(frozen=True)
class Snapshot:
    time: float
    replicas: int
    views: tuple[MemberView, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Snapshot:
        views = tuple(
            MemberView(**{**v, "members": tuple(tuple(m) for m in v.get("members", ()))}) for v in raw["views"]
        )
        return cls(raw["time"], raw["replicas"], views)

    def problems(self) -> list[str]:
        """Why this snapshot is not a whole, healthy cluster (empty when it is)."""
        found = []
        answered = [v for v in self.views if not v.error]
        for view in self.views:
            if view.error:
                found.append(f"{view.pod}: {view.error}")
        if len(self.views) < self.replicas:
            found.append(f"{len(self.views)} of {self.replicas} pods exist")
        lists = {v.members for v in answered}
        if len(lists) > 1:
            found.append("members disagree on the member list")
        if len({v.cluster_id for v in answered}) > 1:
            found.append("members report different cluster IDs")
        for view in answered:
            if view.leader in ("", "0"):
                found.append(f"{view.pod}: no leader")
            if view.is_learner:
                found.append(f"{view.pod}: still a learner")
        for members in lists:
            if len(members) != self.replicas:
                found.append(f"member list has {len(members)} members, want {self.replicas}")
            if any(not name for _, name, _ in members):
                found.append("a listed member has never started")
            if any(learner for _, _, learner in members):
                found.append("a listed member is a learner")
        return found

    @property
    def healthy(self) -> bool:
        return not self.problems()

    def leader_pod(self) -> str | None:
        for view in self.views:
            if not view.error and view.leader == view.member_id and view.leader not in ("", "0"):
                return view.pod
        return None


def view(pod: PodInfo, timeout: float) -> MemberView:
    if not pod.endpoint:
        return MemberView(pod.name, None, error=f"pod is {pod.phase}")
    if pod.terminating:
        # It still answers while its preStop runs, but it is leaving: not part of a whole cluster.
        return MemberView(pod.name, pod.endpoint, error="pod is terminating")
    try:
        status = etcd_api.status(pod.endpoint, timeout)
        members = etcd_api.member_list(pod.endpoint, timeout)
    except etcd_api.EtcdError as err:
        return MemberView(pod.name, pod.endpoint, error=str(err).split(": ", 1)[-1][:200])
    listed = tuple(sorted((m.id, m.name, m.is_learner) for m in members))
    return MemberView(
        pod.name, pod.endpoint, status.member_id, status.cluster_id, status.leader, status.is_learner, listed
    )


_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="observe")


def snapshot(cluster: Cluster, timeout: float = 0.5) -> Snapshot:
    """Ask every pod at once; a slow member costs ``timeout``, not a sum of them."""
    pods = cluster.pods()
    views = tuple(_pool.map(lambda p: view(p, timeout), pods))
    return Snapshot(time.time(), cluster.replicas, views)


def wait_healthy(cluster: Cluster, timeout: float, interval: float = 0.05) -> Snapshot:
    """Poll until the cluster is whole; raise TimeoutError with the last problems."""
    deadline = time.monotonic() + timeout
    while True:
        current = snapshot(cluster)
        if current.healthy:
            return current
        if time.monotonic() >= deadline:
            raise TimeoutError(f"cluster not healthy after {timeout:.0f}s: {'; '.join(current.problems())}")
        time.sleep(interval)
