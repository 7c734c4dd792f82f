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
