"""Probe scheduling and results with the kubelet's rules.

Readiness starts at Failure and liveness at Success; both wait for the startup
probe; a result flips only after ``failureThreshold`` consecutive failures or
``successThreshold`` consecutive successes; the first probe fires as soon as the
container has started (plus ``initialDelaySeconds``), then every period.
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

from clusters.manifests import Probe

Exec = Callable[[list[str], float], tuple[int, str]]


def attempt(probe: Probe, ip: str, run_exec: Exec) -> bool:
    """One probe attempt against the pod at ``ip``."""
    if probe.kind == "tcpSocket":
        try:
            with socket.create_connection((ip, probe.port), timeout=probe.timeout):
                return True
        except OSError:
            return False
    if probe.kind == "httpGet":
        try:
            with urllib.request.urlopen(f"http://{ip}:{probe.port}{probe.path}", timeout=probe.timeout) as answer:
                return 200 <= answer.status < 400
        except (urllib.error.URLError, OSError, ValueError):
            return False
    code, _ = run_exec(list(probe.command), probe.timeout)
    return code == 0


@dataclass
class ProbeState:
    """One probe's schedule and its thresholded result."""

    probe: Probe
    result: bool
    next_due: float
    successes: int = 0
    failures: int = 0

    def record(self, ok: bool, now: float) -> None:
        self.next_due = now + self.probe.period
        if ok:
            self.successes, self.failures = self.successes + 1, 0
            if self.successes >= self.probe.success_threshold:
                self.result = True
        else:
            self.failures, self.successes = self.failures + 1, 0
            if self.failures >= self.probe.failure_threshold:
                self.result = False


@dataclass
class ProbeSet:
    """The probes of one container run."""

    startup: ProbeState | None
    liveness: ProbeState | None
    readiness: ProbeState | None
    container_start: float = 0.0
    started: bool = field(init=False)

    @classmethod
    def for_container(
        cls, startup: Probe | None, liveness: Probe | None, readiness: Probe | None, now: float
    ) -> ProbeSet:
        def state(probe: Probe | None, initial: bool) -> ProbeState | None:
            return ProbeState(probe, initial, now + probe.initial_delay) if probe else None

        probes = cls(state(startup, False), state(liveness, True), state(readiness, False), now)
        probes.started = startup is None
        return probes

    def active(self) -> list[ProbeState]:
        if not self.started:
            return [self.startup] if self.startup else []
        return [p for p in (self.liveness, self.readiness) if p]

    def next_due(self) -> float | None:
        due = [p.next_due for p in self.active()]
        return min(due) if due else None

    def run_due(self, now: float, check: Callable[[Probe], bool]) -> str | None:
        """Run the probes that are due; return "startup" or "liveness" if one demands a restart."""
        for state in self.active():
            if state.next_due > now:
                continue
            state.record(check(state.probe), now)
            if state is self.startup:
                if state.result:
                    self.started = True
                    for other in (self.liveness, self.readiness):
                        if other:
                            other.next_due = max(now, self.container_start + other.probe.initial_delay)
                elif state.failures >= state.probe.failure_threshold:
                    return "startup"
            elif state is self.liveness and not state.result:
                return "liveness"
        return None

    @property
    def ready(self) -> bool:
        if not self.started:
            return False
        return self.readiness.result if self.readiness else True
