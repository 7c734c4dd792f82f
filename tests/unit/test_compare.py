"""Two runs' cells set side by side, as a backend or version comparison reads them."""

import json

from harness.compare import compare, main
from test_results import rec


def test_cells_that_ended_alike_are_the_same_whatever_their_run_count():
    base = [rec("a", "pod-delete"), rec("b", "pause", "fail", "fail", ["panic"], "panic")]
    other = [rec("a", "pod-delete"), rec("a", "pod-delete"), rec("b", "pause", "fail", "fail", ["panic"], "panic")]
    result = compare(base, other)
    assert result.same == [("a", "pod-delete"), ("b", "pause")]
    assert result.differences == []


def test_another_reason_is_a_difference_and_says_whether_both_sides_were_declared():
    base = [rec("a", "scale", "fail", "fail", ["not-recovered"], "not-recovered")]
    other = [rec("a", "scale", "fail", "fail", ["not-recovered", "panic"], "not-recovered")]
    (difference,) = compare(base, other).differences
    assert difference.line() == "a × scale: FAIL(not-recovered) → FAIL(not-recovered,panic) (both as declared)"


def test_a_sometimes_cell_passing_on_one_side_is_within_its_declaration_and_a_broken_one_is_not():
    sometimes = rec("a", "rebuild", "fail", "sometimes", ["quorum-lost"], "quorum-lost")
    passed = rec("a", "rebuild", "pass", "sometimes", declared="quorum-lost")
    undeclared = rec("b", "pause", "fail", reasons=["panic"])
    result = compare([sometimes, rec("b", "pause")], [passed, undeclared])
    assert [(d.strategy, d.within_declaration) for d in result.differences] == [("a", True), ("b", False)]


def test_cells_only_one_run_holds_are_listed_apart():
    result = compare([rec("a", "x"), rec("a", "y")], [rec("a", "x"), rec("b", "z")])
    assert (result.only_base, result.only_other) == ([("a", "y")], [("b", "z")])
    assert result.lines()[-2:] == ["1 cell only in the first: a × y", "1 cell only in the second: b × z"]


def test_the_command_exits_1_only_when_a_shared_cell_differs(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "results.json").write_text(json.dumps([rec("a", "x"), rec("a", "y")]))
    (tmp_path / "b.json").write_text(json.dumps([rec("a", "x")]))
    (tmp_path / "c.json").write_text(json.dumps([rec("a", "x", "fail", reasons=["panic"])]))
    assert main([str(tmp_path / "a"), str(tmp_path / "b.json")]) == 0
    assert main([str(tmp_path / "b.json"), str(tmp_path / "c.json")]) == 1
    assert "a × x: pass → FAIL(panic) (not as declared)" in capsys.readouterr().out
