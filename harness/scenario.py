"""Run one scenario: healthy cluster, traffic, fault, heal, recovery; then judge.

The runner only acts and records; the verdict comes from ``verdict.judge`` on
the saved history, exactly as a later re-check would compute it.
"""

from __future__ import annotations

import dataclasses
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clusters import observe
from clusters.backend import Cluster, Unsupported
from clusters.strategy import KnownFailure
from faults import Context, Fault, FaultError, Schedule
from harness import verdict as judging
from harness.history import CLOCK, OUTCOMES, FaultWindow, History, Operation
from harness.workload import Workload, WorkloadSpec


# The last look at the cluster, which decides whether it stayed whole, waits for an answer as long as
# etcdctl's own command timeout. The polls before it give up after 0.5 s so that one slow member does not
# slow the others' sampling; at the end, a member that just rejoined and is applying its backlog on a
# loaded machine took 2 s to answer, and a 0.5 s look called it gone (not-recovered) although it had
# been answering, whole, for seconds.
FINAL_VIEW_TIMEOUT = 5.0


@dataclass(frozen=True)
class Timing:
    """How long each phase may take; documented as pytest options."""

    start_timeout: float = 120.0
    warmup: float = 6.0  # etcd refuses membership changes until its peers have been connected for 5 s
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
    verdict: judging.Verdict
    duration_s: float
    windows: list[FaultWindow] = field(default_factory=list)
    report_dir: Path | None = None
    history: History | None = None  # everything the verdict was computed from, for a test to inspect

    @property
    def skipped(self) -> str | None:
        """Why nothing ran, when every step was skipped."""
        reasons = [w.skipped for w in self.windows]
        return reasons[0] if reasons and all(reasons) else None

    def record(self) -> dict[str, Any]:
        """One entry of results.json."""
        return {
            "strategy": self.strategy,
            "fault": self.fault,
            "backend": self.backend,
            "etcd_version": self.etcd_version,
            "seed": self.seed,
            "steps": [
                {"fault": w.fault, "targets": w.targets, "error": w.error, "skipped": w.skipped} for w in self.windows
            ],
            "expected": ("sometimes" if self.known.sometimes else "fail") if self.known else "pass",
            "declared": dataclasses.asdict(self.known) if self.known else None,
            **self.verdict.summary(self.history.started if self.history else 0.0),
            "operations": len(self.history.operations) if self.history else 0,
            "member_releases": {
                pod: [[round(t, 3), release] for t, release in runs]
                for pod, runs in (self.history.member_releases() if self.history else {}).items()
            },
            "duration_s": round(self.duration_s, 3),
            "report": str(self.report_dir) if self.report_dir else None,
        }


def _wait_recovered(cluster: Cluster, history: History, timeout: float, stable: float) -> bool:
    """Snapshot until the cluster has been whole for ``stable`` seconds; False at the deadline."""
    deadline = time.monotonic() + timeout
    healthy_since = None
    while time.monotonic() < deadline:
        snapshot = observe.snapshot(cluster)
        history.snapshots.append(snapshot)
        if not snapshot.healthy:
            healthy_since = None
        elif healthy_since is None:
            healthy_since = snapshot.time
        elif snapshot.time - healthy_since >= stable:
            return True
        time.sleep(0.2)
    return False


def _run_fault(cluster: Cluster, fault: Fault, rng: random.Random, history: History) -> FaultWindow:
    """Inject, hold, heal; heal runs even when inject failed halfway (uncordon, SIGCONT, restore)."""
    start = time.monotonic()
    skipped = fault.unavailable(cluster)
    if skipped:
        cluster.events.record("fault-skipped", None, fault=fault.id, reason=skipped)
        return FaultWindow(fault.id, [], start, start, skipped=skipped)
    ctx = Context(rng, observe.snapshot(cluster), cluster.events)
    history.snapshots.append(ctx.snapshot)
    window = FaultWindow(fault.id, [], time.monotonic(), 0.0)
    try:
        window.targets = fault.inject(cluster, ctx)
        window.injected = time.monotonic()
        time.sleep(fault.hold)
    except (FaultError, Unsupported) as err:
        window.error = f"inject: {err}"
    finally:
        try:
            fault.heal(cluster, ctx)
        except (FaultError, Unsupported) as err:
            window.error = (window.error + "; " if window.error else "") + f"heal: {err}"
        window.end = time.monotonic()
    return window


def _traffic_and_faults(
    cluster: Cluster, schedule: Schedule, seed: int, timing: Timing, spec: WorkloadSpec, history: History
) -> list[Operation]:
    """Warm up, run every step (each after the cluster recovered from the last), recover; the clients' operations."""
    workload = Workload(cluster, spec, seed)
    workload.start()
    rng = random.Random(seed)
    try:
        time.sleep(timing.warmup)
        for i, fault in enumerate(schedule.faults()):
            if i and not _wait_recovered(cluster, history, timing.recovery_timeout, timing.settle):
                now = time.monotonic()
                reason = "the cluster had not recovered from the step before"
                history.faults.append(FaultWindow(fault.id, [], now, now, skipped=reason))
                continue
            history.faults.append(_run_fault(cluster, fault, rng, history))
        _wait_recovered(cluster, history, timing.recovery_timeout, timing.settle)
    finally:
        operations = workload.stop()
    return operations


def run(
    cluster: Cluster,
    schedule: Schedule,
    *,
    seed: int,
    timing: Timing,
    workload_spec: WorkloadSpec = WorkloadSpec(),
    search_budget: int = judging.DEFAULT_SEARCH_BUDGET,
    report_dir: Path | None = None,
) -> ScenarioResult:
    """Run ``schedule`` against a started cluster and judge what happened.

    Between steps the cluster gets the recovery timeout to become whole
    again; steps after one it did not recover from are recorded as skipped,
    so a broken cluster is not disrupted further for nothing.
    """
    began = time.monotonic()
    strategy = cluster.strategy
    known = strategy.expected(*schedule.declared_keys, etcd_version=cluster.etcd_version)
    history = History(
        meta={
            "strategy": strategy.name,
            "fault": schedule.id,
            "schedule": schedule.spec,
            "plan": list(schedule.steps),
            "backend": cluster.backend,
            "etcd_version": cluster.etcd_version,
            "etcd_flags": cluster.etcd_flags,
            "nodes": list(cluster.nodes) if cluster.nodes else None,  # the lane its pods were kept in, side by side
            "seed": seed,
            "outage_budget": timing.outage_budget,
            "search_budget": search_budget,
            "workload": dataclasses.asdict(workload_spec),
            "clock": CLOCK,
            "outcomes": OUTCOMES,
            "wall_started": time.time(),
        }
    )
    try:
        observe.wait_healthy(cluster, timing.start_timeout)
    except observe.NotHealthy as err:
        # Judged and reported like any run, so the matrix and the report say why, pod by pod.
        history.meta["not_started"] = {"summary": err.summary, "pods": err.pods, "explained": str(err), "logs": err.logs}
    else:
        history.meta["healthy_at"] = time.monotonic() - began  # phase boundaries, for benchmarks/matrix.py
        history.operations = _traffic_and_faults(cluster, schedule, seed, timing, workload_spec, history)
        history.meta["traffic_stopped_at"] = time.monotonic() - began
    history.snapshots.append(observe.snapshot(cluster, timeout=FINAL_VIEW_TIMEOUT))
    history.stores = observe.stores(cluster)
    history.events = cluster.events.since(began)
    history.logs = cluster.logs()
    history.shift(-began)
    history.meta.update(started=0.0, ended=time.monotonic() - began)
    verdict = judging.judge(history, timing.outage_budget, search_budget)
    if report_dir is not None:
        history.save(report_dir)
        if verdict.verdict == "fail" or known:
            cluster.save_logs(report_dir / "logs")
    return ScenarioResult(
        strategy=strategy.name,
        fault=schedule.id,
        backend=cluster.backend,
        etcd_version=cluster.etcd_version,
        seed=seed,
        known=known,
        verdict=verdict,
        duration_s=history.ended,
        windows=history.faults,
        report_dir=report_dir,
        history=history,
    )
