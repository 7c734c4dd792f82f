#!/usr/bin/env python3
"""Checker benchmark: every checker of the verdict on a 10,000-operation history.

Builds a history the way a chaos run records one (or loads a kept one with
``--history``): 8 clients calling put, get and compare-and-swap back to back
on 10 keys of one register each, every call taking effect at one instant
inside it, about 2 % of calls timing out (half of those took effect, at any
instant before the timeout) and 1 % failing; every write gets the next
revision, and three members' stores end holding them all, as the final
key-history read records them. Then times ``judge`` (all checkers: logs,
availability, lost writes, linearizability, one cluster, revisions) over it
``--rounds`` times and prints the median, min and max seconds and
operations per second against the target (median under 10 s on two cores),
and the median of each checker alone. ``--corrupt`` first makes one late
read return a value written only after it, to time the path that finds and
shrinks a violation. A miss is reported, not an error: this is a benchmark,
not a test.

    .venv/bin/python benchmarks/checkers.py [--rounds 5] [--history PATH] [--corrupt]
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from clusters.etcd_api import Change
from clusters.observe import Store
from harness.checkers.availability import availability
from harness.checkers.linearizability import check_linearizable
from harness.checkers.logs import find_alarms, find_panics
from harness.checkers.lost_writes import find_lost_writes
from harness.checkers.one_cluster import check_one_cluster
from harness.checkers.revisions import find_regressions
from harness.history import History, Operation, Outcome
from harness.verdict import judge

TARGET_S = 10.0
START = 1_700_000_000.0
TIMEOUT_S = 1.0


def _call(rng: random.Random, client: int, n: int, keys: int, invoke: float) -> tuple[Operation, float, float, bool]:
    """One call, when it returned, its instant of effect, and whether it took effect."""
    kind = rng.choices(["get", "put", "cas"], [50, 30, 20])[0]
    value = None if kind == "get" else f"client-{client}-{n}"
    roll = rng.random()
    outcome: Outcome = "unknown" if roll < 0.02 else "fail" if roll < 0.03 else "ok"
    took = rng.lognormvariate(math.log(0.004), 0.7)  # a few ms, with a long tail
    complete = invoke + (TIMEOUT_S if outcome == "unknown" else min(took, TIMEOUT_S))
    op = Operation(
        f"client-{client}",
        kind,
        f"/bench/key-{rng.randrange(keys)}",
        value,
        f"etcd-{rng.randrange(3)}",
        invoke,
        complete,
        outcome,
        serializable=kind == "get" and rng.random() < 0.05,
    )
    happens = outcome == "ok" or (outcome == "unknown" and rng.random() < 0.5)
    return op, complete, rng.uniform(invoke, complete), happens


def simulate(total: int, keys: int, clients: int, seed: int) -> History:
    """A linearizable history: calls replayed on real registers in the order of their instants.

    Each write that happens takes the next revision; replies carry the
    revision they saw, and the members' stores hold every change.
    """
    rng = random.Random(seed)
    ready = [(START + rng.uniform(0, 0.002), c) for c in range(clients)]
    heapq.heapify(ready)
    planned = []
    for n in range(total):
        invoke, client = heapq.heappop(ready)
        op, complete, instant, happens = _call(rng, client, n, keys, invoke)
        planned.append((instant, op, happens))
        heapq.heappush(ready, (complete + rng.uniform(0, 0.002), client))
    registers: dict[str, str | None] = {}
    seen: dict[tuple[str, str], str | None] = {}  # what each client last saw of each key
    changes: list[Change] = []
    for _, op, happens in sorted(planned, key=lambda p: p[0]):
        current = registers.get(op.key)
        if op.kind == "cas":
            op.expect = seen.get((op.client, op.key))  # may be stale: then the swap fails
        if not happens:
            continue
        if op.kind == "get":
            op.value = current
        elif op.kind == "put" or op.expect == current:
            registers[op.key] = op.value
            changes.append(Change(len(changes) + 2, op.key, op.value))
        op.revision = len(changes) + 1
        if op.outcome != "ok" or op.kind == "put":
            continue
        if op.kind == "cas":
            op.succeeded = op.expect == current
        seen[(op.client, op.key)] = op.value if op.succeeded else current
    operations = sorted((p[1] for p in planned), key=lambda op: op.invoke)
    revision = len(changes) + 1
    stores = [Store(f"etcd-{i}", f"etcd-{i}", "1", str(i + 1), revision, tuple(changes)) for i in range(3)]
    return History(
        meta={"started": START, "ended": max(op.complete or op.invoke for op in operations)},
        operations=operations,
        stores=stores,
    )


def corrupt(history: History) -> Operation:
    """Make the last acknowledged read return a value written only after it replied."""
    first_put: dict[str, Operation] = {}  # of those called after the operation at hand
    for op in reversed(history.operations):
        put = first_put.get(op.key)
        if op.kind == "put":
            first_put[op.key] = op
        elif op.kind == "get" and op.outcome == "ok" and not op.serializable and put and put.invoke > (op.complete or math.inf):
            op.value = put.value
            return op
    raise SystemExit("no read with a later write to corrupt")


def describe(history: History) -> str:
    ops = history.operations
    outcomes = Counter(op.outcome for op in ops)
    kinds = Counter(op.kind for op in ops)
    keys = len({op.key for op in ops})
    clients = len({op.client for op in ops})
    seconds = max(op.complete or op.invoke for op in ops) - min(op.invoke for op in ops)
    return (
        f"{len(ops)} operations on {keys} keys by {clients} clients over {seconds:.1f} s: "
        + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
        + "; "
        + ", ".join(f"{k} {n}" for k, n in sorted(outcomes.items(), key=lambda kv: str(kv[0])))
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed runs of the checker (default 5)")
    parser.add_argument("--history", type=Path, default=None, help="a kept history.json instead of a simulated one")
    parser.add_argument("--ops", type=int, default=10_000, help="simulated: operations (default 10000)")
    parser.add_argument("--keys", type=int, default=10, help="simulated: keys (default 10)")
    parser.add_argument("--clients", type=int, default=8, help="simulated: concurrent clients (default 8)")
    parser.add_argument("--seed", type=int, default=1, help="simulated: random seed (default 1)")
    parser.add_argument("--corrupt", action="store_true", help="plant one impossible read first")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    history = History.load(args.history) if args.history else simulate(args.ops, args.keys, args.clients, args.seed)
    print(describe(history))
    if args.corrupt:
        planted = corrupt(history)
        print(f"planted: {planted.client} read {planted.value!r} from {planted.key} before it was written")

    checkers = {
        "logs": lambda h: (find_panics(h.logs), find_alarms(h.logs)),
        "availability": availability,
        "lost writes": find_lost_writes,
        "linearizability": check_linearizable,
        "one cluster": check_one_cluster,
        "revisions": find_regressions,
    }
    seconds = []
    alone: dict[str, list[float]] = {name: [] for name in checkers}
    for i in range(args.rounds):
        t0 = time.perf_counter()
        verdict = judge(history, outage_budget=5.0)
        seconds.append(time.perf_counter() - t0)
        for name, checker in checkers.items():
            t1 = time.perf_counter()
            checker(history)
            alone[name].append(time.perf_counter() - t1)
        print(f"round {i + 1:>2}/{args.rounds}  {seconds[-1]:7.3f} s", flush=True)

    results = verdict.linearizability
    verdicts = Counter({True: "linearizable", False: "violated", None: "gave up"}[r.linearizable] for r in results)
    print(f"keys: {', '.join(f'{n} {v}' for v, n in sorted(verdicts.items()))}; "
          f"states explored: {sum(r.explored for r in results)}")
    print(f"lost writes: {len(verdict.lost_writes)}; one-cluster findings: {len(verdict.one_cluster)}; "
          f"revision regressions: {len(verdict.regressions)}")
    for result in results:
        if result.linearizable is not True:
            print(result.describe())
    print()
    print("each checker alone (median): " + ", ".join(f"{n} {statistics.median(t):.3f} s" for n, t in alone.items()))
    median = statistics.median(seconds)
    print(f"{'median':>8} {'min':>8} {'max':>8}   ops/s (median), all checkers (judge)")
    print(f"{median:7.3f}s {min(seconds):7.3f}s {max(seconds):7.3f}s   {len(history.operations) / median:,.0f}")
    met = median < TARGET_S
    print(f"target {'MET' if met else 'MISSED'}: median {median:.3f} s {'<' if met else '>='} {TARGET_S:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
