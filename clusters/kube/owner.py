"""Which harness process a scenario namespace belongs to, so a killed run's namespaces can be swept.

A run that ends normally, or by Ctrl-C, deletes its namespaces itself. One
killed outright cannot: the next session on the same cluster deletes every
namespace whose owner was a process of this machine that no longer runs.
An owner is known by host, PID and the kernel's start time of that PID, since
a PID alone may since have been reused. Namespaces of other machines' runs
are never touched: their owners may well be alive.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

ANNOTATION = "etcd-chaos/owner"
LABEL = "app.kubernetes.io/managed-by"
MANAGER = "etcd-chaos"


def start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def this_process() -> str:
    return f"{socket.gethostname()}/{os.getpid()}/{start_time(os.getpid())}"


def is_dead(owner: str) -> bool:
    """True only for an owner of this machine whose process is gone (or is another process now)."""
    host, _, rest = owner.partition("/")
    pid, _, started = rest.partition("/")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    return str(start_time(int(pid))) != started


def namespace(name: str) -> dict:
    """The body of a namespace this process owns: labelled for the sweep, annotated with its owner."""
    return {"metadata": {"name": name, "labels": {LABEL: MANAGER}, "annotations": {ANNOTATION: this_process()}}}
