"""Network latency for one pod, with ``tc netem`` on the pod's own interface.

Kernels without the sch_netem module cannot delay packets at all; the fault is
then skipped with the reason, since any imitation (sleeping in a proxy, say)
would test something other than a slow network.
"""

from __future__ import annotations

import subprocess

from clusters.local import host

TIMEOUT = 10.0
POD_INTERFACE = "eth0"


def check_available() -> str | None:
    """None if netem works here, else one line saying why not; probed in a throwaway namespace."""
    probe = "ip link set lo up && tc qdisc add dev lo root netem delay 1ms"
    try:
        done = host.run("unshare", "--net", "sh", "-c", probe, check=False, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"network latency is unavailable: probing tc netem took over {TIMEOUT:.0f} s"
    if done.returncode != 0:
        reason = (done.stderr.strip() or f"exit code {done.returncode}").splitlines()[0]
        return f"network latency needs tc netem (kernel module sch_netem), which failed here: {reason}"
    return None


def delay(pause_pid: int, milliseconds: int) -> None:
    """Delay every packet the pod sends by ``milliseconds``, peers and clients alike."""
    _tc(pause_pid, "replace", "dev", POD_INTERFACE, "root", "netem", "delay", f"{milliseconds}ms")


def restore(pause_pid: int) -> None:
    _tc(pause_pid, "del", "dev", POD_INTERFACE, "root", check=False)


def _tc(pause_pid: int, *args: str, check: bool = True) -> None:
    host.run("nsenter", "-t", str(pause_pid), "-n", "tc", "qdisc", *args, check=check, timeout=TIMEOUT)
