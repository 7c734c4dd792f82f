"""results.json and the strategy × fault matrix printed after a run.

``grid`` is the one place that groups records into cells; the terminal
matrix here and the Markdown and HTML reports (harness/report.py) all render
its rows, so they can never disagree about what a cell says.
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


def unexpected(record: dict[str, Any]) -> bool:
    """Whether a run's verdict differs from what its strategy declares (pytest fails exactly these)."""
    if record["expected"] == "sometimes":
        return False  # a failure is checked for its declared reason by the test itself
    return (record["expected"] == "fail") != (record["verdict"] == "fail")


def cell(records: list[dict[str, Any]]) -> str:
    """One matrix cell: every run's verdict, and whether it matched the declaration."""
    verdicts = [r["verdict"] for r in records]
    passed = verdicts.count("pass")
    reasons = sorted({reason for r in records for reason in r["reasons"]})
    text = "pass" if passed == len(verdicts) else f"FAIL({','.join(reasons)})"
    if len(verdicts) > 1:
        text += f" {passed}/{len(verdicts)}"
    if any(unexpected(r) for r in records):
        text += " !"
    return text


@dataclass(frozen=True)
class Cell:
    """The runs of one strategy through one fault (none: that pair did not run)."""

    strategy: str
    fault: str
    records: tuple[dict[str, Any], ...]

    @property
    def text(self) -> str:
        return cell(list(self.records)) if self.records else "-"

    @property
    def status(self) -> Status:
        """How a reader should see the cell: unexpected outranks a declared failure, which outranks a pass."""
        if not self.records:
            return "empty"
        if any(unexpected(r) for r in self.records):
            return "unexpected"
        return "declared" if any(r["verdict"] == "fail" for r in self.records) else "pass"


@dataclass(frozen=True)
class Grid:
    """Rows of strategies, columns of faults, both sorted."""

    faults: list[str]
    rows: list[tuple[str, list[Cell]]]

    def cells(self) -> list[Cell]:
        """Every non-empty cell in reading order (row by row)."""
        return [c for _, row in self.rows for c in row if c.records]


def grid(records: list[dict[str, Any]]) -> Grid:
    """Group records by (strategy, fault), keeping each cell's runs in the order they ran."""
    faults = sorted({r["fault"] for r in records})
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        grouped.setdefault((r["strategy"], r["fault"]), []).append(r)
    rows = [
        (s, [Cell(s, f, tuple(grouped.get((s, f), ()))) for f in faults])
        for s in sorted({r["strategy"] for r in records})
    ]
    return Grid(faults, rows)


def table(records: list[dict[str, Any]]) -> list[list[str]]:
    """The matrix as text cells, header row first: what both the terminal and Markdown show."""
    g = grid(records)
    return [[HEADER, *g.faults], *([strategy, *(c.text for c in row)] for strategy, row in g.rows)]


def matrix(records: list[dict[str, Any]]) -> list[str]:
    """Rows of strategies, columns of faults; ``!`` marks a cell that differs from its declaration."""
    rows = table(records)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(value.ljust(w) for value, w in zip(row, widths)).rstrip() for row in rows]
