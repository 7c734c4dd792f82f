"""Nothing of a run outlives it: not after Ctrl-C, not after SIGKILL plus the next start."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clusters.local import host, leftovers

pytestmark = pytest.mark.chaos


def _run_dirs() -> set[Path]:
    return {p.parent for p in leftovers.BASE_DIR.glob("*/owner.json")}


def _bridges() -> set[str]:
    out = host.run("ip", "-o", "link", "show", "type", "bridge").stdout
    return {line.split(": ")[1].split("@")[0] for line in out.splitlines() if ": ecb" in line}


def _pods_of(run_dir: Path) -> list[int]:
    """PIDs of processes whose root is inside this run's pods (the containers)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if str(os.readlink(proc / "root")).startswith(str(run_dir)):
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def _start_chaos_run(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    before = _run_dirs()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-m", "chaos", "--strategy", "static-dns", "--fault", "inplace-restart",
         "--report-dir", str(tmp_path / "report"), "-p", "no:cacheprovider", "tests/chaos/test_matrix.py"],
        cwd=Path(__file__).parents[2],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        new = _run_dirs() - before
        if new and _pods_of(next(iter(new))):
            return proc, next(iter(new))
        time.sleep(0.1)
    proc.kill()
    pytest.fail("the chaos run did not start its pods within 60 s")


def _wait_gone(run_dir: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (_pods_of(run_dir) or run_dir.exists()):
        time.sleep(0.1)


def test_ctrl_c_leaves_nothing(tmp_path: Path) -> None:
    proc, run_dir = _start_chaos_run(tmp_path)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    _wait_gone(run_dir)
    assert _pods_of(run_dir) == []
    assert not run_dir.exists()
    assert f"ecb{run_dir.name}" not in _bridges()


def test_killed_run_is_swept_at_next_start(tmp_path: Path) -> None:
    proc, run_dir = _start_chaos_run(tmp_path)
    proc.kill()
    proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _pods_of(run_dir):
        time.sleep(0.1)
    assert _pods_of(run_dir) == [], "pods must die with the harness (parent-death signal)"
    assert run_dir.exists() and f"ecb{run_dir.name}" in _bridges(), "a killed run leaves its bridge and files"
    removed = leftovers.sweep()
    assert any(str(run_dir) in entry for entry in removed)
    assert not run_dir.exists()
    assert f"ecb{run_dir.name}" not in _bridges()
