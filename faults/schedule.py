"""Schedules: faults in sequence, repeated, or drawn at random from a seed.

A schedule spec is what ``--fault`` takes: steps joined by ``+``, each
``NAME[:TARGET][*N]``; the step ``random`` draws a fault and its target from
the seed. Planning resolves the spec into concrete fault specs before anything
runs, so the same seed replays the same faults, targets and order, and the plan
is written into the history for anyone to replay. Random steps aim at pod
names, not roles, because who leads differs from one run to the next; faults
whose target is their point (the leader for leader-kill, a count, a size)
keep it.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from faults.base import Fault, FaultError
from faults.catalog import RANDOM_POOL, make

_STEP = re.compile(r"^(?P<fault>[a-z][a-z0-9-]*)(?::(?P<target>[A-Za-z0-9,.>-]+))?(?:\*(?P<times>\d+))?$")
RANDOM = "random"


@dataclass(frozen=True)
class Schedule:
    spec: str
    steps: tuple[str, ...]
    drawn: bool = False  # some step was drawn at random: the spec, not a fault, names it

    @property
    def single(self) -> Fault | None:
        """The one fault this schedule runs, when it is just that."""
        return self.faults()[0] if len(self.steps) == 1 and not self.drawn else None

    @property
    def id(self) -> str:
        """The test id: a single fault's id, or the spec with targets joined by '-'."""
        single = self.single
        return single.id if single else self.spec.replace(":", "-")

    @property
    def declared_keys(self) -> tuple[str, ...]:
        """What a strategy's known_failures may be keyed by, most specific first."""
        single = self.single
        return (single.id, single.spec, single.name) if single else (self.spec,)

    @property
    def touches_nodes(self) -> bool:
        """Whether a step acts on a node, so that side by side with other scenarios it needs nodes of its own."""
        return any(fault.touches_nodes for fault in self.faults())

    @property
    def etcd_versions(self) -> tuple[str, ...]:
        """The etcd releases its steps move members to (a rolling upgrade's), besides the one the cluster starts on."""
        return tuple(dict.fromkeys(v for fault in self.faults() for v in fault.etcd_versions))

    def faults(self) -> list[Fault]:
        """Fresh fault objects: a fault keeps state between its inject and heal."""
        return [make(step) for step in self.steps]


def _parse(spec: str) -> list[tuple[str, str | None, int]]:
    if not spec:
        raise FaultError("empty fault schedule")
    steps = []
    for part in spec.split("+"):
        match = _STEP.match(part)
        if not match:
            raise FaultError(f"cannot read schedule step {part!r}: write NAME[:TARGET][*N], steps joined by '+'")
        times = int(match["times"] or 1)
        if not 1 <= times <= 100:
            raise FaultError(f"schedule step {part!r}: repeat between 1 and 100 times")
        steps.append((match["fault"], match["target"], times))
    return steps


def _draw(rng: random.Random, pods: list[str]) -> str:
    cls = rng.choice(RANDOM_POOL)
    if not cls.draws_target:
        return f"{cls.name}:{cls.default_target}"
    return f"{cls.name}:{rng.choice(pods)}"


def plan(spec: str, seed: int, pods: list[str]) -> Schedule:
    """Resolve ``spec`` into concrete steps; ``pods`` are the pod names random targets are drawn from."""
    rng = random.Random(f"schedule:{seed}")
    steps: list[str] = []
    drawn = False
    for name, target, times in _parse(spec):
        for _ in range(times):
            if name == RANDOM:
                if target:
                    raise FaultError("'random' draws its own target; write random or random*N")
                steps.append(_draw(rng, pods))
                drawn = True
            else:
                steps.append(make(f"{name}:{target}" if target else name).spec)
    return Schedule(spec, tuple(steps), drawn)


def outline(spec: str) -> Schedule:
    """The schedule's shape, for test ids and declarations, before any cluster exists.

    Raises FaultError for a spec that cannot be planned; the targets of random
    steps are placeholders (real ones are drawn per run).
    """
    return plan(spec, 0, ["pod"])
