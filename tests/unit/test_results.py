import json

import pytest

from harness.results import HEADER, Cell, as_declared, cell, differences, grid, matrix, table, write


def rec(strategy="s", fault="f", verdict="pass", expected="pass", reasons=(), declared=None):
    """A results.json record; ``declared`` is the declared reason (None: a record from before it was kept)."""
    record = {"strategy": strategy, "fault": fault, "verdict": verdict, "expected": expected, "reasons": list(reasons)}
    if declared is not None:
        record["declared"] = {"reason": declared, "why": "because", "sometimes": expected == "sometimes"}
    return record


@pytest.mark.parametrize(
    ("records", "text"),
    [
        ([rec()], "pass"),
        ([rec(verdict="fail", reasons=["panic"])], "FAIL(panic) !"),
        ([rec(verdict="fail", expected="fail", reasons=["panic", "crash-loop"])], "FAIL(crash-loop,panic)"),
        ([rec(expected="fail")], "pass !"),
        ([rec(), rec()], "pass 2/2"),
        (
            [rec(), rec(verdict="fail", reasons=["quorum-lost"]), rec(verdict="fail", reasons=["panic"])],
            "FAIL(panic,quorum-lost) 1/3 ~ !",
        ),
        ([rec(verdict="undecided", reasons=["undecided"])], "UNDECIDED(undecided) !"),
        ([rec(verdict="undecided", reasons=["undecided"]), rec(verdict="fail", reasons=["panic"])], "FAIL(panic,undecided) 0/2 ~ !"),
        ([rec(verdict="fail", expected="fail", reasons=["panic"], declared="crash-loop")], "FAIL(panic) !"),
        (
            [rec(verdict="fail", expected="sometimes", reasons=["panic"], declared="panic"), rec(expected="sometimes")],
            "FAIL(panic) 1/2 ~",
        ),
        ([rec(verdict="fail", expected="fail", reasons=["panic"])] * 2, "FAIL(panic) 0/2"),
    ],
)
def test_cell(records, text):
    assert cell(records) == text


def test_cell_marks_declared_failure_that_sometimes_passes():
    records = [rec(verdict="fail", expected="fail", reasons=["panic"]), rec(expected="fail")]
    assert cell(records) == "FAIL(panic) 1/2 ~ !"


def test_matrix_rows_are_strategies_and_columns_faults():
    records = [
        rec("static-dns", "pod-delete"),
        rec("seed-wipe", "inplace-restart", "fail", "fail", ["panic"]),
        rec("static-dns", "inplace-restart", "fail", reasons=["not-recovered"]),
    ]
    assert matrix(records) == [
        "strategy \\ fault  inplace-restart        pod-delete",
        "seed-wipe         FAIL(panic)            -",
        "static-dns        FAIL(not-recovered) !  pass",
    ]


def test_several_etcd_releases_are_column_groups_oldest_first():
    def on(version, strategy, fault, verdict="pass", reasons=()):
        return {**rec(strategy, fault, verdict, reasons=reasons), "etcd_version": version}

    records = [
        on("3.6.16", "s", "pod-delete", "fail", ["not-recovered"]),
        on("3.4.23", "s", "pod-delete"),
        on("3.10.0", "s", "inplace-restart"),
        on("3.4.23", "s", "inplace-restart"),
    ]
    g = grid(records)
    assert g.columns == [
        "inplace-restart @ etcd 3.4.23", "pod-delete @ etcd 3.4.23", "pod-delete @ etcd 3.6.16", "inplace-restart @ etcd 3.10.0",
    ]
    assert [c.text for c in g.rows[0][1]] == ["pass", "pass", "FAIL(not-recovered) !", "pass"]
    assert g.cells()[2].label == "s × pod-delete @ etcd 3.6.16"
    assert grid(records[1:2]).columns == ["pod-delete"], "one release: the columns are the faults alone"


def test_grid_groups_runs_per_cell_in_the_order_they_ran():
    first, second = rec("b", "g", "fail", reasons=["panic"]), rec("b", "g")
    g = grid([rec("a", "h"), first, second])
    assert g.columns == ["g", "h"]
    assert [(s, [c.records for c in row]) for s, row in g.rows] == [
        ("a", [(), (rec("a", "h"),)]),
        ("b", [(first, second), ()]),
    ]
    assert [(c.strategy, c.fault) for c in g.cells()] == [("a", "h"), ("b", "g")]


@pytest.mark.parametrize(
    ("records", "status"),
    [
        ((), "empty"),
        ((rec(),), "pass"),
        ((rec(verdict="fail", expected="fail", reasons=["panic"]),), "declared"),
        ((rec(verdict="fail", reasons=["panic"]),), "unexpected"),
        ((rec(expected="fail"),), "unexpected"),
        ((rec(verdict="fail", expected="fail", reasons=["panic"]), rec(expected="fail")), "unexpected"),
        ((rec(verdict="fail", expected="fail", reasons=["panic"], declared="crash-loop"),), "unexpected"),
        ((rec(verdict="undecided", reasons=["undecided"]),), "unexpected"),
        ((rec(verdict="undecided", expected="fail", reasons=["undecided"], declared="undecided"),), "declared"),
        ((rec(expected="sometimes", declared="panic"), rec(verdict="fail", expected="sometimes", reasons=["panic"], declared="panic")), "declared"),
    ],
)
def test_cell_status(records, status):
    assert Cell("s", "f", records).status == status


def test_terminal_matrix_is_the_padded_shared_table():
    records = [rec("s", "f"), rec("t", "g", "fail", reasons=["panic"])]
    assert table(records) == [[HEADER, "f", "g"], ["s", "pass", "-"], ["t", "-", "FAIL(panic) !"]]
    assert matrix(records) == [
        "strategy \\ fault  f     g",
        "s                 pass  -",
        "t                 -     FAIL(panic) !",
    ]
    assert matrix([]) == [HEADER]


def test_write_creates_results_json(tmp_path):
    records = [rec(), rec("t", "g", "fail", reasons=["panic"])]
    path = write(records, tmp_path / "report")
    assert path == tmp_path / "report" / "results.json"
    assert json.loads(path.read_text()) == records
    write(records[:1], tmp_path / "report")
    assert json.loads(path.read_text()) == records[:1]
    assert [p.name for p in (tmp_path / "report").iterdir()] == ["results.json"]


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        # no declaration: only a pass
        (rec(), True),
        (rec(verdict="fail", reasons=["panic"]), False),
        (rec(verdict="undecided", reasons=["undecided"]), False),
        # declared to fail for a reason: a failure that reports it, beside others too
        (rec(verdict="fail", expected="fail", reasons=["panic"], declared="panic"), True),
        (rec(verdict="fail", expected="fail", reasons=["panic", "crash-loop", "undecided"], declared="crash-loop"), True),
        (rec(verdict="fail", expected="fail", reasons=["quorum-lost"], declared="panic"), False),  # another reason
        (rec(expected="fail", declared="panic"), False),
        (rec(verdict="undecided", expected="fail", reasons=["undecided"], declared="panic"), False),
        (rec(verdict="undecided", expected="fail", reasons=["undecided"], declared="undecided"), True),
        # declared to fail sometimes: a pass, or a failure for the reason
        (rec(expected="sometimes", declared="panic"), True),
        (rec(verdict="fail", expected="sometimes", reasons=["panic"], declared="panic"), True),
        (rec(verdict="fail", expected="sometimes", reasons=["quorum-lost"], declared="panic"), False),
        (rec(verdict="undecided", expected="sometimes", reasons=["undecided"], declared="panic"), False),
        # records from before the declared reason was kept: a failure of any reason is as declared
        (rec(verdict="fail", expected="fail", reasons=["quorum-lost"]), True),
        (rec(expected="fail"), False),
        (rec(expected="sometimes"), True),
        (rec(verdict="fail", expected="sometimes", reasons=["quorum-lost"]), True),
    ],
)
def test_as_declared(record, expected):
    assert as_declared(record) is expected


def test_runs_that_agree_have_no_differences():
    assert differences([rec(), rec()]) == ""
    assert differences([rec(verdict="fail", reasons=["panic"])] * 3) == ""


def test_differences_group_the_runs_by_how_they_ended():
    runs = [rec(), rec(verdict="fail", reasons=["quorum-lost"]), rec(), rec(verdict="fail", reasons=["panic", "quorum-lost"])]
    assert differences(runs) == "runs 1, 3: pass; run 2: FAIL(quorum-lost); run 4: FAIL(panic,quorum-lost)"
    assert Cell("s", "f", tuple(runs)).flaky and Cell("s", "f", tuple(runs)).differences == differences(runs)


def test_the_same_verdict_with_other_reasons_is_flaky():
    runs = (rec(verdict="fail", reasons=["panic"]), rec(verdict="fail", reasons=["crash-loop"]))
    assert Cell("s", "f", runs).flaky and not Cell("s", "f", runs[:1]).flaky
