"""Changes made through the StatefulSet itself: rollouts and scaling.

Kubernetes' controller decides the order (highest ordinal first, one pod at
a time, only while the others are healthy); the fault asks for the change and
waits until the controller has finished it, as ``kubectl rollout status`` does.
"""

from __future__ import annotations

from packaging.version import Version

from clusters import etcd_api
from clusters.backend import Cluster
from clusters.localkube.etcd_releases import normalize
from faults.base import Context, Fault, FaultError, wait_until

ROLLOUT_TIMEOUT = 120.0  # kubectl rollout status has none; a bound keeps a stuck rollout from hanging the run


class RollingRestart(Fault):
    """``kubectl rollout restart``: every pod replaced in turn, the next only once the last is ready."""

    name = "rolling-restart"
    default_target = "all"
    draws_target = False

    def check_target(self) -> None:
        if self.target != "all":
            raise FaultError(f"{self.name} restarts every pod: it takes no target (got {self.target!r})")

    def target_problem(self, pods: list[str]) -> str | None:
        return None

    def inject(self, cluster: Cluster, ctx: Context) -> list[str]:
        pods = [p.name for p in cluster.pods()]
        ctx.mark("rollout restart")
        cluster.rollout_restart()
        wait_until(cluster.rollout_complete, ROLLOUT_TIMEOUT, "the rollout")
        ctx.mark("rollout complete")
        return pods


class RollingUpgrade(Fault):
    """``rolling-upgrade:3.5.1->3.6.16``: the etcd image moved to another release through the rolling update.

    What an operator does to upgrade (``kubectl set image``, then ``rollout
    status``), and when operators lose clusters: the controller replaces the
    pods highest ordinal first, each once the one before is ready, so for a
    while members of both releases serve one cluster. etcd's upgrade guide
    supports one minor release at a time (3.4 → 3.5 → 3.6, patch releases
    freely), so a path that skips one is refused when the spec is read.
    Going down a minor is allowed as a fault, because operators try it (a
    ``helm rollback`` of the image): etcd itself refuses an older member into
    a newer cluster unless ``etcdctl downgrade enable`` ran first (which
    ``rolling-downgrade`` does), and the run shows what the strategy makes of
    that. Nothing is undone at heal: an upgrade is not rolled back.
    """

    name = "rolling-upgrade"
    default_target = ""
    draws_target = False
    in_default_matrix = False  # which releases to move between is the user's question, not a default

    def __init__(self, target: str | None = None) -> None:
        super().__init__(target)
        self.source, _, self.dest = self.target.partition("->")

    def check_target(self) -> None:
        if not self.source or not self.dest:
            raise FaultError(f"{self.name} takes FROM->TO, e.g. {self.name}:3.5.1->3.6.16 (got {self.target!r})")
        try:
            self.source, self.dest = normalize(self.source), normalize(self.dest)
        except ValueError as err:
            raise FaultError(f"{self.name}:{self.target}: {err}") from None
        old, new = Version(self.source), Version(self.dest)
        if old == new:
            raise FaultError(f"{self.name}:{self.target}: the same release twice; give another to move to")
        if old.major != new.major or abs(old.minor - new.minor) > 1:
            step = f"{old.major}.{old.minor + (1 if new > old else -1)}"
            raise FaultError(
                f"{self.name}:{self.target}: etcd's upgrade guide supports one minor release at a time; "
                f"go through {step} first ({self.name}:{self.source}->{step}.X, then on)"
            )

    def target_problem(self, pods: list[str]) -> str | None:
        return None

    @property
    def etcd_versions(self) -> tuple[str, ...]:
        return (self.dest,)

    def unavailable(self, cluster: Cluster) -> str | None:
        if cluster.etcd_version != self.source:
            return f"{self.name}:{self.target} starts from etcd {self.source}; this cluster runs {cluster.etcd_version}"
        return super().unavailable(cluster)

    def inject(self, cluster: Cluster, ctx: Context) -> list[str]:
        pods = [p.name for p in cluster.pods()]
        ctx.mark(f"etcd image {self.source} -> {self.dest}")
        cluster.change_etcd_release(self.dest)
        wait_until(cluster.rollout_complete, ROLLOUT_TIMEOUT, "the rollout")
        ctx.mark("rollout complete")
        return pods


class RollingDowngrade(RollingUpgrade):
    """``rolling-downgrade:3.6.17->3.5.21``: etcd's own downgrade procedure, then the same rolling image change.

    From 3.6 on, etcd downgrades only when asked first: ``etcdctl downgrade
    validate`` and ``enable`` set the cluster version to the older minor and
    each member rewrites its data to that format; once every member reports
    that storage version, the members are replaced one at a time. (3.5 has no
    such call: its guide to 3.4 replaces the binaries, ``rolling-upgrade``,
    with 3.4.32 or later started with ``--next-cluster-version-compatible``.)
    """

    name = "rolling-downgrade"

    def check_target(self) -> None:
        super().check_target()
        old, new = Version(self.source), Version(self.dest)
        if new > old:
            raise FaultError(f"{self.name}:{self.target}: that is an upgrade; use rolling-upgrade:{self.target}")
        if old.minor == new.minor:
            raise FaultError(f"{self.name}:{self.target}: a patch release needs no downgrade call; use rolling-upgrade:{self.target}")
        if old < Version("3.6.0"):
            raise FaultError(
                f"{self.name}:{self.target}: etcd's downgrade call starts at 3.6; the guide from 3.5 to 3.4 "
                f"replaces the binaries (3.4.32 or later, started with --next-cluster-version-compatible): "
                f"use rolling-upgrade:{self.target}"
            )

    @property
    def series(self) -> str:
        new = Version(self.dest)
        return f"{new.major}.{new.minor}"

    def inject(self, cluster: Cluster, ctx: Context) -> list[str]:
        endpoints = cluster.endpoints()
        for action in ("VALIDATE", "ENABLE"):
            ctx.mark(f"etcdctl downgrade {action.lower()} {self.series}")
            self._ask(endpoints, action)
        storage = f"{self.series}.0"
        wait_until(lambda: self._storage_versions(endpoints) == {storage}, ROLLOUT_TIMEOUT, f"every member's storage version {storage}")
        ctx.mark(f"every member's storage version is {storage}")
        return super().inject(cluster, ctx)

    def _ask(self, endpoints: list[str], action: str) -> None:
        """The call on the first member that answers: any member hands it to the leader."""
        refused = []
        for endpoint in endpoints:
            try:
                etcd_api.downgrade(endpoint, action, self.series)
                return
            except etcd_api.EtcdError as err:
                refused.append(str(err))
        raise FaultError(f"etcdctl downgrade {action.lower()} {self.series}: {'; '.join(refused) or 'no member to ask'}")

    @staticmethod
    def _storage_versions(endpoints: list[str]) -> set[str]:
        found = set()
        for endpoint in endpoints:
            try:
                found.add(etcd_api.status(endpoint).storage_version)
            except etcd_api.EtcdError:
                found.add("")  # a member that does not answer has not been seen to convert
        return found


class Scale(Fault):
    """Scale 3 → 5 → 3 (the target is the size to grow to) through the StatefulSet's replicas.

    Growing needs members that join a running cluster; shrinking removes the
    highest ordinals, whose members someone must remove from the member list
    (a preStop hook, or an operator).
    """

    name = "scale"
    default_target = "5"
    draws_target = False
    original: int | None = None

    def check_target(self) -> None:
        if not self.target.isdigit():
            raise FaultError(f"{self.name} takes the size to grow to, e.g. scale:5 (got {self.target!r})")

    def target_problem(self, pods: list[str]) -> str | None:
        if int(self.target) <= len(pods):
            return f"{len(pods)} replicas cannot grow to {self.target}; give a larger size"
        return None

    def inject(self, cluster: Cluster, ctx: Context) -> list[str]:
        self.original = cluster.replicas
        grown = int(self.target)
        ctx.mark(f"scale to {grown}")
        cluster.set_replicas(grown)
        wait_until(lambda: sum(p.ready for p in cluster.pods()) >= grown, ROLLOUT_TIMEOUT, f"{grown} ready pods")
        return [p.name for p in cluster.pods() if p.ordinal >= self.original]

    def heal(self, cluster: Cluster, ctx: Context) -> None:
        original = self.original
        if original is None:
            return
        ctx.mark(f"scale to {original}")
        cluster.set_replicas(original)
        wait_until(lambda: len(cluster.pods()) == original, ROLLOUT_TIMEOUT, f"scaling back to {original}")
