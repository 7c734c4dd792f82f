"""What a strategy's ``known_failures`` may name, checked before anything runs.

A declaration that names a fault nobody runs (``pod-delet``) or a reason no
checker gives (``panik``) never matches: its cell would be judged as
undeclared, and the user would never learn that the line they wrote is dead.
So every key must be a fault name, a test id or a schedule the harness can
run, and every reason a word the verdict gives.
"""

from __future__ import annotations

import difflib

import faults
from clusters.strategy import Strategy
from harness.verdict import REASONS


class DeclarationError(ValueError):
    """A known_failures entry that can never match; the message names the file and the key."""


def _faults_named(key: str) -> list[faults.Fault] | None:
    """The faults a run looks this key up for (a name, a test id or a schedule spec); None when no run would."""
    if key in faults.CATALOG:
        try:
            return [faults.make(key)]
        except faults.FaultError:  # a fault that needs a target (rolling-upgrade): its name covers every one
            return []
    try:
        schedule = faults.schedule.outline(key)
        if key in schedule.declared_keys:
            return [] if schedule.drawn else schedule.faults()  # drawn targets exist only per run
    except faults.FaultError:
        pass
    for name in faults.CATALOG:  # a test id: NAME-TARGET, as in partition-leader
        if key.startswith(name + "-"):
            try:
                fault = faults.make(f"{name}:{key[len(name) + 1:]}")
            except faults.FaultError:
                continue
            if fault.id == key:
                return [fault]
    return None


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check(strategy: Strategy) -> None:
    """Raise DeclarationError for the first declaration of ``strategy`` that can never match."""
    where = strategy.directory / "strategy.yaml"
    for key, entries in strategy.known_failures.items():
        named = _faults_named(key)
        if named is None:
            raise DeclarationError(
                f"{where}: known_failures.{key}: no fault, test id or schedule is called that"
                f"{_suggest(key, sorted(faults.CATALOG))}; faults: {', '.join(sorted(faults.CATALOG))}"
            )
        for problem in filter(None, (fault.target_problem(strategy.pod_names) for fault in named)):
            raise DeclarationError(f"{where}: known_failures.{key}: {strategy.name} {problem}")
        for known in entries:
            if known.reason not in REASONS:
                raise DeclarationError(
                    f"{where}: known_failures.{key}.reason {known.reason!r} is no reason the checks give"
                    f"{_suggest(known.reason, list(REASONS))}; reasons: {', '.join(REASONS)}"
                )
