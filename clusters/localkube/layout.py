"""Where a local cluster lives: its directories, addresses, names and ports.

One cluster per machine: the addresses are fixed so that every run, every
log and every kept report reads the same (node-1's pods are 10.244.2.x), and
``cluster up`` refuses, naming the clash, when the machine already routes one
of these ranges. All of it stays on this machine: the control plane listens on
loopback and on an address of its own dummy interface, pods on bridges the
cluster creates.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

CLUSTER_CIDR = ipaddress.ip_network("10.244.0.0/16")  # pods; node i gets 10.244.(i+1).0/24
SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/16")
API_SERVICE_IP = "10.96.0.1"  # the `kubernetes` Service: the first address of the range
DNS_SERVICE_IP = "10.96.0.10"  # kube-dns, as kubeadm and kind have it
CONTROL_PLANE_IP = "10.244.0.1"  # on the dummy interface; pods reach the API server here
CLUSTER_DOMAIN = "cluster.local"
API_PORT = 6443
ETCD_CLIENT_PORT = 2479  # the control plane's own etcd, on loopback; not a strategy's 2379
ETCD_PEER_PORT = 2480
KUBELET_PORT = 10250  # node i: 10250 + 10 i
MAX_NODES = 24
ZONES = ("zone-a", "zone-b", "zone-c")
PREFIX = "etcd-chaos"  # every link, cgroup and directory the cluster makes carries it


def state_dir() -> Path:
    """``$ETCD_CHAOS_STATE``, else /var/lib/etcd-chaos/cluster: kubelets mount and containerd unpacks here."""
    return Path(os.environ.get("ETCD_CHAOS_STATE") or "/var/lib/etcd-chaos/cluster")


@dataclass(frozen=True)
class Node:
    """One kubelet with its own containerd, CNI bridge and pod range."""

    index: int
    root: Path

    @property
    def name(self) -> str:
        return f"node-{self.index}"

    @property
    def zone(self) -> str:
        return ZONES[self.index % len(ZONES)]

    @property
    def pod_cidr(self) -> ipaddress.IPv4Network:
        return ipaddress.ip_network(f"10.244.{self.index + 1}.0/24")

    @property
    def ip(self) -> str:
        """The bridge's gateway address: the node's InternalIP, where its kubelet listens."""
        return str(self.pod_cidr.network_address + 1)

    @property
    def bridge(self) -> str:
        return f"ecbr{self.index}"

    @property
    def cgroup(self) -> str:
        """The kubelet's cgroupRoot: one per node, or two kubelets would manage each other's pods."""
        return f"/{PREFIX}-{self.name}"

    @property
    def kubelet_port(self) -> int:
        return KUBELET_PORT + 10 * self.index

    @property
    def healthz_port(self) -> int:
        return KUBELET_PORT - 2 + 10 * self.index

    @property
    def containerd_socket(self) -> Path:
        return self.root / "containerd" / "containerd.sock"

    @property
    def storage(self) -> Path:
        """Where the volume provisioner makes this node's volumes (a directory per claim)."""
        return self.root / "storage"

    @property
    def pod_logs(self) -> Path:
        """The kubelet's podLogsDir: one per node, since each kubelet's garbage collector removes the
        log directories of every pod it does not run, and so would cut another node's containers' logs."""
        return self.root / "pod-logs"


@dataclass(frozen=True)
class Layout:
    root: Path
    nodes: tuple[Node, ...]

    @classmethod
    def of(cls, nodes: int, root: Path | None = None) -> Layout:
        if not 1 <= nodes <= MAX_NODES:
            raise ValueError(f"--nodes {nodes}: give 1 to {MAX_NODES}")
        root = root or state_dir()
        return cls(root, tuple(Node(i, root / "nodes" / f"node-{i}") for i in range(nodes)))

    @property
    def dummy_link(self) -> str:
        return "ec-cp0"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def kubeconfig(self) -> Path:
        """The administrator's kubeconfig, what ``cluster up`` prints."""
        return self.root / "kubeconfig"

    @property
    def api_url(self) -> str:
        return f"https://{CONTROL_PLANE_IP}:{API_PORT}"

    @property
    def record(self) -> Path:
        """What ``up`` started and changed, so that ``down`` (perhaps another process) undoes exactly that."""
        return self.root / "record.json"
