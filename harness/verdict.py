"""The verdict: every checker run on one history, turned into pass or fail and reason words.

The reason words are what results.json, the report and the strategies'
``known_failures`` share. The checkers are pure functions of the history,
so ``python -m harness.recheck`` computes the same verdict later from a kept
history alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.checkers.availability import Availability, availability
from harness.checkers.linearizability import KeyResult, check_linearizable
from harness.checkers.logs import (
    Alarm,
    CrashLoop,
    Panic,
    find_alarms,
    find_crash_loops,
    find_panics,
)
from harness.checkers.lost_writes import LostWrite, find_lost_writes
from harness.checkers.one_cluster import SPLIT, Finding, check_one_cluster
from harness.checkers.revisions import Regression, find_regressions
from harness.history import History

REASONS = (
    "panic",
    "crash-loop",
    "quorum-lost",
    "not-recovered",
    "fault-incomplete",
    "lost-writes",
    "not-linearizable",
    "split-brain",
    "revision-regressed",
)
"""Every reason judge can give, in the order it gives them."""

FINDINGS_KEPT = 20
"""Findings of one kind written to results.json; the history keeps every operation for the rest."""


@dataclass
class Verdict:
    verdict: str
    reasons: list[str]
    availability: Availability
    panics: list[Panic] = field(default_factory=list)
    crash_loops: list[CrashLoop] = field(default_factory=list)
    alarms: list[Alarm] = field(default_factory=list)
    problems_at_end: list[str] = field(default_factory=list)
    fault_errors: list[str] = field(default_factory=list)
    hazards_at_end: list[str] = field(default_factory=list)
    lost_writes: list[LostWrite] = field(default_factory=list)
    linearizability: list[KeyResult] = field(default_factory=list)
    one_cluster: list[Finding] = field(default_factory=list)
    regressions: list[Regression] = field(default_factory=list)

    @property
    def max_write_outage_s(self) -> float:
        return round(self.availability.longest_outage_s, 3)

    @property
    def recovery_s(self) -> float | None:
        return None if self.availability.recovery_s is None else round(self.availability.recovery_s, 3)

    @property
    def not_linearizable(self) -> list[KeyResult]:
        return [k for k in self.linearizability if k.linearizable is False]

    def summary(self, started: float) -> dict[str, Any]:
        """The verdict's part of a results.json entry: plain data, times relative to ``started``."""
        return {
            "verdict": self.verdict,
            "reasons": self.reasons,
            "panics": [{"member": p.pod, "message": p.message, "time": p.time} for p in self.panics],
            "crash_loops": [{"member": c.pod, "crashes": c.crashes, "cause": c.cause} for c in self.crash_loops],
            "alarms": [{"member": a.pod, "run": a.run, "label": a.label, "line": a.line} for a in self.alarms],
            "max_write_outage_s": self.max_write_outage_s,
            "quorum_fraction": round(self.availability.quorum_fraction, 4),
            "recovery_s": self.recovery_s,
            "lost_writes": len(self.lost_writes),
            "lost_write_examples": [w.describe(started) for w in self.lost_writes[:FINDINGS_KEPT]],
            "not_linearizable": [k.describe() for k in self.not_linearizable],
            "linearizability_unknown": [k.describe() for k in self.linearizability if k.linearizable is None],
            "one_cluster": [f"{f.kind}: {f.text}" for f in self.one_cluster],
            "revision_regressions": [r.describe(started) for r in self.regressions[:FINDINGS_KEPT]],
            "problems_at_end": self.problems_at_end,
            "fault_errors": self.fault_errors,
            "hazards_at_end": self.hazards_at_end,
        }


def judge(history: History, outage_budget: float) -> Verdict:
    panics = find_panics(history.logs)
    alarms = find_alarms(history.logs)
    loops = find_crash_loops(history.events, panics, alarms)
    available = availability(history)
    lost = find_lost_writes(history)
    keys = check_linearizable(history)
    one = check_one_cluster(history)
    regressions = find_regressions(history)
    incomplete = [f"{f.fault}: {f.error}" for f in history.faults if f.error]
    failed = {
        "panic": bool(panics),
        "crash-loop": bool(loops),
        "quorum-lost": available.longest_outage_s > outage_budget,
        "not-recovered": available.recovery_s is None,
        "fault-incomplete": bool(incomplete),
        "lost-writes": bool(lost),
        "not-linearizable": any(k.linearizable is False for k in keys),
        "split-brain": any(f.kind == SPLIT for f in one) or any(a.label == "cluster-id-mismatch" for a in alarms),
        "revision-regressed": bool(regressions),
    }
    reasons = [reason for reason in REASONS if failed[reason]]
    final = history.snapshots[-1] if history.snapshots else None
    return Verdict(
        verdict="fail" if reasons else "pass",
        reasons=reasons,
        panics=panics,
        crash_loops=loops,
        alarms=alarms,
        availability=available,
        problems_at_end=[] if available.recovery_s is not None else final.problems() if final else ["no snapshot taken"],
        fault_errors=incomplete,
        hazards_at_end=final.hazards() if final else [],
        lost_writes=lost,
        linearizability=keys,
        one_cluster=one,
        regressions=regressions,
    )
