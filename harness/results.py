"""results.json and the strategy × fault matrix printed after a run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write(records: list[dict[str, Any]], directory: Path) -> Path:
    """Write all records so far; called after every scenario so Ctrl-C keeps them."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "results.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(records, indent=2) + "\n")
    tmp.replace(path)
    return path


def cell(records: list[dict[str, Any]]) -> str:
    """One matrix cell: every run's verdict, and whether it matched the declaration."""
    verdicts = [r["verdict"] for r in records]
    passed = verdicts.count("pass")
    reasons = sorted({reason for r in records for reason in r["reasons"]})
    text = "pass" if passed == len(verdicts) else f"FAIL({','.join(reasons)})"
    if len(verdicts) > 1:
        text += f" {passed}/{len(verdicts)}"
    if any((r["expected"] == "fail") != (r["verdict"] == "fail") for r in records):
        text += " !"
    return text


def matrix(records: list[dict[str, Any]]) -> list[str]:
    """Rows of strategies, columns of faults; ``!`` marks a cell that differs from its declaration."""
    strategies = sorted({r["strategy"] for r in records})
    faults = sorted({r["fault"] for r in records})
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        grouped.setdefault((r["strategy"], r["fault"]), []).append(r)
    rows = [["strategy \\ fault", *faults]]
    for s in strategies:
        rows.append([s, *(cell(grouped[(s, f)]) if (s, f) in grouped else "-" for f in faults)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(value.ljust(w) for value, w in zip(row, widths)).rstrip() for row in rows]
