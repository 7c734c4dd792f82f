"""Every command the kind backend runs (docker, kind, ip) goes through one runner, each with a time-out.

One runner means one place to replace in tests, which feed it answers and
read back the exact command lines; and no wait of the backend is unbounded:
a hung docker is a failed command after its time-out, not a hung session.
A program that is not there or that ran out of time comes back as a failed
command like any other, so callers check one thing, the exit code.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence

Runner = Callable[[Sequence[str], float], subprocess.CompletedProcess[str]]

NOT_FOUND = 127  # what a shell answers for a program it cannot find
TIMED_OUT = 124  # what timeout(1) answers


def run(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` without a shell, its output captured; never raises for the command's own failure."""
    try:
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        return subprocess.CompletedProcess(list(argv), NOT_FOUND, "", f"{argv[0]}: not found")
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(list(argv), TIMED_OUT, "", f"no answer within {timeout:.0f} s")


def why(done: subprocess.CompletedProcess[str]) -> str:
    """A failed command's reason in one line: its first ``ERROR``/``Error`` line, else its last words, else its exit code.

    kind and docker print progress before the error and hints after it
    (``errors pretty printing info``), so neither the first nor the last line
    is reliably the reason.
    """
    for stream in (done.stderr, done.stdout):
        lines = [line.strip() for line in (stream or "").splitlines() if line.strip()]
        if lines:
            return next((line for line in lines if line.lower().startswith("error")), lines[-1])
    return f"exit code {done.returncode}"


def command(argv: Sequence[str]) -> str:
    """``argv`` as a person would type it, for messages."""
    return " ".join(argv)


class KindError(RuntimeError):
    """A step of the kind backend that failed; the message names the command and its reason, and the fix if known."""
