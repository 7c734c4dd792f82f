"""Changes made through the StatefulSet itself: rollouts and scaling.

Kubernetes' controller decides the order (highest ordinal first, one pod at
a time, only while the others are healthy); the fault asks for the change and
waits until the controller has finished it, as ``kubectl rollout status`` does.
"""

from __future__ import annotations

from clusters.backend import Cluster
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
