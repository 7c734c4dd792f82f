"""A fault: a small type that says where it can run, how it injects and how it heals.

Targets are chosen when the fault is injected, from what etcd reports at that
moment (who leads), with the scenario's seeded random generator, so the same
seed picks the same member role again. A fault that holds (a partition, a
pause, a cordoned node) stays in place for ``hold`` seconds between inject and
heal; every step it takes is marked in the cluster's event log, which is the
scenario's timeline.
"""

from __future__ import annotations

import abc
import random
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from clusters.backend import Cluster
from clusters.events import EventLog
from clusters.observe import Snapshot

TARGETS = ("leader", "follower", "random", "N (that many pods at once)", "pod names (etcd-0,etcd-1)")


class FaultError(ValueError):
    """A fault name, schedule or target that does not exist; the message lists what does."""


@dataclass(frozen=True)
class Context:
    """What a fault may use besides the cluster: randomness, the latest view, the timeline."""

    rng: random.Random
    snapshot: Snapshot
    events: EventLog

    def mark(self, action: str, pod: str | None = None, **detail: Any) -> None:
        """A step of the fault, for the timeline (cordon, evict, SIGSTOP, cut …)."""
        self.events.record("fault-step", pod, action=action, **detail)


def choose_targets(target: str, cluster: Cluster, ctx: Context) -> list[str]:
    """Resolve leader / follower / random / N / pod names to the pods to hit.

    Pods named in the target must be running: a fault aimed at a pod that is
    Pending or gone cannot take effect, and says so.
    """
    pods = [p.name for p in cluster.pods() if p.phase == "Running" and not p.terminating]
    named = target.split(",")
    if all(name in pods for name in named):
        return named
    if not pods:
        raise FaultError(f"cannot aim at {target}: no pod is running")
    if target.isdigit():
        count = int(target)
        if not 0 < count <= len(pods):
            raise FaultError(f"cannot hit {count} pods: {len(pods)} are running")
        return sorted(ctx.rng.sample(pods, count))
    if target == "random":
        return [ctx.rng.choice(pods)]
    leader = ctx.snapshot.leader_pod()
    if target in ("leader", "follower") and leader is None:
        raise FaultError(f"cannot aim at the {target}: no member reports a leader")
    if target == "leader":
        return [leader]
    if target == "follower":
        followers = [p for p in pods if p != leader]
        if not followers:
            raise FaultError("cannot aim at a follower: only the leader is running")
        return [ctx.rng.choice(followers)]
    raise FaultError(f"unknown target {target!r}: use {', '.join(TARGETS)}")


def wait_until(condition: Any, timeout: float, what: str, interval: float = 0.2) -> None:
    """Poll ``condition()`` until true; raise FaultError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise FaultError(f"{what} did not happen within {timeout:.0f}s")
        time.sleep(interval)


class Fault(abc.ABC):
    name: ClassVar[str]
    default_target: ClassVar[str] = "random"
    backends: ClassVar[frozenset[str]] = frozenset({"local", "kind", "existing"})
    # Capabilities the backend must have beyond the pod API (see Cluster.missing).
    requires: ClassVar[tuple[str, ...]] = ()
    # How long the disruption stays in place before heal.
    hold: ClassVar[float] = 0.0
    # Whether a ``random`` schedule step draws a target (a role or a pod) for it.
    draws_target: ClassVar[bool] = True
    # Whether it acts on a node, which every scenario with pods there shares (a cordon, a power loss):
    # side by side with others, such a scenario needs nodes of its own (harness/lanes.py).
    touches_nodes: ClassVar[bool] = False
    # Whether the matrix runs it when no --fault is given, and a ``random`` step may draw it:
    # not a fault that needs a target only the user can choose.
    in_default_matrix: ClassVar[bool] = True

    def __init__(self, target: str | None = None) -> None:
        self.target = target or self.default_target
        self.pods: list[str] = []  # what inject hit, for heal

    @property
    def id(self) -> str:
        """Readable test id: the name, plus the target when it is not the default."""
        return self.name if self.target == self.default_target else f"{self.name}-{self.target}"

    @property
    def spec(self) -> str:
        return f"{self.name}:{self.target}"

    @property
    def etcd_versions(self) -> tuple[str, ...]:
        """etcd releases this fault moves the members to: their images must exist before the run."""
        return ()

    def unavailable(self, cluster: Cluster) -> str | None:
        """One line saying why this fault cannot run on ``cluster``, or None when it can."""
        if cluster.backend not in self.backends:
            return f"{self.name} is not available on the {cluster.backend} backend"
        for capability in self.requires:
            reason = cluster.missing(capability)
            if reason:
                return f"{self.name} skipped: {reason}"
        return None

    def check_target(self) -> None:
        """Refuse a target this fault cannot take, when the spec is parsed rather than mid-run."""

    def target_problem(self, pods: list[str]) -> str | None:
        """Why the target can never exist in a cluster of ``pods`` (a strategy's), or None.

        Checked before any cluster starts, so ``pod-delete:etcd-9`` against
        three replicas is one line at once instead of a whole cluster's start.
        """
        if self.target in ("leader", "random"):
            return None
        if self.target == "follower":
            return None if len(pods) > 1 else f"a cluster of {len(pods)} member has no follower"
        if self.target.isdigit():
            count = int(self.target)
            return None if 0 < count <= len(pods) else f"cannot hit {count} pods of {len(pods)}"
        missing = [name for name in self.target.split(",") if name not in pods]
        if missing:
            return f"no pod {', '.join(missing)} (its pods: {', '.join(pods)})"
        return None

    @abc.abstractmethod
    def inject(self, cluster: Cluster, ctx: Context) -> list[str]:
        """Disrupt the cluster; return the pods hit."""

    def heal(self, cluster: Cluster, ctx: Context) -> None:
        """Undo the disruption; Kubernetes heals pod faults by itself, so by default nothing."""


class PerPodFault(Fault):
    """A fault that does one thing to each pod it aims at, and may undo it on heal."""

    action: ClassVar[str]  # for the timeline
    undo_action: ClassVar[str | None] = None  # set by faults that undo ``hit`` on heal

    def inject(self, cluster: Cluster, ctx: Context) -> list[str]:
        self.pods = choose_targets(self.target, cluster, ctx)
        for pod in self.pods:
            ctx.mark(self.action, pod)
            self.hit(cluster, pod)
        return self.pods

    @abc.abstractmethod
    def hit(self, cluster: Cluster, pod: str) -> None:
        """Disrupt one pod."""

    def unhit(self, cluster: Cluster, pod: str) -> None:
        """Undo ``hit`` on one pod; only called when ``undo_action`` is set."""

    def heal(self, cluster: Cluster, ctx: Context) -> None:
        if self.undo_action is None:
            return
        for pod in self.pods:
            ctx.mark(self.undo_action, pod)
            self.unhit(cluster, pod)
