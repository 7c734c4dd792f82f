"""What the machine must offer before a local cluster starts, each lack named with its fix.

Checked all at once, before anything is started or changed, so a user sees
every problem in one go and nothing is left half-made by a start that was
bound to fail.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
from pathlib import Path

from clusters.localkube.host import routed_networks
from clusters.localkube import layout
from clusters.localkube.layout import Layout
from clusters.localkube.record import Record

TOOLS = {
    "ip": "apt-get install -y iproute2",
    "mount": "apt-get install -y mount",
    "umount": "apt-get install -y mount",
    "nft": "apt-get install -y nftables",
}


def ports(root: Layout) -> list[int]:
    fixed = [layout.API_PORT, layout.ETCD_CLIENT_PORT, layout.ETCD_PEER_PORT, 10249, 10256, 10257, 10259]
    return fixed + [port for node in root.nodes for port in (node.kubelet_port, node.healthz_port)]


def _port_taken(port: int) -> bool:
    """Binding the wildcard address fails if anything listens on the port at any address.

    With SO_REUSEADDR, as the servers themselves bind: connections of an
    earlier cluster still in TIME_WAIT do not keep a new one from starting.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))
        except OSError as error:
            return error.errno == errno.EADDRINUSE
    return False


def problems(root: Layout) -> list[str]:
    """Every reason ``up`` would fail here; empty when it can start."""
    found = []
    if os.geteuid() != 0:
        found.append("needs root (it makes bridges, cgroups and mounts): run it with sudo -E")
    for tool, fix in TOOLS.items():
        if shutil.which(tool) is None:
            found.append(f"no {tool} on PATH: {fix}")
    if not Path("/sys/fs/cgroup").is_dir():
        found.append("no cgroup file system at /sys/fs/cgroup")
    if not os.access("/proc/sys/net/ipv4/ip_forward", os.W_OK):
        found.append("cannot set net.ipv4.ip_forward (pods on different nodes talk through this machine)")
    record = Record.load(root.record)
    if record is not None:
        found.append(f"a cluster is already up ({root.root}): etcd-chaos cluster down")
        return found
    if shutil.which("ip") is not None:
        for net in routed_networks():
            for ours in (layout.CLUSTER_CIDR, layout.SERVICE_CIDR):
                if ours.overlaps(net):
                    found.append(f"this machine already routes {net}, inside the cluster's {ours}: remove that route or interface")
    taken = [p for p in ports(root) if _port_taken(p)]
    if taken:
        found.append(f"ports in use: {', '.join(map(str, taken))} (`ss -ltnp` shows by whom)")
    return found
