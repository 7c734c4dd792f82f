"""Re-run the checkers on kept histories, without a cluster.

    python -m harness.recheck chaos-report/scenarios/<scenario> [...]

Prints each scenario's verdict as JSON, computed exactly as the run did.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness.history import History
from harness.verdict import DEFAULT_SEARCH_BUDGET, judge


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.recheck", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path, help="a scenario directory, or its history.json (or .json.gz)")
    parser.add_argument("--outage-budget", type=float, default=None, help="override the budget the run used")
    parser.add_argument("--search-budget", type=int, default=None,
                        help="override the linearizability search budget the run used (past it a key is undecided)")
    args = parser.parse_args(argv)
    failed = False
    for path in args.paths:
        history = History.load(_history_file(path))
        budget = args.outage_budget if args.outage_budget is not None else history.meta["outage_budget"]
        search = args.search_budget or history.meta.get("search_budget", DEFAULT_SEARCH_BUDGET)
        verdict = judge(history, budget, search)
        failed |= verdict.verdict != "pass"
        print(json.dumps({"scenario": str(path), **history.meta, **verdict.summary(history.started)}, indent=2))
    return 1 if failed else 0


def _history_file(path: Path) -> Path:
    if not path.is_dir():
        return path
    plain = path / "history.json"
    return plain if plain.exists() else path / "history.json.gz"


if __name__ == "__main__":
    raise SystemExit(main())
