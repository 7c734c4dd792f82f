"""Nothing of a run outlives it on the cluster: not after Ctrl-C, not after SIGKILL plus the next start.

The run under test is a second pytest session on the same local cluster (it
uses the running one, as ``etcd-chaos cluster up`` would leave it), so its
scenario namespace can be watched from here.
"""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clusters.kube import owner
from clusters.kube.cluster import DRY_RUN_PREFIX, sweep

pytestmark = pytest.mark.chaos


def _namespaces(kube_backend) -> dict[str, dict]:
    api = kube_backend.api
    listed = api.raw(api.core.list_namespace, label_selector=f"{owner.LABEL}={owner.MANAGER}")
    return {ns["metadata"]["name"]: ns for ns in listed["items"]}


def _start_chaos_run(kube_backend, tmp_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    before = set(_namespaces(kube_backend))
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-m", "chaos", "--strategy", "static-dns", "--fault", "inplace-restart",
         "--report-dir", str(tmp_path / "report"), "-p", "no:cacheprovider", "tests/chaos/test_matrix.py"],
        cwd=Path(__file__).parents[2],
        stdout=(tmp_path / "run.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    # Its own namespace, by the owner it names: tests side by side make namespaces of their own meanwhile.
    mine = f"/{proc.pid}/"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        new = {
            name for name, ns in _namespaces(kube_backend).items()
            if name not in before and not name.startswith(DRY_RUN_PREFIX)
            and mine in ns["metadata"].get("annotations", {}).get(owner.ANNOTATION, "")
        }
        if new:
            return proc, new.pop()
        time.sleep(0.2)
    proc.kill()
    pytest.fail("the chaos run made no namespace within 60 s")


def _gone(kube_backend, namespace: str, timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if namespace not in _namespaces(kube_backend):
            return True
        time.sleep(0.5)
    return False


def test_ctrl_c_leaves_nothing(kube_backend, tmp_path: Path) -> None:
    proc, namespace = _start_chaos_run(kube_backend, tmp_path)
    time.sleep(2.0)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=150)
    said = (tmp_path / "run.log").read_text(errors="replace").strip().splitlines()[-15:]
    assert namespace not in _namespaces(kube_backend), (
        "the interrupted run waits until its namespace is gone; its last lines:\n" + "\n".join(said)
    )


def test_killed_run_is_swept_at_next_start(kube_backend, tmp_path: Path) -> None:
    proc, namespace = _start_chaos_run(kube_backend, tmp_path)
    proc.kill()
    proc.wait(timeout=10)
    left = _namespaces(kube_backend)[namespace]
    assert owner.is_dead(left["metadata"]["annotations"][owner.ANNOTATION])
    assert namespace in sweep(kube_backend.api)
    assert _gone(kube_backend, namespace)
