import json

import pytest

from harness.results import HEADER, Cell, cell, grid, matrix, table, write


def rec(strategy="s", fault="f", verdict="pass", expected="pass", reasons=()):
    return {"strategy": strategy, "fault": fault, "verdict": verdict, "expected": expected, "reasons": list(reasons)}


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
            "FAIL(panic,quorum-lost) 1/3 !",
        ),
        ([rec(verdict="fail", expected="fail", reasons=["panic"])] * 2, "FAIL(panic) 0/2"),
    ],
)
def test_cell(records, text):
    assert cell(records) == text


def test_cell_marks_declared_failure_that_sometimes_passes():
    records = [rec(verdict="fail", expected="fail", reasons=["panic"]), rec(expected="fail")]
    assert cell(records) == "FAIL(panic) 1/2 !"


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


def test_grid_groups_runs_per_cell_in_the_order_they_ran():
    first, second = rec("b", "g", "fail", reasons=["panic"]), rec("b", "g")
    g = grid([rec("a", "h"), first, second])
    assert g.faults == ["g", "h"]
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


def test_a_failure_declared_to_happen_sometimes_is_never_unexpected():
    from harness.results import unexpected

    assert not unexpected({"expected": "sometimes", "verdict": "pass"})
    assert not unexpected({"expected": "sometimes", "verdict": "fail"})
    assert unexpected({"expected": "fail", "verdict": "pass"})
