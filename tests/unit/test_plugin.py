"""The pytest plugin as a user meets it: options, markers, matrix ids, declared failures."""

import pytest

MATRIX_TEST = """
def test_cell(chaos_strategy, chaos_fault):
    pass
"""


def test_matrix_ids_are_strategy_then_fault(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(MATRIX_TEST)
    result = pytester.runpytest("--collect-only", "-q", "--strategy", "static-dns", "--strategy", "reconcile-learner")
    result.stdout.fnmatch_lines(
        [
            "*test_cell[[]static-dns-dns-stale[]]",
            "*test_cell[[]static-dns-inplace-restart[]]",
            "*test_cell[[]static-dns-pod-delete[]]",
            "*test_cell[[]static-dns-partition-leader[]]",
            "*test_cell[[]reconcile-learner-dns-stale[]]",
            "*test_cell[[]reconcile-learner-pod-delete[]]",
        ]
    )


def test_each_etcd_release_is_a_cell_with_its_own_declaration(pytester: pytest.Pytester) -> None:
    """Several releases: the release ends the id, and a declaration holds only for the releases it names."""
    own = pytester.mkdir("own-etcd")
    for tool in ("etcd", "etcdctl"):
        (own / tool).write_text("#!/bin/sh\necho 'etcd Version: 3.6.99'\n")
        (own / tool).chmod(0o755)
    strategy = static_dns_copy(
        pytester,
        "name: mine\ndescription: test strategy\nknown_failures:\n"
        "  pod-delete: {reason: panic, why: w, etcd: '<3.6'}\n",
    )
    pytester.makepyfile(
        """
        def test_cell(chaos_strategy, chaos_fault, chaos_etcd_version):
            pass
        """
    )
    result = pytester.runpytest(
        "--strategy-path", str(strategy), "--strategy", "mine", "--fault", "pod-delete",
        "--etcd-bin-dir", str(own), "--etcd-version", "3.5.1", "--etcd-version", "v3.6.99", "-v",
    )
    # declared to fail on 3.5.1 (strictly: its pass is a failure), declared nothing on 3.6.99
    result.stdout.fnmatch_lines(["*test_cell[[]mine-pod-delete-etcd3.5.1[]] FAILED*", "*test_cell[[]mine-pod-delete-etcd3.6.99[]] PASSED*"])
    result.stdout.fnmatch_lines(["[[]XPASS(strict)[]] declared: panic: w"])


def test_a_series_is_looked_up_once_by_the_controller_and_every_worker_runs_its_answer(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = pytester.mkdir("own-etcd")
    for tool in ("etcd", "etcdctl"):
        (own / tool).write_text("#!/bin/sh\necho 'etcd Version: 3.6.99'\n")
        (own / tool).chmod(0o755)
    asked = pytester.path / "asked"
    monkeypatch.setenv("ASKED_LOG", str(asked))
    pytester.makeconftest(
        """
        import os
        from clusters.localkube import etcd_releases

        def served():  # the proxy, as each process would ask it
            with open(os.environ["ASKED_LOG"], "a") as log:
                log.write(f"{os.getpid()}\\n")
            return ["v3.6.0", "v3.6.99"]

        etcd_releases.served_releases = served
        """
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", range(4))
        def test_cell(chaos_etcd_version, n):
            assert chaos_etcd_version == "3.6.99"
        """
    )
    result = pytester.runpytest_subprocess("-n", "2", "--etcd-bin-dir", str(own), "--etcd-version", "3.6")
    result.assert_outcomes(passed=4)
    assert len(asked.read_text().split()) == 1, "only the controller asks the proxy"


def test_fault_target_and_runs_show_in_ids(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(MATRIX_TEST)
    result = pytester.runpytest(
        "--collect-only", "-q", "--strategy", "static-dns", "--fault", "pod-delete:follower", "--chaos-runs", "2"
    )
    result.stdout.fnmatch_lines(["*[[]static-dns-pod-delete-follower-run1[]]", "*[[]static-dns-pod-delete-follower-run2[]]"])


def static_dns_copy(pytester: pytest.Pytester, meta: str):
    """A user strategy "mine": static-dns's manifests with ``meta`` as its strategy.yaml."""
    from clusters.strategy import BUILTIN_DIR

    strategy = pytester.mkdir("mine")
    for manifest in (BUILTIN_DIR / "static-dns").glob("*.yaml"):
        if manifest.name != "strategy.yaml":
            (strategy / manifest.name).write_text(manifest.read_text())
    (strategy / "strategy.yaml").write_text(meta)
    return strategy


def test_declared_failure_is_a_strict_xfail(pytester: pytest.Pytester) -> None:
    strategy = static_dns_copy(
        pytester,
        "name: mine\ndescription: test strategy\nknown_failures:\n"
        "  pod-delete: {reason: panic, why: test}\n  partition-leader: {reason: quorum-lost, why: test}\n"
    )
    pytester.makepyfile(
        """
        import pytest
        def test_cell(request, chaos_strategy, chaos_fault):
            marks = [m.name for m in request.node.iter_markers()]
            assert ("xfail" in marks) == (chaos_fault in ("pod-delete", "pod-delete:follower", "partition:leader"))
            if "xfail" in marks:
                mark = request.node.get_closest_marker("xfail")
                assert mark.kwargs["strict"] is True
        """
    )
    faults = ["pod-delete", "pod-delete:follower", "partition", "partition:leader", "pause"]
    args = [arg for fault in faults for arg in ("--fault", fault)]
    result = pytester.runpytest("--strategy-path", str(strategy), "--strategy", "mine", "-q", *args)
    # A name declares every target of that fault; an id only its own. Declared
    # cells pass their body here, so strict xfail reports them as failures.
    result.assert_outcomes(passed=2, failed=3)


def test_schedules_are_matrix_cells_with_readable_ids(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(MATRIX_TEST)
    result = pytester.runpytest(
        "--collect-only", "-q", "--strategy", "static-dns", "--fault", "pod-delete+partition:leader*2", "--fault", "random*5"
    )
    result.stdout.fnmatch_lines(["*[[]static-dns-pod-delete+partition-leader*2[]]", "*[[]static-dns-random*5[]]"])


def test_a_schedule_that_cannot_be_read_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(MATRIX_TEST)
    result = pytester.runpytest("--fault", "pod-delete++pause")
    result.stderr.fnmatch_lines(["ERROR: cannot read schedule step ''*"])


def test_markers_and_options_are_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.chaos:*"])
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*--strategy-path=DIR*", "*--report-dir=DIR*", "*--etcd-bin-dir=DIR*"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "nope"], "*unknown strategy 'nope'; known strategies: *"),
        (["--fault", "meteor"], "*unknown fault 'meteor'; known faults: *"),
        (["--strategy-path", "/nonexistent/x"], "*--strategy-path /nonexistent/x: no such directory*"),
    ],
)
def test_bad_names_are_one_line_usage_errors(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    assert "Traceback" not in result.stderr.str()


def test_a_failure_declared_sometimes_is_a_lenient_xfail(pytester: pytest.Pytester) -> None:
    strategy = static_dns_copy(
        pytester,
        "name: mine\ndescription: test strategy\nknown_failures:\n"
        "  pod-delete: {reason: panic, why: a race, sometimes: true}\n"
    )
    pytester.makepyfile(
        """
        def test_cell(request, chaos_strategy, chaos_fault):
            mark = request.node.get_closest_marker("xfail")
            assert mark.kwargs["strict"] is False
        """
    )
    result = pytester.runpytest("--strategy-path", str(strategy), "--strategy", "mine", "--fault", "pod-delete", "-q")
    result.assert_outcomes(xpassed=1)  # a declared-sometimes cell that passes is no failure


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--chaos-runs", "0"], "ERROR: --chaos-runs 0: give 1 or more"),
        (["--nodes", "0"], "ERROR: --nodes 0: give 1 or more"),
        (["--recovery-timeout", "0"], "ERROR: --recovery-timeout 0.0: give a time above 0"),
        (["--warmup", "-1"], "ERROR: --warmup -1.0: give 0 or more seconds"),
        (["--fault", "pod-delete:etcd-9", "--strategy", "static-dns"],
         "ERROR: --fault pod-delete:etcd-9: static-dns no pod etcd-9 (its pods: etcd-0, etcd-1, etcd-2)"),
        (["--fault", "pod-delete:4", "--strategy", "static-dns"], "ERROR: --fault pod-delete:4: static-dns cannot hit 4 pods of 3"),
        (["--fault", "scale:3", "--strategy", "static-dns"],
         "ERROR: --fault scale:3: static-dns 3 replicas cannot grow to 3; give a larger size"),
        (["--fault", "pod-delet"], "ERROR: unknown fault 'pod-delet'; known faults: *"),
        (["--strategy", "nope"], "ERROR: unknown strategy 'nope'; known strategies: *"),
        (["--workload-mix", "put=1,gett=2"], "ERROR: --workload-mix put=1,gett=2: write KIND=WEIGHT,... with KIND one of *"),
        (["--workload-mix", "put=0"], "ERROR: --workload-mix put=0,get=0,serializable_get=0,cas=0: weights are whole*"),
        (["--workload-clients", "0"], "ERROR: --workload-clients 0: give 1 or more"),
        (["--workload-value-size", "-1"], "ERROR: --workload-value-size -1: give 0 or more"),
        (["--workload-rate", "0"], "ERROR: --workload-rate 0.0: give a number above 0"),
        (["--etcd-version", "3.6.x"],
         "ERROR: --etcd-version: etcd version '3.6.x': expected MAJOR.MINOR.PATCH, such as 3.6.16, or MAJOR.MINOR for its newest patch"),
        (["--etcd-flag", "snapshot-count"], "ERROR: --etcd-flag snapshot-count: write FLAG=VALUE, such as snapshot-count=100"),
        (["--fault", "rolling-upgrade:3.4.23->3.6.16"],
         "ERROR: rolling-upgrade:3.4.23->3.6.16: etcd's upgrade guide supports one minor release at a time; go through 3.5 first*"),
    ],
    ids=["runs-0", "nodes-0", "recovery-0", "warmup-negative", "no-such-pod", "too-many-pods", "scale-not-larger",
         "misspelled-fault", "unknown-strategy", "misspelled-mix", "empty-mix", "no-clients", "negative-value-size", "no-rate",
         "release-not-full", "flag-without-value", "upgrade-skips-a-minor"],
)
def test_a_bad_option_is_one_line_before_anything_runs(pytester: pytest.Pytester, args, line) -> None:
    pytester.makepyfile(MATRIX_TEST)
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([line])
    assert len([x for x in result.stderr.lines if x.strip()]) == 1, result.stderr.lines


@pytest.mark.parametrize(
    ("meta", "line"),
    [
        ("known_failures:\n  pod-delet: {reason: panic, why: w}\n",
         "ERROR: */mine/strategy.yaml: known_failures.pod-delet: no fault, test id or schedule is called that (did you mean 'pod-delete'?)*"),
        ("known_failures:\n  pod-delete: {reason: panik, why: w}\n",
         "ERROR: */mine/strategy.yaml: known_failures.pod-delete.reason 'panik' is no reason the checks give (did you mean 'panic'?)*"),
        ("known_failures:\n  pod-delete: {reason: panic, why: w, sometimes: 'false'}\n",
         "ERROR: */mine/strategy.yaml: known_failures.pod-delete.sometimes must be true or false, not 'false'"),
        ("known_failures:\n  - pod-delete\n", "ERROR: */mine/strategy.yaml: known_failures must be a mapping of fault*"),
    ],
    ids=["misspelled-fault", "misspelled-reason", "sometimes-string", "list-not-mapping"],
)
def test_a_bad_declaration_is_one_line_naming_the_file_and_key(pytester: pytest.Pytester, meta, line) -> None:
    strategy = static_dns_copy(pytester, "name: mine\ndescription: test strategy\n" + meta)
    pytester.makepyfile(MATRIX_TEST)
    result = pytester.runpytest("--strategy-path", str(strategy))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([line])


def test_an_unwritable_report_dir_is_refused_before_a_cluster_starts(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.chaos
        def test_cell(run_scenario, chaos_strategy, chaos_fault):
            raise AssertionError("must not run")
        """
    )
    blocker = pytester.path / "a-file"
    blocker.write_text("")
    result = pytester.runpytest("--strategy", "static-dns", "--fault", "pod-delete", "--report-dir", str(blocker / "r"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: --report-dir {blocker / 'r'}: cannot write there (Not a directory); give a writable directory"])


def test_fault_selects_matrix_cells_and_leaves_the_harness_own_chaos_tests_out(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        pytestmark = pytest.mark.chaos
        def test_cell(chaos_strategy, chaos_fault):
            pass
        def test_own_scenario():
            pass
        """
    )
    one_cell = pytester.runpytest("--collect-only", "-q", "--strategy", "static-dns", "--fault", "pod-delete")
    one_cell.stdout.fnmatch_lines(["*test_cell[[]static-dns-pod-delete[]]", "1/2 tests collected (1 deselected)*"])
    column = pytester.runpytest("--collect-only", "-q", "--strategy", "static-dns")
    column.stdout.fnmatch_lines(["*test_own_scenario"])


def test_kind_without_docker_skips_every_chaos_test_with_the_one_line(pytester: pytest.Pytester, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(pytester.path))  # neither docker nor kind
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.chaos
        def test_needs_a_cluster(cluster_factory):
            raise AssertionError("ran without a backend")
        def test_needs_none():
            pass
        """
    )
    result = pytester.runpytest("--backend", "kind", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED * kind backend: docker: no docker CLI on PATH; install Docker (its CLI and engine)"])


@pytest.mark.parametrize("args", [["--kind-reuse"], ["--kind-cluster", "mine"]], ids=["reuse", "name"])
def test_kind_options_on_another_backend_are_a_usage_error(pytester: pytest.Pytester, args: list[str]) -> None:
    result = pytester.runpytest("--collect-only", "-q", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {args[0]} is for --backend kind (the backend is local)"])


SIDE_BY_SIDE_TEST = """
from harness.plugin import RECORD

def test_cell(request, chaos_strategy, chaos_fault):
    request.node.user_properties.append((RECORD, {
        "strategy": chaos_strategy, "fault": chaos_fault, "backend": "local", "etcd_version": "3.5.1", "seed": 1,
        "steps": [{"fault": chaos_fault, "targets": ["etcd-0"], "error": None, "skipped": None}],
        "verdict": "pass", "expected": "pass", "reasons": [], "panics": [], "crash_loops": [],
        "max_write_outage_s": 0.1, "recovery_s": 1.0, "problems_at_end": [], "fault_errors": [],
        "duration_s": 1.0, "report": None,
    }))
"""


def test_records_from_every_worker_end_in_one_results_json(pytester: pytest.Pytester) -> None:
    import json

    pytester.makepyfile(SIDE_BY_SIDE_TEST)
    result = pytester.runpytest_subprocess(
        "-n", "2", "--strategy", "static-dns", "--fault", "pod-delete", "--fault", "pause", "--report-dir", "out"
    )
    result.assert_outcomes(passed=2)
    records = json.loads((pytester.path / "out" / "results.json").read_text())
    assert sorted(r["fault"] for r in records) == ["pause", "pod-delete"]
    result.stdout.fnmatch_lines(["*[[]2/2[]] static-dns × *: pass (as declared) in 1 s; running 0: nothing"])


def test_side_by_side_idle_workers_steal_unless_the_distribution_is_chosen(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("""
def pytest_report_header(config):
    return f"dist: {config.option.dist}"
""")
    pytester.makepyfile(MATRIX_TEST)
    chosen = ["--strategy", "static-dns", "--fault", "pod-delete"]
    pytester.runpytest_subprocess("-n", "2", *chosen).stdout.fnmatch_lines(["*dist: worksteal*"])
    pytester.runpytest_subprocess("-n", "2", "--dist", "load", *chosen).stdout.fnmatch_lines(["*dist: load*"])


def test_side_by_side_cells_with_a_node_fault_come_first() -> None:
    from types import SimpleNamespace

    from harness.plugin import _node_faults_first

    specs = ["pod-delete", "node-down", "pause", "pod-delete+node-drain", "random*2"]
    items = [SimpleNamespace(callspec=SimpleNamespace(params={"chaos_fault": spec})) for spec in specs]
    items.append(SimpleNamespace())  # a test that is no matrix cell
    _node_faults_first(items)  # type: ignore[arg-type]
    assert [getattr(i, "callspec", SimpleNamespace(params={})).params.get("chaos_fault") for i in items] == [
        "node-down", "pod-delete+node-drain", "pod-delete", "pause", "random*2", None,
    ]
