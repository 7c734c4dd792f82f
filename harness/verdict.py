"""The verdict: every checker run on one history, turned into pass, fail or undecided, and reason words.

The reason words are what results.json, the report and the strategies'
``known_failures`` share. The checkers are pure functions of the history,
so ``python -m harness.recheck`` computes the same verdict later from a kept
history alone.

A check that cannot decide is never counted as a pass: a key whose
linearizability search ran out of budget, a member whose store could not
be read (its data was compared with nothing), an acknowledged write whose
survival hangs on such a member. Each adds the reason ``undecided``. The
verdict is three-valued: "fail" when any other reason holds (undecided may
stand beside it), "undecided" when nothing failed but something could not
be decided, "pass" only when every check decided and none failed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from harness.checkers.availability import Availability, availability
from harness.checkers.linearizability import DEFAULT_BUDGET, KeyResult, check_linearizable
from harness.checkers.logs import (
    Alarm,
    CrashLoop,
    Panic,
    find_alarms,
    find_crash_loops,
    find_panics,
    pending_back_offs,
)
from harness.checkers.lost_writes import CONTESTED, LAGGING, LOST, UNDECIDED, LostWrite, find_lost_writes
from harness.checkers.one_cluster import DIVERGED, NOT_JOINED, SPLIT, UNREADABLE, Finding, check_one_cluster
from harness.checkers.revisions import Regression, find_regressions
from harness.history import History

REASONS = (
    "not-started",
    "panic",
    "crash-loop",
    "quorum-lost",
    "not-recovered",
    "fault-incomplete",
    "lost-writes",
    "not-linearizable",
    "split-brain",
    "diverged-member",
    "corrupt",
    "revision-regressed",
    "undecided",
)
"""Every reason judge can give, in the order it gives them."""

DEFAULT_SEARCH_BUDGET = DEFAULT_BUDGET
"""Configurations one key's linearizability search may explore; past it the key is undecided."""

FINDINGS_KEPT = 20
"""Findings of one kind written to results.json; the history keeps every operation for the rest."""


@dataclass
class Verdict:
    verdict: str
    reasons: list[str]
    availability: Availability
    panics: list[Panic] = field(default_factory=list)
    panics_leaving: list[Panic] = field(default_factory=list)  # after the process applied its own removal: not a member's
    crash_loops: list[CrashLoop] = field(default_factory=list)
    alarms: list[Alarm] = field(default_factory=list)
    problems_at_end: list[str] = field(default_factory=list)
    fault_errors: list[str] = field(default_factory=list)
    hazards_at_end: list[str] = field(default_factory=list)
    lost_writes: list[LostWrite] = field(default_factory=list)  # lost (fewer than a majority hold them) or contested
    undecided_writes: list[LostWrite] = field(default_factory=list)  # short of a majority only by unread stores
    lagging_writes: list[LostWrite] = field(default_factory=list)  # the majority holds them, some member lacks them
    linearizability: list[KeyResult] = field(default_factory=list)
    one_cluster: list[Finding] = field(default_factory=list)
    regressions: list[Regression] = field(default_factory=list)
    not_started: list[str] = field(default_factory=list)  # why the new cluster never became whole, pod by pod
    release: str = ""  # " on etcd 3.6.16" where the run says which release it started: a refusal names it

    @property
    def max_write_outage_s(self) -> float:
        return round(self.availability.longest_outage_s, 3)

    def outage_line(self, started: float) -> str:
        """The quorum-lost sentence: how long, when, and how much of it the fault alone forced."""
        worst = self.availability.worst
        line = (f"nothing committed for {worst.end - worst.start:.3f} s"
                f" (from {worst.start - started:.1f} s to {worst.end - started:.1f} s)")
        if worst.excused_s > 0:
            line += (f", {worst.charged_s:.3f} s of it with a majority of the pods running"
                     f" ({worst.excused_s:.1f} s while deleted pods were not yet re-created)")
        return line

    @property
    def recovery_s(self) -> float | None:
        return None if self.availability.recovery_s is None else round(self.availability.recovery_s, 3)

    @property
    def not_linearizable(self) -> list[KeyResult]:
        return [k for k in self.linearizability if k.linearizable is False]

    @property
    def undecided(self) -> list[str]:
        """What could not be decided, one line each: the ``undecided`` reason's findings."""
        keys = [k.describe() for k in self.linearizability if k.linearizable is None]
        stores = [f.text for f in self.one_cluster if f.kind == UNREADABLE]
        writes = self.undecided_writes
        counted = [f"{len(writes)} acknowledged writes may be lost: their holders fall short of a majority only by "
                   "members that could not be read"] if writes else []
        return keys + stores + counted

    def headline(self, started: float) -> str:
        """The one sentence that explains the verdict, from the most telling finding: "" on a pass.

        Two clusters or lost data first (they say the deployment is unsafe
        whatever else happened), then a member's own failure (a panic, a crash
        loop: usually why it did not recover), then availability, then what
        could not be decided.
        """
        for reason, line in self._explanations(started):
            if reason in self.reasons and line:
                return line
        return ""

    def _explanations(self, started: float) -> Iterator[tuple[str, str]]:
        """(reason, sentence) candidates in the order a reader should see them; each computed only when asked."""
        alarm_lines = {a.label: f"{a.pod}: {a.line}" for a in reversed(self.alarms)}
        kinds = {f.kind: f.text for f in reversed(self.one_cluster)}
        yield "not-started", f"the cluster never became whole{self.release}: {self.not_started[0]}" if self.not_started else ""
        yield "split-brain", kinds.get(SPLIT) or alarm_lines.get("cluster-id-mismatch", "")
        lost = self.lost_writes
        yield "lost-writes", f"{len(lost)} acknowledged writes lost, e.g. {lost[0].describe(started)}" if lost else ""
        yield "diverged-member", kinds.get(DIVERGED, "")
        yield "corrupt", f"etcd's corruption check fired: {alarm_lines.get('corrupt', '')}"
        bad = self.not_linearizable
        yield "not-linearizable", f"key {bad[0].key}: {bad[0].summary}" if bad else ""
        yield "revision-regressed", self.regressions[0].describe(started) if self.regressions else ""
        yield "panic", self.panics[0].describe() if self.panics else ""
        if self.crash_loops:
            c = self.crash_loops[0]
            yield "crash-loop", f"{c.pod} kept crashing ({c.crashes} times)" + (f": {c.cause}" if c.cause else "")
        yield "not-recovered", kinds.get(NOT_JOINED) or "not whole again: " + "; ".join(self.problems_at_end[:3])
        yield "quorum-lost", self.outage_line(started)
        yield "fault-incomplete", f"the fault did not fully happen: {'; '.join(self.fault_errors)}"
        yield "undecided", f"could not decide: {self.undecided[0]}" if self.undecided else ""

    def summary(self, started: float) -> dict[str, Any]:
        """The verdict's part of a results.json entry: plain data, times relative to ``started``."""
        return {
            "verdict": self.verdict,
            "reasons": self.reasons,
            "panics": [_panic(p) for p in self.panics],
            "panics_leaving": [_panic(p) for p in self.panics_leaving],
            "crash_loops": [{"member": c.pod, "crashes": c.crashes, "cause": c.cause} for c in self.crash_loops],
            "alarms": [{"member": a.pod, "run": a.run, "label": a.label, "line": a.line} for a in self.alarms],
            "max_write_outage_s": self.max_write_outage_s,
            "charged_outage_s": round(self.availability.worst.charged_s, 3),
            "quorum_fraction": round(self.availability.quorum_fraction, 4),
            "recovery_s": self.recovery_s,
            "lost_writes": len(self.lost_writes),
            "lost_write_examples": [w.describe(started) for w in self.lost_writes[:FINDINGS_KEPT]],
            "undecided_writes": len(self.undecided_writes),
            "undecided_write_examples": [w.describe(started) for w in self.undecided_writes[:FINDINGS_KEPT]],
            "lagging_writes": len(self.lagging_writes),
            "lagging_write_examples": [w.describe(started) for w in self.lagging_writes[:FINDINGS_KEPT]],
            "not_linearizable": [k.describe() for k in self.not_linearizable],
            "linearizability_unknown": [k.describe() for k in self.linearizability if k.linearizable is None],
            "one_cluster": [f"{f.kind}: {f.text}" for f in self.one_cluster],
            "revision_regressions": [r.describe(started) for r in self.regressions[:FINDINGS_KEPT]],
            "undecided": self.undecided,
            "headline": self.headline(started),
            "problems_at_end": self.problems_at_end,
            "fault_errors": self.fault_errors,
            "hazards_at_end": self.hazards_at_end,
        }


def _panic(p: Panic) -> dict[str, str]:
    return {"member": p.pod, "message": p.message, "time": p.time, "where": p.where}


def judge(history: History, outage_budget: float, search_budget: int = DEFAULT_SEARCH_BUDGET) -> Verdict:
    """Run every checker; ``search_budget`` bounds each key's linearizability search (past it: undecided)."""
    found = find_panics(history.logs)
    panics = [p for p in found if not p.leaving]
    alarms = find_alarms(history.logs)
    loops = find_crash_loops(history.events, found, alarms)
    available = availability(history)
    writes = find_lost_writes(history)
    lost = [w for w in writes if w.kind in (LOST, CONTESTED)]  # contested: all but at most one of each revision lost
    undecided = [w for w in writes if w.kind == UNDECIDED]
    keys = check_linearizable(history, budget=search_budget)
    one = check_one_cluster(history)
    regressions = find_regressions(history)
    incomplete = [f"{f.fault}: {f.error}" for f in history.faults if f.error]
    kinds = {f.kind for f in one}
    failed = {
        "panic": bool(panics),
        "crash-loop": bool(loops),
        "quorum-lost": available.worst.charged_s > outage_budget,
        "not-recovered": available.recovery_s is None,
        "fault-incomplete": bool(incomplete),
        "lost-writes": bool(lost),
        "not-linearizable": any(k.linearizable is False for k in keys),
        "split-brain": SPLIT in kinds or any(a.label == "cluster-id-mismatch" for a in alarms),
        "diverged-member": DIVERGED in kinds,
        "corrupt": any(a.label == "corrupt" for a in alarms),
        "revision-regressed": bool(regressions),
        "undecided": any(k.linearizable is None for k in keys)
        or UNREADABLE in kinds
        or bool(undecided),
    }
    not_started = _not_started(history.meta)
    failed["not-started"] = "not_started" in history.meta
    if failed["not-started"]:
        # No traffic, no fault: only what explains the start means anything.
        failed = {reason: failed[reason] for reason in ("not-started", "panic", "crash-loop")}
    reasons = [reason for reason in REASONS if failed.get(reason)]
    final = history.snapshots[-1] if history.snapshots else None
    return Verdict(
        verdict="pass" if not reasons else "undecided" if reasons == ["undecided"] else "fail",
        reasons=reasons,
        panics=panics,
        panics_leaving=[p for p in found if p.leaving],
        crash_loops=loops,
        alarms=alarms,
        availability=available,
        problems_at_end=not_started
        or ([] if available.recovery_s is not None else _held_back(final.problems(), history) if final else ["no snapshot taken"]),
        fault_errors=incomplete,
        hazards_at_end=final.hazards() if final else [],
        lost_writes=lost,
        undecided_writes=undecided,
        lagging_writes=[w for w in writes if w.kind == LAGGING],
        linearizability=keys,
        one_cluster=one,
        regressions=regressions,
        not_started=not_started,
        release=f" on etcd {history.meta['etcd_version']}" if history.meta.get("etcd_version") else "",
    )


def _held_back(problems: list[str], history: History) -> list[str]:
    """Each ``pod: problem`` line, with the restart back-off that still held that pod's container, if one did."""
    held = pending_back_offs(history.events)
    at = history.snapshots[-1].time
    return [f"{line}; {held[pod].describe(at)}" if (pod := line.split(":", 1)[0]) in held else line for line in problems]


def _not_started(meta: dict[str, Any]) -> list[str]:
    """Each pod's line, ending with the last line its etcd printed: etcd's own reason (``unknown flag --nme``)."""
    about = meta.get("not_started", {})
    logs = about.get("logs") or {}
    return [
        f"{line} {logs[pod][-1]}" if logs.get(pod := line.split(":", 1)[0]) else line
        for line in about.get("pods", ())
    ]
