"""Which nodes a scenario's pods may use when scenarios run side by side.

Scenarios share one Kubernetes, each in its own namespace, so a pod fault
never reaches another scenario's pods. A node fault does: node-down takes
every pod of its node with it, node-drain cordons a node that the others
schedule onto. So the nodes are split into lanes the size of the cluster a
serial run has: lane 0 is shared by every scenario whose faults stay inside
its namespace, and each further lane holds one scenario with a node fault at
a time, alone, on as many nodes as the serial run gives it. With one lane (a
serial run, or a cluster too small to split) a scenario with a node fault
waits until no other scenario runs, and new ones wait for it, so that it is
never starved by a stream of others.

A lease is a file lock (``flock``): it holds across pytest-xdist's worker
processes and across separate sessions on the same cluster, and it ends with
the process that held it, even one killed outright.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from clusters import filelock

WAIT_LIMIT = 3600.0  # no scenario holds a lane this long; past it another process is stuck holding it


@dataclass(frozen=True)
class Lane:
    index: int
    nodes: tuple[str, ...]


def split(nodes: list[str], size: int) -> list[Lane]:
    """Lanes of ``size`` nodes in name order; nodes short of a whole lane join lane 0 (more room, same shape)."""
    names = sorted(nodes, key=_natural)
    count = max(1, len(names) // size)
    lanes = [list(names[i * size:(i + 1) * size]) for i in range(count)]
    lanes[0].extend(names[count * size:])
    return [Lane(i, tuple(group)) for i, group in enumerate(lanes)]


def _natural(name: str) -> tuple[str, int]:
    """node-2 before node-10."""
    stem = name.rstrip("0123456789")
    return stem, int(name[len(stem):] or -1)


def lock_dir(server: str) -> Path:
    """One directory of lock files per API server, so every process that runs scenarios on it agrees."""
    return Path(tempfile.gettempdir()) / "etcd-chaos-lanes" / hashlib.sha256(server.encode()).hexdigest()[:12]


class Leases:
    """The lanes of one cluster, leased through lock files in ``directory``."""

    def __init__(self, directory: Path, lanes: list[Lane]) -> None:
        self.directory = directory
        self.lanes = lanes

    @contextmanager
    def lease(self, alone: bool) -> Iterator[Lane | None]:
        """A lane for one scenario, held until the block ends; None: one lane only, the pods may go anywhere.

        ``alone``: the scenario has a node fault and must share its nodes
        with no other scenario.
        """
        if len(self.lanes) > 1 and not alone:
            yield self.lanes[0]
        elif len(self.lanes) > 1:
            with self._first_free(self.lanes[1:]) as lane:
                yield lane
        else:
            with ExitStack() as stack:
                # The turnstile lets one that must run alone, once it waits, stop new ones from starting.
                with self._held("turnstile", filelock.EXCLUSIVE):
                    stack.enter_context(self._held("lane-0", filelock.EXCLUSIVE if alone else filelock.SHARED))
                yield None

    @contextmanager
    def _first_free(self, lanes: list[Lane]) -> Iterator[Lane]:
        deadline = time.monotonic() + WAIT_LIMIT
        files = [filelock.open_lock(self.directory / f"lane-{lane.index}.lock") for lane in lanes]
        try:
            while True:
                free = next((lane for lane, fd in zip(lanes, files) if filelock.try_lock(fd, filelock.EXCLUSIVE)), None)
                if free is not None:
                    yield free
                    return
                filelock.wait(deadline, "a lane for a scenario with a node fault")
        finally:
            for fd in files:
                os.close(fd)

    def _held(self, name: str, mode: int) -> AbstractContextManager[None]:
        return filelock.held(self.directory / f"{name}.lock", mode, WAIT_LIMIT, f"lock {name}")
