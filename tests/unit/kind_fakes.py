"""A stand-in for the kind backend's command runner: it records every command line and answers from a script.

No docker, kind or ip runs in the unit tests; what they check is the exact
commands the backend would run, and what it makes of the answers.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

@dataclass
class FakeRunner:
    """Answers the first script entry whose argv prefix matches; a list of answers is used up one per call."""

    script: list[tuple[tuple[str, ...], object]] = field(default_factory=list)
    calls: list[list[str]] = field(default_factory=list)
    timeouts: list[float] = field(default_factory=list)

    def on(self, *prefix: str, rc: int = 0, out: str = "", err: str = "") -> FakeRunner:
        self.script.append((prefix, (rc, out, err)))
        return self

    def sequence(self, *prefix: str, answers: list[tuple[int, str, str]]) -> FakeRunner:
        self.script.append((prefix, list(answers)))
        return self

    def call(self, *prefix: str, answer: Callable[[list[str]], tuple[int, str, str]]) -> FakeRunner:
        self.script.append((prefix, answer))
        return self

    def __call__(self, argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        argv = list(argv)
        self.calls.append(argv)
        self.timeouts.append(timeout)
        for prefix, answer in self.script:
            if tuple(argv[: len(prefix)]) == prefix:
                if isinstance(answer, list):
                    rc, out, err = answer.pop(0) if len(answer) > 1 else answer[0]
                elif callable(answer):
                    rc, out, err = answer(argv)
                else:
                    rc, out, err = answer  # type: ignore[misc]
                return subprocess.CompletedProcess(argv, rc, out, err)
        return subprocess.CompletedProcess(argv, 0, "", "")

    def commands(self, *prefix: str) -> list[list[str]]:
        return [argv for argv in self.calls if tuple(argv[: len(prefix)]) == prefix]
