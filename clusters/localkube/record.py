"""What ``cluster up`` started and changed on the machine, written down as it goes.

``cluster down`` may run in another process, after Ctrl-C or after a crash
half-way through ``up``; it undoes exactly what the record lists and nothing
else. Every process is known by PID and kernel start time, so a PID that has
since been reused by someone else's process is left alone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from clusters import filelock
from clusters.localkube.host import kill_recorded, start_time

LOCK_WAIT = 30.0  # a change holds the lock for a file write, or for a node's kills
NODE_PROCESSES = ("kubelet-", "containerd-")  # name prefixes of what a node fault stops and starts again


@dataclass
class Started:
    name: str
    pid: int
    start: int | None

    def alive(self) -> bool:
        return self.start is not None and start_time(self.pid) == self.start


@dataclass
class Record:
    path: Path
    nodes: int = 0
    processes: list[Started] = field(default_factory=list)
    links: list[str] = field(default_factory=list)  # made by up itself: the bridges and the dummy link
    cgroups: list[str] = field(default_factory=list)  # cgroupRoots, one per node, in every hierarchy
    sysctls: dict[str, str] = field(default_factory=dict)  # /proc/sys path -> the value before up
    # The test session that started it and takes it down at its end (xdist's run id); None: `cluster up`'s, left running.
    session: str | None = None
    images: list[str] = field(default_factory=list)  # what every node's containerd holds: imported at up, or by attach

    def save(self) -> None:
        data = asdict(self)
        data.pop("path")
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(data, indent=1))
        partial.rename(self.path)

    @classmethod
    def load(cls, path: Path) -> Record | None:
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        data["processes"] = [Started(**p) for p in data["processes"]]
        return cls(path, **data)

    def start(self, name: str, argv: list[str], log: Path, env: dict[str, str] | None = None) -> Started:
        """Start a component in its own session, its output in ``log``, and record it before anything else."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            process = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
            )
        started = Started(name, process.pid, start_time(process.pid))
        with changing(self.path) as now:
            if now is None:  # taken down while it started: nothing may outlive the record that would list it
                kill_recorded(process.pid, started.start, signal.SIGKILL)
                process.wait()
                raise FileNotFoundError(f"{self.path}: the local cluster was taken down while {name} started")
            now.processes.append(started)
            self.processes = list(now.processes)
        return started

    def control_plane(self) -> list[Started]:
        """What no node fault stops: a cluster whose control plane runs is up, whatever its nodes are doing."""
        return [p for p in self.processes if not p.name.startswith(NODE_PROCESSES)]

    def find(self, name: str) -> Started | None:
        return next((p for p in self.processes if p.name == name), None)

    def stop(self, names: list[str], grace: float) -> None:
        """SIGTERM to all at once, SIGKILL to those still there after ``grace`` s; return once all are gone."""
        processes = [p for p in self.processes if p.name in names and p.alive()]
        for process in processes:
            kill_recorded(process.pid, process.start, signal.SIGTERM)
        for sig, wait in ((signal.SIGKILL, grace), (None, 5.0)):
            deadline = time.monotonic() + wait
            while any(p.alive() for p in processes) and time.monotonic() < deadline:
                for process in processes:
                    _reap(process.pid)
                time.sleep(0.05)
            for process in processes:
                if sig is not None and process.alive():
                    kill_recorded(process.pid, process.start, sig)
                _reap(process.pid)

    def set_sysctl(self, name: str, value: str, at_least: bool = False) -> None:
        """Set a sysctl (or, ``at_least``, raise a number that is lower), keeping the value before for ``down``."""
        path = Path("/proc/sys") / name.replace(".", "/")
        before = path.read_text().strip()
        if before != value and not (at_least and int(before) >= int(value)):
            self.sysctls.setdefault(str(path), before)
            self.save()
            path.write_text(value)


def _reap(pid: int) -> None:
    """Collect our own child's exit status, so it does not linger as a zombie that looks alive."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


@contextmanager
def changing(path: Path) -> Iterator[Record | None]:
    """The record as it is now (None when there is none), saved again after the block, no other change meanwhile.

    Processes side by side change it: a node fault in one worker removes
    its node's kubelet and containerd while another's brings its node back,
    and a run that attaches adds images. Each change is made to the record
    as read under the lock, so that none is lost to another's older copy (a
    dead process left listed, a live one forgotten).
    """
    with filelock.held(path.with_name("record.lock"), filelock.EXCLUSIVE, LOCK_WAIT, "the local cluster's record"):
        record = Record.load(path)
        yield record
        if record is not None:
            record.save()
