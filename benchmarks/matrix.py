#!/usr/bin/env python3
"""The matrix one scenario at a time and side by side: wall time, where a scenario's time goes, CPU, verdicts.

Runs ``pytest -m chaos tests/chaos/test_matrix.py`` twice on the local
backend, in one process and with pytest-xdist's ``-n WORKERS``, each into its
own report directory under ``--out``, and prints in one go:

- each run's wall time, and the machine's CPU busy per scenario (core-seconds,
  from /proc/stat: everything the run made the machine do, Kubernetes included);
- per run, the median of each phase of a scenario: start (namespace, apply,
  a lane), until healthy, warm-up, faults (inject, hold, heal), recovery,
  final reads, teardown; and of the operations a scenario checked;
- the fault holds, which side by side must not shorten;
- whether the two runs' verdicts agree cell by cell (``harness.compare``), and
  the cells that differ;
- per strategy, its start split into what Kubernetes spends (scheduling, the
  volume, the containers), what its own scripts spend until etcd answers as
  one whole cluster, and what the harness adds (namespace, apply, noticing).

Extra arguments go to both pytest runs (``--strategy``, ``--fault``, ...).
Needs root and the built local Kubernetes, like ``pytest -m chaos``. With
``--serial DIR`` or ``--parallel DIR`` a kept run's report is read instead
of running it again (its wall time is then unknown).

    .venv/bin/python benchmarks/matrix.py [--workers auto] [--out benchmark-report] [pytest args...]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faults
from harness import compare, results
from harness.history import History

ROOT = Path(__file__).resolve().parents[1]
DURATION = re.compile(r"^([0-9.]+)s (setup|call|teardown)\s+\S+::\S+\[(.+)\]$")
PHASES = ("start", "until healthy", "warm-up", "faults", "recovery", "final reads", "teardown")


@dataclass
class Run:
    name: str
    report: Path
    wall: float | None = None
    busy: float | None = None  # machine core-seconds
    durations: dict[str, dict[str, float]] = field(default_factory=dict)  # test id -> phase -> seconds
    records: list[dict[str, Any]] = field(default_factory=list)


def busy_seconds() -> float:
    """Core-seconds the machine has spent not idle since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def run_pytest(run: Run, workers: list[str], extra: list[str]) -> None:
    argv = [sys.executable, "-m", "pytest", "-m", "chaos", "tests/chaos/test_matrix.py", *workers, "-q",
            "--durations=0", "--durations-min=0", "--report-dir", str(run.report), *extra]
    print(f"{run.name}: {' '.join(argv[1:])}", flush=True)
    busy0, wall0 = busy_seconds(), time.monotonic()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    run.wall, run.busy = time.monotonic() - wall0, busy_seconds() - busy0
    (run.report / "pytest.log").write_text(done.stdout + done.stderr)
    print(f"{run.name}: exit {done.returncode} in {run.wall:.0f} s; its output: {run.report / 'pytest.log'}", flush=True)


def test_id(record: dict[str, Any]) -> str:
    return f"{record['strategy']}-{record['fault']}"  # a record keeps the schedule's id, as the test id has it


def phases(record: dict[str, Any], history: History, durations: dict[str, float]) -> dict[str, float]:
    """Seconds of each phase of one scenario, from its history and pytest's durations."""
    meta, windows = history.meta, history.faults
    found: dict[str, float] = {}
    if "call" in durations:
        found["start"] = durations["call"] - history.ended  # before the scenario's clock: namespace, apply, a lane
    if "teardown" in durations:
        found["teardown"] = durations["teardown"]
    if "healthy_at" not in meta:
        return found
    found["until healthy"] = meta["healthy_at"]
    ran = [w for w in windows if not w.skipped]
    if ran:
        found["warm-up"] = ran[0].start - meta["healthy_at"]
        found["faults"] = sum(w.end - w.start for w in ran)
        found["recovery"] = meta["traffic_stopped_at"] - ran[-1].end
    found["final reads"] = history.ended - meta["traffic_stopped_at"]
    return found


def start_split(history: History, durations: dict[str, float]) -> tuple[float, float, float] | None:
    """(Kubernetes, the strategy's scripts, the harness) seconds of one scenario's start, or None if it never started.

    Kubernetes' share is the time in which some pod was created but its
    container not yet started (scheduling, the volume, the sandbox, the
    image), counted once where pods overlap: with OrderedReady the pods come
    one after another and each one's wait counts. The scripts' share is the
    rest until etcd answered as one whole cluster; the harness's is the
    namespace and the apply before the first pod, and the time it took to
    notice health is within the scripts' share (it polls 20 times a second).
    """
    meta = history.meta
    created: dict[str, float] = {}
    started: dict[str, float] = {}
    for event in history.events:
        if event.kind == "pod-created":
            created.setdefault(event.pod or "", event.time)
        elif event.kind == "container-started":
            started.setdefault(event.pod or "", event.time)
    spans = sorted((created[pod], started[pod]) for pod in created if pod in started)
    if "healthy_at" not in meta or not spans or "call" not in durations:
        return None
    kubernetes, reach = 0.0, spans[0][0]
    for begin, end in spans:
        kubernetes += max(0.0, end - max(begin, reach))
        reach = max(reach, end)
    scripts = max(0.0, meta["healthy_at"] - spans[0][0] - kubernetes)
    harness = (durations["call"] - history.ended) + spans[0][0]
    return kubernetes, scripts, harness


def load(run: Run) -> None:
    """The run's records, and each test's phase durations from the pytest output kept beside them."""
    run.records = results.load(run.report)
    log = run.report / "pytest.log"
    for line in log.read_text().splitlines() if log.is_file() else []:
        match = DURATION.match(line.strip())
        if match:
            run.durations.setdefault(match[3], {})[match[2]] = float(match[1])


def median(values: list[float]) -> str:
    return f"{statistics.median(values):.1f}" if values else "-"


def report(serial: Run, parallel: Run) -> None:
    runs = [serial, parallel]
    print()
    print(f"{'':24}" + "".join(f"{r.name:>16}" for r in runs))
    print(f"{'scenarios':24}" + "".join(f"{len(r.records):>16}" for r in runs))
    print(f"{'wall time (s)':24}" + "".join(f"{(f'{r.wall:.0f}' if r.wall else '?'):>16}" for r in runs))
    print(f"{'CPU per scenario (core-s)':24}" + "".join(
        f"{(f'{r.busy / len(r.records):.1f}' if r.busy and r.records else '?'):>16}" for r in runs))
    per_run: list[dict[str, list[float]]] = []
    ops: list[list[float]] = []
    for run in runs:
        by_phase: dict[str, list[float]] = {p: [] for p in PHASES}
        counts = []
        for record in run.records:
            history = History.load(Path(record["report"]) / "history.json")
            counts.append(len(history.operations))
            for phase, seconds in phases(record, history, run.durations.get(test_id(record), {})).items():
                by_phase[phase].append(seconds)
        per_run.append(by_phase)
        ops.append(counts)
    print("median seconds per scenario:")
    for phase in PHASES:
        print(f"  {phase:22}" + "".join(f"{median(p[phase]):>16}" for p in per_run))
    print(f"{'operations per scenario':24}" + "".join(f"{median(o):>16}" for o in ops))
    holds = sorted({(cls.name, cls.hold) for cls in faults.CATALOG.values() if cls.hold})
    print("fault holds (s, the same in both runs): " + ", ".join(f"{name} {hold:g}" for name, hold in holds))
    if serial.wall and parallel.wall:
        print(f"speed-up: {serial.wall / parallel.wall:.2f}x")
    comparison = compare.compare(serial.records, parallel.records)
    print("verdicts, " + "\n  ".join(comparison.lines()))
    print("start of each strategy, median seconds (serial run): Kubernetes / its scripts / the harness")
    by_strategy: dict[str, list[tuple[float, float, float]]] = {}
    for record in serial.records:
        split = start_split(History.load(Path(record["report"]) / "history.json"), serial.durations.get(test_id(record), {}))
        if split:
            by_strategy.setdefault(record["strategy"], []).append(split)
    for strategy, splits in sorted(by_strategy.items()):
        print(f"  {strategy:22}" + " / ".join(median([s[i] for s in splits]) for i in range(3)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="auto", help="pytest-xdist's -n for the side-by-side run (default auto)")
    parser.add_argument("--out", type=Path, default=Path("benchmark-report"))
    parser.add_argument("--serial", type=Path, default=None, help="read this kept one-process run instead of running it")
    parser.add_argument("--parallel", type=Path, default=None, help="read this kept side-by-side run instead of running it")
    args, extra = parser.parse_known_args()
    serial = Run("one process", args.serial or args.out.resolve() / "serial")
    parallel = Run(f"-n {args.workers}", args.parallel or args.out.resolve() / "parallel")
    if args.serial is None:
        run_pytest(serial, ["-n", "0"], extra)
    if args.parallel is None:
        run_pytest(parallel, ["-n", args.workers], extra)
    for run in (serial, parallel):
        load(run)
    report(serial, parallel)


if __name__ == "__main__":
    main()
