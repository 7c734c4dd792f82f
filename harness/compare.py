"""Two runs of the matrix side by side: which cells ended otherwise.

    python -m harness.compare BASE/results.json OTHER/results.json

The same strategies and faults on two backends, two etcd versions or two
versions of a strategy should give the same cells; where they do not, the
difference is the finding, and each one is to be explained from its
scenarios' histories. A cell is compared by its outcome over its runs (the
verdict and every reason, as the matrix prints it, without run counts), so
a cell whose runs ended alike on both sides is "same" whatever the seeds.
A difference where both sides are as their strategy declares (a cell
declared to fail ``sometimes``) is told apart from one where a side is not.
Exits 1 when a cell both runs hold differs, 0 otherwise; cells only one run
holds are listed but are no difference.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import results
from harness.results import Cell, grid, outcome

Key = tuple[str, str]


@dataclass(frozen=True)
class Difference:
    """One cell both runs hold, ending otherwise."""

    strategy: str
    fault: str
    base: str
    other: str
    within_declaration: bool

    def line(self) -> str:
        mark = "both as declared" if self.within_declaration else "not as declared"
        return f"{self.strategy} × {self.fault}: {self.base} → {self.other} ({mark})"


@dataclass(frozen=True)
class Comparison:
    same: list[Key]
    differences: list[Difference]
    only_base: list[Key]
    only_other: list[Key]

    def lines(self) -> list[str]:
        both = len(self.same) + len(self.differences)
        out = [f"{_cells_word(both)} in both runs: {len(self.same)} the same, {len(self.differences)} different"]
        out += [f"  {d.line()}" for d in self.differences]
        for label, keys in (("only in the first", self.only_base), ("only in the second", self.only_other)):
            if keys:
                out.append(f"{_cells_word(len(keys))} {label}: " + ", ".join(f"{s} × {f}" for s, f in keys))
        return out


def _cells_word(count: int) -> str:
    return f"{count} cell{'' if count == 1 else 's'}"


def _cells(records: list[dict[str, Any]]) -> dict[Key, Cell]:
    return {(c.strategy, c.column): c for c in grid(records).cells()}


def compare(base: list[dict[str, Any]], other: list[dict[str, Any]]) -> Comparison:
    """The cells of two runs' records, matched by strategy and fault."""
    a, b = _cells(base), _cells(other)
    same: list[Key] = []
    differences: list[Difference] = []
    for key in sorted(a.keys() & b.keys()):
        ours, theirs = outcome(list(a[key].records)), outcome(list(b[key].records))
        if ours == theirs:
            same.append(key)
        else:
            declared = a[key].status != "unexpected" and b[key].status != "unexpected"
            differences.append(Difference(*key, ours, theirs, declared))
    return Comparison(same, differences, sorted(a.keys() - b.keys()), sorted(b.keys() - a.keys()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.compare", description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path, help="the first run's results.json (or its report directory)")
    parser.add_argument("other", type=Path, help="the second run's results.json (or its report directory)")
    args = parser.parse_args(argv)
    comparison = compare(results.load(args.base), results.load(args.other))
    print("\n".join(comparison.lines()))
    return 1 if comparison.differences else 0


if __name__ == "__main__":
    raise SystemExit(main())
