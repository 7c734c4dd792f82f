"""Commands and process identity on this machine, for the local cluster.

Every process the local cluster starts is recorded by PID *and* start time, so
a later run can end exactly the processes an earlier, killed run left behind
and nothing else (a PID alone may have been reused).
"""

from __future__ import annotations

import ipaddress
import os
import subprocess

from clusters.kube.owner import start_time


class HostError(RuntimeError):
    """A command on this machine failed; the message quotes it and its error."""


def run(*argv: str, check: bool = True, timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
    """Run a short host command; raise with its stderr when ``check`` and it fails."""
    done = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise HostError(f"{' '.join(argv)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done


def kill_recorded(pid: int, started: int | None, sig: int) -> None:
    """Signal ``pid`` only if it is still the very process that was recorded."""
    if started is not None and start_time(pid) == started:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def routed_networks() -> list[ipaddress.IPv4Network]:
    out = run("ip", "-4", "-o", "addr", "show").stdout
    nets = []
    for line in out.splitlines():
        parts = line.split()
        if "inet" in parts:
            nets.append(ipaddress.ip_interface(parts[parts.index("inet") + 1]).network)
    out = run("ip", "-4", "route", "show", "table", "all").stdout
    for line in out.splitlines():
        first = line.split()[0] if line.split() else ""
        if first and first[0].isdigit():
            try:
                nets.append(ipaddress.ip_network(first, strict=False))
            except ValueError:
                continue
    return nets
