"""Changes made through the StatefulSet itself: rollouts and scaling.

Kubernetes' controller decides the order (highest ordinal first, one pod at
a time, only while the others are healthy); the fault asks for the change and
waits until the controller has finished it, as ``kubectl rollout status`` does.
"""

from __future__ import annotations

from packaging.version import Version

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
    Going down a minor is allowed as a fault, because operators try it: etcd
    itself refuses an older member into a newer cluster unless ``etcdctl
    downgrade enable`` ran first, and the run shows what the strategy makes
    of that. Nothing is undone at heal: an upgrade is not rolled back.
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
