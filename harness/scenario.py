"""Run one scenario: healthy cluster, traffic, fault, heal, recovery; then judge.

The runner only acts and records; the verdict comes from ``checks.judge`` on
the saved history, exactly as a later re-check would compute it.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clusters import observe
from clusters.base import Cluster
from clusters.strategy import KnownFailure
from faults import Context, Fault
from harness import checks
from harness.history import FaultWindow, History
from harness.workload import Writer


@dataclass(frozen=True)
class Timing:
    """How long each phase may take; documented as pytest options."""

    start_timeout: float = 120.0
    warmup: float = 2.0
    recovery_timeout: float = 60.0
    settle: float = 2.0
    outage_budget: float = 5.0


@dataclass
class ScenarioResult:
    strategy: str
    fault: str
    backend: str
    etcd_version: str
    seed: int
    known: KnownFailure | None
    verdict: checks.Verdict
    duration_s: float
    targets: list[str] = field(default_factory=list)
    report_dir: Path | None = None

    def record(self) -> dict[str, Any]:
        """One entry of results.json."""
        v = self.verdict
        return {
            "strategy": self.strategy,
            "fault": self.fault,
            "backend": self.backend,
            "etcd_version": self.etcd_version,
            "seed": self.seed,
            "targets": self.targets,
            "verdict": v.verdict,
            "expected": "fail" if self.known else "pass",
            "reasons": v.reasons,
            "panics": [{"member": p.pod, "message": p.message, "time": p.time} for p in v.panics],
            "crash_loops": [{"member": c.pod, "crashes": c.crashes} for c in v.crash_loops],
            "max_write_outage_s": v.max_write_outage_s,
            "recovery_s": v.recovery_s,
            "problems_at_end": v.problems_at_end,
            "duration_s": round(self.duration_s, 3),
            "report": str(self.report_dir) if self.report_dir else None,
        }


def _poll_recovery(cluster: Cluster, history: History, deadline: float, stable: float) -> None:
    """Snapshot until the cluster has been whole for ``stable`` seconds, or the deadline."""
    healthy_since = None
    while time.monotonic() < deadline:
        snapshot = observe.snapshot(cluster)
        history.snapshots.append(snapshot)
        if not snapshot.healthy:
            healthy_since = None
        elif healthy_since is None:
            healthy_since = snapshot.time
        elif snapshot.time - healthy_since >= stable:
            return
        time.sleep(0.2)


def run(
    cluster: Cluster,
    fault: Fault,
    *,
    seed: int,
    timing: Timing,
    report_dir: Path | None = None,
) -> ScenarioResult:
    """Disrupt a started cluster with ``fault`` and judge what happened."""
    began = time.time()
    strategy = cluster.strategy
    known = strategy.expected(fault.name)
    history = History(
        meta={
            "strategy": strategy.name,
            "fault": fault.id,
            "backend": cluster.backend,
            "etcd_version": cluster.etcd_version,
            "seed": seed,
            "outage_budget": timing.outage_budget,
            "started": began,
        }
    )
    observe.wait_healthy(cluster, timing.start_timeout)
    writer = Writer(cluster.endpoints)
    writer.start()
    try:
        time.sleep(timing.warmup)
        ctx = Context(random.Random(seed), observe.snapshot(cluster))
        history.snapshots.append(ctx.snapshot)
        fault_start = time.time()
        targets = fault.inject(cluster, ctx)
        fault.heal(cluster, ctx)
        history.faults.append(FaultWindow(fault.id, targets, fault_start, time.time()))
        time.sleep(0.5)  # let the disruption register before asking whether it healed
        _poll_recovery(cluster, history, time.monotonic() + timing.recovery_timeout, timing.settle)
    finally:
        history.operations = writer.stop()
    history.snapshots.append(observe.snapshot(cluster))
    history.events = cluster.events.since(began)
    history.logs = cluster.logs()
    history.meta["ended"] = time.time()
    verdict = checks.judge(history, timing.outage_budget)
    if report_dir is not None:
        history.save(report_dir)
        if verdict.verdict == "fail" or known:
            cluster.save_logs(report_dir / "logs")
    return ScenarioResult(
        strategy=strategy.name,
        fault=fault.id,
        backend=cluster.backend,
        etcd_version=cluster.etcd_version,
        seed=seed,
        known=known,
        verdict=verdict,
        duration_s=time.time() - began,
        targets=targets,
        report_dir=report_dir,
    )
