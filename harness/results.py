"""results.json and the strategy × fault matrix printed after a run.

``grid`` is the one place that groups records into cells; the terminal
matrix here and the Markdown and HTML reports (harness/report.py) all render
its rows, so they can never disagree about what a cell says. ``as_declared``
is the one place that decides whether a run went as its strategy declares:
the matrix's ``!``, a cell's status and the pytest outcome all ask it.

A cell's text is its runs' outcome (``pass``, ``FAIL(reasons)``, or
``UNDECIDED(undecided)`` when nothing failed but a check could not decide),
then ``passes/N`` with several runs, ``~`` when the runs disagree (flaky:
different verdicts or different reasons), ``!`` when a run differs from the
declaration.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Status = Literal["pass", "declared", "unexpected", "empty"]
HEADER = "strategy \\ fault"


def write(records: list[dict[str, Any]], directory: Path) -> Path:
    """Write all records so far; called after every scenario so Ctrl-C keeps them."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "results.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(records, indent=2) + "\n")
    tmp.replace(path)
    return path


def load(path: Path) -> list[dict[str, Any]]:
    """The records ``write`` wrote: ``path`` is results.json or the report directory holding it."""
    return json.loads((path / "results.json" if path.is_dir() else path).read_text())


def declared_reason(record: dict[str, Any]) -> str | None:
    """The reason a strategy declares for this run's fault, or None (none declared, or a record from before it was kept)."""
    declared = record.get("declared")
    return declared["reason"] if declared else None


def as_declared(record: dict[str, Any]) -> bool:
    """Whether a run's verdict is what its strategy declares.

    Declared to pass (no declaration): only a pass. Declared to fail for a
    reason: a failure that reports that reason (a failure for another reason
    is not as declared). Declared to fail sometimes: a pass, or such a
    failure. An undecided verdict is never as declared unless ``undecided``
    itself is the declared reason. Records from before the declared reason
    was kept (no ``declared``) can only be held to fail or pass.
    """
    expected, verdict = record["expected"], record["verdict"]
    if expected == "pass":
        return verdict == "pass"
    reason = declared_reason(record)
    failed_so = verdict == "fail" if reason is None else verdict != "pass" and reason in record["reasons"]
    return failed_so or (expected == "sometimes" and verdict == "pass")


def outcome(records: list[dict[str, Any]]) -> str:
    """What runs ended with: pass, FAIL(every reason any run gave), or UNDECIDED(...) when none failed but some could not decide."""
    reasons = ",".join(sorted({reason for r in records for reason in r["reasons"]}))
    verdicts = {r["verdict"] for r in records}
    if "fail" in verdicts:
        return f"FAIL({reasons})"
    return f"UNDECIDED({reasons})" if "undecided" in verdicts else "pass"


def cell(records: list[dict[str, Any]]) -> str:
    """One matrix cell: every run's verdict, how many passed, whether they disagree and whether they match the declaration."""
    passed = sum(r["verdict"] == "pass" for r in records)
    text = outcome(records)
    if len(records) > 1:
        text += f" {passed}/{len(records)}"
    if disagree(records):
        text += " ~"
    if not all(as_declared(r) for r in records):
        text += " !"
    return text


def disagree(records: list[dict[str, Any]]) -> bool:
    """Whether repeated runs of one cell ended differently: another verdict or another set of reasons (flaky)."""
    return len({(r["verdict"], frozenset(r["reasons"])) for r in records}) > 1


def differences(records: list[dict[str, Any]]) -> str:
    """How a flaky cell's runs ended, grouped: "runs 1, 3: pass; run 2: FAIL(quorum-lost)"; "" when they agree."""
    if not disagree(records):
        return ""
    groups: dict[str, list[int]] = {}
    for run, record in enumerate(records, 1):
        groups.setdefault(outcome([record]), []).append(run)
    return "; ".join(
        f"run{'s' if len(runs) > 1 else ''} {', '.join(map(str, runs))}: {text}" for text, runs in groups.items()
    )


@dataclass(frozen=True)
class Cell:
    """The runs of one strategy through one fault on one etcd release (none: that did not run)."""

    strategy: str
    fault: str
    records: tuple[dict[str, Any], ...]
    column: str = ""  # its column's label: the fault, with the release when records hold several

    @property
    def label(self) -> str:
        return f"{self.strategy} × {self.column or self.fault}"

    @property
    def text(self) -> str:
        return cell(list(self.records)) if self.records else "-"

    @property
    def status(self) -> Status:
        """How a reader should see the cell: unexpected outranks a declared failure, which outranks a pass."""
        if not self.records:
            return "empty"
        if not all(as_declared(r) for r in self.records):
            return "unexpected"
        return "declared" if any(r["verdict"] != "pass" for r in self.records) else "pass"

    @property
    def flaky(self) -> bool:
        return disagree(list(self.records))

    @property
    def differences(self) -> str:
        return differences(list(self.records))


@dataclass(frozen=True)
class Grid:
    """Rows of strategies, columns of faults (grouped by etcd release when there are several), sorted."""

    columns: list[str]
    rows: list[tuple[str, list[Cell]]]

    def cells(self) -> list[Cell]:
        """Every non-empty cell in reading order (row by row)."""
        return [c for _, row in self.rows for c in row if c.records]


def _release_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in version.split("."))


def grid(records: list[dict[str, Any]]) -> Grid:
    """Group records by (strategy, fault, etcd release), keeping each cell's runs in the order they ran.

    With one release the columns are the faults, as they always were; with
    several, each release is a group of columns, oldest first, and a column
    reads ``pod-delete @ etcd 3.6.16``.
    """
    releases = sorted({r.get("etcd_version", "") for r in records}, key=_release_key)
    columns = [(v, f) for v in releases for f in sorted({r["fault"] for r in records if r.get("etcd_version", "") == v})]

    def label(version: str, fault: str) -> str:
        return f"{fault} @ etcd {version}" if len(releases) > 1 else fault

    grouped: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in records:
        grouped.setdefault((r["strategy"], r.get("etcd_version", ""), r["fault"]), []).append(r)
    rows = [
        (s, [Cell(s, f, tuple(grouped.get((s, v, f), ())), label(v, f)) for v, f in columns])
        for s in sorted({r["strategy"] for r in records})
    ]
    return Grid([label(v, f) for v, f in columns], rows)


def table(records: list[dict[str, Any]]) -> list[list[str]]:
    """The matrix as text cells, header row first: what both the terminal and Markdown show."""
    g = grid(records)
    return [[HEADER, *g.columns], *([strategy, *(c.text for c in row)] for strategy, row in g.rows)]


def matrix(records: list[dict[str, Any]]) -> list[str]:
    """Rows of strategies, columns of faults; ``~`` marks a flaky cell, ``!`` one that differs from its declaration."""
    rows = table(records)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(value.ljust(w) for value, w in zip(row, widths)).rstrip() for row in rows]
