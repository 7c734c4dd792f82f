"""Host-side plumbing: commands, the pod bridge, process identity.

Every process the backend starts is recorded by PID *and* start time, so a
later run can end exactly the processes an earlier, killed run left behind and
nothing else (a PID alone may have been reused).
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
from pathlib import Path

REQUIRED_TOOLS = ("ip", "nsenter", "unshare", "setpriv", "chroot", "mount")


class HostError(RuntimeError):
    """The machine cannot run the local backend; the message says what to do."""


def check_host() -> None:
    """Fail early, in one line, when privileges or tools are missing."""
    if os.geteuid() != 0:
        raise HostError(
            "the local backend needs root (it creates network namespaces, a bridge and mounts): "
            "run pytest as root, e.g. `sudo -E env PATH=$PATH pytest -m chaos`"
        )
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        raise HostError(f"the local backend needs {', '.join(missing)} on PATH: install iproute2 and util-linux")


def run(*argv: str, check: bool = True, timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
    """Run a short host command; raise with its stderr when ``check`` and it fails."""
    done = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise HostError(f"{' '.join(argv)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done


def start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


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


def free_subnet(seed: int) -> ipaddress.IPv4Network:
    """A /24 inside 10.213.0.0/16 that no local address or route overlaps."""
    taken = routed_networks()
    for i in range(256):
        candidate = ipaddress.ip_network(f"10.213.{(seed + i) % 256}.0/24")
        if not any(candidate.overlaps(net) for net in taken):
            return candidate
    raise HostError("no free /24 left in 10.213.0.0/16 for the pod network; remove stale bridges")


class Bridge:
    """The pod network of one cluster: a bridge on the host with the first address."""

    def __init__(self, name: str, subnet: ipaddress.IPv4Network) -> None:
        self.name = name
        self.subnet = subnet
        self.gateway = str(subnet.network_address + 1)
        self._next = 2
        self._in_use: set[str] = set()
        run("ip", "link", "add", name, "type", "bridge")
        run("ip", "addr", "add", f"{self.gateway}/{subnet.prefixlen}", "dev", name)
        run("ip", "link", "set", name, "up")

    def allocate(self) -> str:
        """A fresh address: each new pod object gets one it did not have before."""
        for _ in range(self.subnet.num_addresses):
            candidate = str(self.subnet.network_address + self._next)
            self._next = self._next + 1 if self._next < self.subnet.num_addresses - 2 else 2
            if candidate not in self._in_use:
                self._in_use.add(candidate)
                return candidate
        raise HostError(f"pod network {self.subnet} is full")

    def release(self, ip: str) -> None:
        self._in_use.discard(ip)

    def delete(self) -> None:
        run("ip", "link", "del", self.name, check=False)
