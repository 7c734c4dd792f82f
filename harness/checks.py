"""Checkers: pure functions of a history, never touching a cluster.

Each returns findings; ``judge`` turns them into the verdict and the short
reason words that results.json and the strategy metadata share.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field

from harness.history import History

# etcd's own ways of dying: zap JSON levels (3.4+), Go's panic banner, capnslog
# critical lines (3.2/3.3), and the raft panic of the seed incident.
_PANIC_JSON = re.compile(r'"level":"(panic|fatal|dpanic)"')
_PANIC_TEXT = re.compile(
    r"^(panic: .*|fatal error: .*|\d{4}-\d\d-\d\d [\d:.]+ C \| .*|.*tocommit\(\d+\) is out of range.*)$"
)


@dataclass(frozen=True)
class Panic:
    pod: str
    run: int
    time: str
    message: str
    excerpt: str


@dataclass(frozen=True)
class CrashLoop:
    pod: str
    crashes: int
    restart_count: int


@dataclass
class Verdict:
    verdict: str
    reasons: list[str]
    panics: list[Panic] = field(default_factory=list)
    crash_loops: list[CrashLoop] = field(default_factory=list)
    max_write_outage_s: float = 0.0
    recovery_s: float | None = None
    problems_at_end: list[str] = field(default_factory=list)
    fault_errors: list[str] = field(default_factory=list)
    hazards_at_end: list[str] = field(default_factory=list)


def _panic_line(line: str) -> tuple[str, str] | None:
    """(time, message) if ``line`` says the process panicked or died fatally."""
    if _PANIC_JSON.search(line):
        try:
            entry = json.loads(line)
            return str(entry.get("ts", "")), str(entry.get("msg", line))
        except ValueError:
            return "", line.strip()
    match = _PANIC_TEXT.match(line.strip())
    return ("", match.group(1)) if match else None


def find_panics(logs: dict[str, list[str]]) -> list[Panic]:
    """The first panic or fatal line of each container run, with the lines before it."""
    found = []
    for pod, runs in sorted(logs.items()):
        for run, text in enumerate(runs):
            lines = text.splitlines()
            for i, line in enumerate(lines):
                hit = _panic_line(line)
                if hit:
                    excerpt = "\n".join(lines[max(0, i - 3) : i + 2])[-1500:]
                    found.append(Panic(pod, run, hit[0], hit[1][:300], excerpt))
                    break
    return found


def find_crash_loops(history: History, min_crashes: int = 2) -> list[CrashLoop]:
    """Pods whose containers kept exiting on their own or by failed probes, not by a fault or a deletion."""
    crashes: dict[str, int] = {}
    restarts: dict[str, int] = {}
    for event in history.events:
        if event.kind == "container-exited" and event.pod:
            restarts[event.pod] = int(event.detail.get("restart_count", 0)) + 1
            if event.detail.get("cause") not in ("fault", "deleted"):
                crashes[event.pod] = crashes.get(event.pod, 0) + 1
    return [CrashLoop(pod, n, restarts[pod]) for pod, n in sorted(crashes.items()) if n >= min_crashes]


def max_write_outage(history: History) -> float:
    """Longest time without an acknowledged write, from the first fault to the end.

    Measured between completions of successful writes, and from the fault's
    start and to the scenario's end, so a cluster that never writes again
    shows the whole remaining time.
    """
    start = min((f.start for f in history.faults if not f.skipped), default=history.started)
    marks = sorted(op.complete for op in history.operations if op.outcome == "ok" and op.complete and op.complete >= start)
    points = [start, *marks, history.ended]
    return max(b - a for a, b in itertools.pairwise(points))


def recovery_time(history: History) -> float | None:
    """Seconds from the last heal until the cluster was whole and stayed whole.

    "Stayed" means every later snapshot is healthy too, so a member that looks
    fine for a moment and then panics does not count as recovered.
    """
    healed = history.healed
    after = [s for s in history.snapshots if s.time >= healed]
    recovered = None
    for snapshot in after:
        if not snapshot.healthy:
            recovered = None
        elif recovered is None:
            recovered = snapshot.time
    return None if recovered is None else recovered - healed


def judge(history: History, outage_budget: float) -> Verdict:
    panics = find_panics(history.logs)
    loops = find_crash_loops(history)
    outage = max_write_outage(history)
    recovery = recovery_time(history)
    reasons = []
    if panics:
        reasons.append("panic")
    if loops:
        reasons.append("crash-loop")
    if outage > outage_budget:
        reasons.append("quorum-lost")
    if recovery is None:
        reasons.append("not-recovered")
    incomplete = [f"{f.fault}: {f.error}" for f in history.faults if f.error]
    if incomplete:
        reasons.append("fault-incomplete")
    final = history.snapshots[-1] if history.snapshots else None
    last = final.problems() if final else ["no snapshot taken"]
    return Verdict(
        verdict="fail" if reasons else "pass",
        reasons=reasons,
        panics=panics,
        crash_loops=loops,
        max_write_outage_s=round(outage, 3),
        recovery_s=None if recovery is None else round(recovery, 3),
        problems_at_end=[] if recovery is not None else last,
        fault_errors=incomplete,
        hazards_at_end=final.hazards() if final else [],
    )
