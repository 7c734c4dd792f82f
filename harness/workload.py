"""The client traffic that runs through a scenario and fills the history.

Several clients, as a real cluster has: one that fails over between all
members like a client with several endpoints, and others pinned each to one
member, as a client behind a per-pod Service or a sidecar would be. They put
unique values, read linearizably and serializably, and compare-and-set over a
small key set, so that the same keys see concurrent writers and readers: what
a linearizability checker needs to find a stale read or a lost write. Every
call is recorded with invoke and complete times (monotonic) and its outcome:
``fail`` only when etcd_api says it provably had no effect, else ``unknown``.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from clusters import etcd_api
from clusters.backend import Cluster, PodInfo
from harness.history import Operation

KEY_PREFIX = "/chaos/register/"


@dataclass(frozen=True)
class Mix:
    """How often each kind of call is made (weights)."""

    put: int = 35
    get: int = 25
    serializable_get: int = 15
    cas: int = 25

    KINDS: ClassVar[tuple[str, ...]] = ("put", "get", "serializable_get", "cas")

    def __post_init__(self) -> None:
        weights = [getattr(self, kind) for kind in self.KINDS]
        if any(not isinstance(w, int) or w < 0 for w in weights) or not sum(weights):
            raise ValueError(f"mix {self.text()}: weights are whole numbers >= 0, at least one above 0")

    @classmethod
    def parse(cls, text: str) -> Mix:
        """``put=35,get=25,serializable_get=15,cas=25``; kinds left out weigh 0."""
        weights: dict[str, int] = dict.fromkeys(cls.KINDS, 0)
        for part in filter(None, (p.strip() for p in text.split(","))):
            kind, _, weight = part.partition("=")
            if kind.strip() not in weights or not weight.strip().isdigit():
                raise ValueError(f"mix {text}: write KIND=WEIGHT,... with KIND one of {', '.join(cls.KINDS)}")
            weights[kind.strip()] = int(weight)
        return cls(**weights)

    def text(self) -> str:
        return ",".join(f"{kind}={getattr(self, kind)}" for kind in self.KINDS)

    def draw(self, rng: random.Random) -> str:
        return rng.choices(self.KINDS, weights=[getattr(self, kind) for kind in self.KINDS])[0]


@dataclass(frozen=True)
class WorkloadSpec:
    """Defaults: four clients at 20 calls/s each over five keys, 1 s per call (a timeout is "unknown").

    ``value_size`` pads every written value to that many bytes (0: just its
    unique name, such as ``client-2-17``); the name stays first, so values stay
    unique whatever the size.
    """

    clients: int = 4
    rate: float = 20.0  # calls per second per client; a client makes one call at a time
    keys: int = 5
    timeout: float = 1.0
    value_size: int = 0
    mix: Mix = Mix()

    def __post_init__(self) -> None:
        """Each wrong field is one message that starts with its name, so an option can be named after it."""
        for name, least in (("clients", 1), ("keys", 1), ("value_size", 0)):
            if getattr(self, name) < least:
                raise ValueError(f"{name.replace('_', '-')} {getattr(self, name)}: give {least} or more")
        for name in ("rate", "timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} {getattr(self, name)}: give a number above 0")

    @property
    def interval(self) -> float:
        return 1.0 / self.rate

    def value(self, name: str) -> str:
        return name.ljust(self.value_size, ".")


class Client:
    """One client calling its targets one at a time: one pod (pinned) or all of them in turn after an error."""

    def __init__(
        self,
        name: str,
        targets: Callable[[], list[PodInfo]],
        spec: WorkloadSpec,
        rng: random.Random,
    ) -> None:
        self.name = name
        self.targets = targets
        self.spec = spec
        self.rng = rng
        self.operations: list[Operation] = []
        self._seen: dict[str, str | None] = {}  # what this client last saw in each key, for its next cas
        self._turn = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.spec.timeout + 5)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            started = time.monotonic()
            targets = self.targets()
            if targets:
                n += 1
                self.operations.append(self._call(targets[self._turn % len(targets)], n))
            self._stop.wait(max(0.0, self.spec.interval - (time.monotonic() - started)))
        etcd_api.close_kept()

    def _call(self, pod: PodInfo, n: int) -> Operation:
        """One call to ``pod``; on an error the next call goes to the next member (if there is one)."""
        kind = self.spec.mix.draw(self.rng)
        key = f"{KEY_PREFIX}{self.rng.randrange(self.spec.keys)}"
        value = self.spec.value(f"{self.name}-{n}")
        endpoint = pod.endpoint or ""
        op = Operation(self.name, "get" if kind == "serializable_get" else kind, key, None, endpoint, time.monotonic())
        op.member = pod.name
        timeout = self.spec.timeout
        try:
            if kind == "put":
                op.value = value
                op.revision = etcd_api.put(endpoint, key, value, timeout=timeout)
                self._seen[key] = value
            elif kind == "cas":
                op.value, op.expect = value, self._seen.get(key)
                op.succeeded, op.revision = etcd_api.compare_and_set(endpoint, key, op.expect, value, timeout=timeout)
                if op.succeeded:
                    self._seen[key] = value
            else:
                op.serializable = kind == "serializable_get"
                read = etcd_api.read(endpoint, key, serializable=op.serializable, timeout=timeout)
                op.value, op.revision = read.value, read.revision
                self._seen[key] = read.value
            op.outcome = "ok"
        except etcd_api.NotApplied as err:
            op.outcome, op.error = "fail", str(err)
            self._turn += 1
        except etcd_api.MaybeApplied as err:
            op.outcome, op.error = "unknown", str(err)
            self._turn += 1
        op.complete = time.monotonic()
        return op


class Workload:
    """All clients of a scenario: client-0 fails over between members, the others are pinned round-robin."""

    def __init__(self, cluster: Cluster, spec: WorkloadSpec, seed: int) -> None:
        rng = random.Random(f"workload:{seed}")
        self.clients = [
            Client(f"client-{i}", self._targets(cluster, None if i == 0 else (i - 1) % cluster.replicas), spec,
                   random.Random(rng.random()))
            for i in range(spec.clients)
        ]

    @staticmethod
    def _targets(cluster: Cluster, ordinal: int | None) -> Callable[[], list[PodInfo]]:
        """The running pods a client may call: all of them, or the one of ``ordinal`` (asked anew each call)."""

        def running() -> list[PodInfo]:
            return [p for p in cluster.pods() if p.endpoint and ordinal in (None, p.ordinal)]

        return running

    def start(self) -> None:
        for client in self.clients:
            client.start()

    def stop(self) -> list[Operation]:
        for client in self.clients:
            client.stop()
        return sorted((op for c in self.clients for op in c.operations), key=lambda op: op.invoke)
