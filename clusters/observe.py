"""Read a cluster's state from etcd itself: who leads, who is a member, is it whole.

A snapshot is plain data, recorded into the history, so that the recovery
check can be re-run later from the history alone.
"""

from __future__ import annotations

import ipaddress
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from clusters import etcd_api
from clusters.backend import Cluster, PodInfo, Unsupported


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
    peer_urls: tuple[str, ...] = ()  # every peer URL in this member's list
    image_release: str = ""  # the etcd release its pod's image holds: what `etcd --version` says in it
    version: str = ""  # the server version the member reports (Maintenance/Status, as /version's etcdserver)


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
            MemberView(
                **{**v, "members": tuple(tuple(m) for m in v.get("members", ())), "peer_urls": tuple(v.get("peer_urls", ()))}
            )
            for v in raw["views"]
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

    def hazards(self) -> list[str]:
        """What works now but breaks at the next disruption: peer URLs at IPs no pod holds any more.

        The seed's first failure: a member joined with its pod IP, the pod was
        rebuilt with a new IP, and the member list still sends peers to the old
        one. The cluster may still work (the moved member dials out to its
        peers), so this is not unhealthy by itself; once every member has moved,
        nobody can reach anybody. Only IP literals are judged; DNS names move
        with their pods.
        """
        current = {urlsplit(v.endpoint).hostname for v in self.views if v.endpoint}
        stale = set()
        for view in self.views:
            for url in view.peer_urls:
                host = urlsplit(url).hostname or ""
                if _is_ip(host) and host not in current:
                    stale.add(url)
        return [f"peer URL {url} points to an address no pod has (stale after a rebuild)" for url in sorted(stale)]

    @property
    def healthy(self) -> bool:
        return not self.problems()

    def leader_pod(self) -> str | None:
        """The pod whose member leads: by its own word, else by its followers' when it did not answer in time.

        A leader busy on a loaded machine can miss the 0.5 s a snapshot
        gives it while its followers still name it; a fault aimed at "the
        follower" then refused to run ("no member reports a leader").
        """
        answered = [v for v in self.views if not v.error]
        for view in answered:
            if view.leader == view.member_id and view.leader not in ("", "0"):
                return view.pod
        named = {v.leader for v in answered} - {"", "0"}
        pods = {v.pod for v in self.views}
        if len(named) == 1:
            leader = named.pop()
            for view in answered:
                for member_id, name, _ in view.members:
                    if member_id == leader and name in pods:
                        return name
        return None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def view(pod: PodInfo, timeout: float) -> MemberView:
    if not pod.endpoint:
        return MemberView(pod.name, None, error=f"pod is {pod.phase}", image_release=pod.release)
    if pod.terminating:
        # It still answers while its preStop runs, but it is leaving: not part of a whole cluster.
        return MemberView(pod.name, pod.endpoint, error="pod is terminating", image_release=pod.release)
    try:
        status = etcd_api.status(pod.endpoint, timeout)
        members = etcd_api.member_list(pod.endpoint, timeout)
    except etcd_api.EtcdError as err:
        return MemberView(pod.name, pod.endpoint, error=str(err).split(": ", 1)[-1][:200], image_release=pod.release)
    listed = tuple(sorted((m.id, m.name, m.is_learner) for m in members))
    urls = tuple(sorted({url for m in members for url in m.peer_urls}))
    return MemberView(
        pod.name, pod.endpoint, status.member_id, status.cluster_id, status.leader, status.is_learner, listed, "", urls,
        pod.release, status.version,
    )


_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="observe")


def snapshot(cluster: Cluster, timeout: float = 0.5) -> Snapshot:
    """Ask every pod at once; a slow member costs ``timeout``, not a sum of them."""
    pods = cluster.pods()
    views = tuple(_pool.map(lambda p: view(p, timeout), pods))
    return Snapshot(time.monotonic(), cluster.replicas, views)


@dataclass(frozen=True)
class Store:
    """One member's key space as its own store holds it at the end, or why it could not be read."""

    pod: str
    endpoint: str | None
    cluster_id: str = ""
    member_id: str = ""
    revision: int = 0
    changes: tuple[etcd_api.Change, ...] = ()
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Store:
        return cls(**{**raw, "changes": tuple(etcd_api.Change(**c) for c in raw.get("changes", ()))})


def store(pod: PodInfo, timeout: float) -> Store:
    if not pod.endpoint or pod.terminating:
        return Store(pod.name, pod.endpoint, error=f"pod is {'terminating' if pod.terminating else pod.phase}")
    try:
        held = etcd_api.key_history(pod.endpoint, timeout)
    except etcd_api.EtcdError as err:
        return Store(pod.name, pod.endpoint, error=str(err).split(": ", 1)[-1][:200])
    return Store(pod.name, pod.endpoint, held.cluster_id, held.member_id, held.revision, held.changes)


def stores(cluster: Cluster, timeout: float = 10.0) -> list[Store]:
    """Every pod's store at once, after the traffic stopped: what the data checks compare."""
    return list(_pool.map(lambda p: store(p, timeout), cluster.pods()))


LOG_LINES = 5  # of each unhealthy pod's container log, in NotHealthy
LOG_LINE_CHARS = 500


class NotHealthy(TimeoutError):
    """The cluster was not whole in time, and why, pod by pod.

    "Connection refused" alone hides the cause that is usually plain in what
    the kubelet knows (a container exiting 1 at once, restarted in a loop) and
    in the last lines of its log. ``pods`` holds one explanation line per pod
    that did not answer, ``logs`` the last lines of each one's log (same pods,
    same order); ``str()`` is the summary line, then each pod's line with its
    log lines indented beneath.
    """

    def __init__(self, summary: str, pods: list[str], logs: dict[str, list[str]]) -> None:
        super().__init__(summary)
        self.summary = summary
        self.pods = pods
        self.logs = logs

    def __str__(self) -> str:
        lines = [self.summary]
        for explanation, tail in zip(self.pods, self.logs.values()):
            lines.append(f"  {explanation}")
            lines += [f"    | {line}" for line in tail]
        return "\n".join(lines)


def last_lines(runs: list[str], count: int = LOG_LINES) -> tuple[list[str], str]:
    """The last ``count`` lines of the newest run that printed anything, and which run that was."""
    for index in range(len(runs) - 1, -1, -1):
        lines = [line[:LOG_LINE_CHARS] for line in runs[index].splitlines() if line.strip()]
        if lines:
            which = "its latest run" if index == len(runs) - 1 else f"run {index + 1} of {len(runs)}"
            return lines[-count:], which
    return [], ""


def explain(cluster: Cluster, current: Snapshot, timeout: float) -> NotHealthy:
    """A NotHealthy for ``current``: each pod that did not answer, with its container status and log tail."""
    summary = f"cluster not healthy after {timeout:.0f}s: {'; '.join(current.problems())}"
    runs = cluster.logs()
    pods: list[str] = []
    logs: dict[str, list[str]] = {}
    for member in current.views:
        if not member.error:
            continue
        try:
            status = f"container {cluster.container_status(member.pod).describe()}"
        except (Unsupported, KeyError) as err:
            status = f"container status unknown ({err})"
        tail, which = last_lines(runs.get(member.pod, []))
        where = f"last {len(tail)} log line{'s' if len(tail) != 1 else ''} of {which}:" if tail else "no log output"
        pods.append(f"{member.pod}: {member.error}; {status}; {where}")
        logs[member.pod] = tail
    return NotHealthy(summary, pods, logs)


def wait_healthy(cluster: Cluster, timeout: float, interval: float = 0.05) -> Snapshot:
    """Poll until the cluster is whole; raise NotHealthy, explained pod by pod, when it is not in time."""
    deadline = time.monotonic() + timeout
    while True:
        current = snapshot(cluster)
        if current.healthy:
            return current
        if time.monotonic() >= deadline:
            raise explain(cluster, current, timeout)
        time.sleep(interval)
