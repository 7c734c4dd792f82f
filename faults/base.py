"""A fault: a small type that says where it can run and how it injects and heals.

Targets are chosen when the fault is injected, from what etcd reports at that
moment (who leads), with the scenario's seeded random generator, so the same
seed picks the same member role again.
"""

from __future__ import annotations

import abc
import random
from dataclasses import dataclass
from typing import ClassVar

from clusters.base import Cluster
from clusters.observe import Snapshot

TARGETS = ("leader", "follower", "random")


class FaultError(ValueError):
    """A fault name or target that does not exist; the message lists what does."""


@dataclass(frozen=True)
class Context:
    """What a fault may use besides the cluster: randomness and the latest view."""

    rng: random.Random
    snapshot: Snapshot


def choose_target(target: str, cluster: Cluster, ctx: Context) -> str:
    """Resolve leader / follower / random / a pod name to one pod name."""
    pods = [p.name for p in cluster.pods() if p.phase == "Running"]
    if target in pods:
        return target
    if not pods:
        raise FaultError(f"cannot aim at {target}: no pod is running")
    if target == "random":
        return ctx.rng.choice(pods)
    leader = ctx.snapshot.leader_pod()
    if leader is None:
        raise FaultError(f"cannot aim at the {target}: no member reports a leader")
    if target == "leader":
        return leader
    if target == "follower":
        followers = [p for p in pods if p != leader]
        if not followers:
            raise FaultError("cannot aim at a follower: only the leader is running")
        return ctx.rng.choice(followers)
    raise FaultError(f"unknown target {target!r}: use {', '.join(TARGETS)} or a pod name")


class Fault(abc.ABC):
    name: ClassVar[str]
    default_target: ClassVar[str] = "random"
    backends: ClassVar[frozenset[str]] = frozenset({"local", "kind", "existing"})

    def __init__(self, target: str | None = None) -> None:
        self.target = target or self.default_target

    @property
    def id(self) -> str:
        """Readable test id: the name, plus the target when it is not the default."""
        return self.name if self.target == self.default_target else f"{self.name}-{self.target}"

    @abc.abstractmethod
    def inject(self, cluster: Cluster, ctx: Context) -> list[str]:
        """Disrupt the cluster; return the pods hit."""

    def heal(self, cluster: Cluster, ctx: Context) -> None:
        """Undo the disruption; Kubernetes heals pod faults by itself, so by default nothing."""
