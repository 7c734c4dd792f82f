"""A file lock that holds across processes and ends with its holder, however that ends.

``flock`` is released by the kernel when the process that holds it exits,
killed outright or not, so no lock file ever needs cleaning up. Waiting polls
with a deadline rather than blocking, so no wait is unbounded.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

POLL = 0.2
SHARED, EXCLUSIVE = fcntl.LOCK_SH, fcntl.LOCK_EX


class LockTimeout(RuntimeError):
    """The lock did not come free before the deadline."""


def open_lock(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


def try_lock(fd: int, mode: int) -> bool:
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def wait(deadline: float, what: str) -> None:
    """One poll's pause, or LockTimeout once ``deadline`` (monotonic) has passed."""
    if time.monotonic() >= deadline:
        raise LockTimeout(f"{what} did not come free in time: another process holds it")
    time.sleep(POLL)


@contextmanager
def held(path: Path, mode: int, timeout: float, what: str) -> Iterator[None]:
    """``path`` locked in ``mode`` (SHARED or EXCLUSIVE) for the block."""
    deadline = time.monotonic() + timeout
    fd = open_lock(path)
    try:
        while not try_lock(fd, mode):
            wait(deadline, what)
        yield
    finally:
        os.close(fd)  # closing releases the lock
