"""Finding and running the offline linters the workflow and cluster-file tests use.

The linters (check-jsonschema, zizmor, actionlint, shellcheck, hadolint) come with the
``lint`` extra, not with the package: a test whose tool is absent skips with
one line naming it, so the rest of the unit tests run without the extra.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def tool(name: str) -> str:
    """The linter's path: beside this Python first (an unactivated venv's bin), then on PATH; else skip."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[lint]')")
    return found


def run(args: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run a linter to its end, its output kept for the assertion's message; no linter here needs the network."""
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def output(result: subprocess.CompletedProcess[str]) -> str:
    """Both streams, since the tools differ in which one carries their findings."""
    return result.stdout + result.stderr
