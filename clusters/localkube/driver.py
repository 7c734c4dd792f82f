"""The node driver of the local cluster: every node's containers are processes of this machine.

A container's main process is found through the node's own containerd
(``crictl inspect``) and signalled from here, in the host's PID namespace,
which is what a kill from inside the pod cannot do to its PID 1. The pod's
network namespace is its sandbox's (``crictl inspectp``), entered with
nsenter. Volumes are directories under the cluster's state directory, and
nothing outside it is ever emptied.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import socket
import time
from pathlib import Path

from clusters.kube import cri
from clusters.kube.driver import DriverError, NodeDriver
from clusters.localkube import host
from clusters.localkube import node as nodes
from clusters.localkube.build import Toolset
from clusters.localkube.layout import Layout, Node
from clusters.localkube.record import Record, changing

NETNS_TIMEOUT = 10.0
NODE_START = 30.0


class LocalNodeDriver(NodeDriver):
    def __init__(self, tools: Toolset, root: Layout) -> None:
        self.tools = tools
        self.root = root

    def _node(self, name: str) -> Node:
        for each in self.root.nodes:
            if each.name == name:
                return each
        raise DriverError(f"no node {name} in the local cluster")

    def _crictl_json(self, node: str, *args: str) -> dict:
        done = nodes.crictl(self.tools, self._node(node), *args)
        if done.returncode != 0:
            raise DriverError(f"crictl {' '.join(args)} on {node}: {done.stderr.strip() or done.stdout.strip()}")
        return json.loads(done.stdout)

    def container_pid(self, node: str, container_id: str) -> int:
        inspected = self._crictl_json(node, *cri.inspect_args(container_id))
        return cri.process_id(inspected, f"container {cri.runtime_id(container_id)[:13]} on {node}")

    def signal(self, node: str, container_id: str, sig: int, process: str | None = None) -> None:
        main = self.container_pid(node, container_id)
        targets = [main] if process is None else cri.named(main, _processes(), _own_pid_namespace(), process)
        if not targets:
            raise DriverError(f"no {process} process in container {cri.runtime_id(container_id)[:13]} on {node}")
        for pid in targets:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                raise DriverError(f"process {pid} on {node} exited before {signal.Signals(sig).name}") from None

    def freeze(self, node: str, container_id: str) -> None:
        main = self.container_pid(node, container_id)
        for each in cri.container_processes(main, _processes(), _own_pid_namespace()):
            try:
                os.kill(each.pid, signal.SIGSTOP)
            except ProcessLookupError:
                continue

    def wipe(self, node: str, path: str) -> None:
        directory = Path(path).resolve()
        if self.root.root.resolve() not in directory.parents:
            raise DriverError(f"refusing to empty {directory}: it is outside the local cluster's {self.root.root}")
        for entry in directory.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()

    def pod_volume_dir(self, node: str, pod_uid: str, plugin: str, volume: str) -> str:
        return str(self._node(node).root / "kubelet" / "pods" / pod_uid / "volumes" / plugin / volume)

    def sandbox_pid(self, node: str, pod_uid: str) -> int:
        """The pod sandbox's process, whose network namespace is the pod's; never one of this machine's own."""
        sandbox = cri.one_sandbox(self._crictl_json(node, *cri.sandboxes_args(pod_uid)), pod_uid, node)
        pid = cri.process_id(self._crictl_json(node, *cri.inspectp_args(sandbox)), f"pod {pod_uid[:8]}'s sandbox on {node}")
        if os.readlink(f"/proc/{pid}/ns/net") == os.readlink("/proc/self/ns/net"):
            raise DriverError(f"pod {pod_uid[:8]} on {node}: no network namespace of its own to act in")
        return pid

    def in_pod_network(self, node: str, pod_uid: str, argv: list[str]) -> None:
        pid = self.sandbox_pid(node, pod_uid)
        done = host.run("nsenter", "-t", str(pid), "-n", *argv, check=False, timeout=NETNS_TIMEOUT)
        if done.returncode != 0:
            raise DriverError(f"{argv[0]} in pod {pod_uid[:8]} on {node}: {done.stderr.strip() or done.stdout.strip()}")

    def node_down(self, node: str) -> None:
        """SIGKILL the node's kubelet, containerd, shims and containers in one sweep; the record forgets the first two.

        A shim is the node's when its ``-address`` is the node's containerd
        socket; a container's process when it is in the node's cgroup root.
        """
        each = self._node(node)
        with changing(self.root.record) as record:
            if record is None:
                raise DriverError("the local cluster has no record: is it up?")
            mine = [p for p in record.processes if p.name in (f"kubelet-{node}", f"containerd-{node}")]
            victims = [p.pid for p in mine if p.alive()] + _shims(each) + _cgroup_pids(each)
            for pid in victims:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    continue
            record.processes = [p for p in record.processes if p not in mine]

    def node_up(self, node: str) -> None:
        each = self._node(node)
        record = Record.load(self.root.record)
        if record is None:
            raise DriverError("the local cluster has no record: is it up?")
        nodes.start_containerd(each, self.root, self.tools, record)
        deadline = time.monotonic() + NODE_START
        while not _answers(each.containerd_socket):
            if time.monotonic() >= deadline:
                raise DriverError(f"containerd of {node} did not come back within {NODE_START:.0f} s")
            time.sleep(0.1)
        nodes.start_kubelet(each, self.root, self.tools, record)

    def missing(self, capability: str) -> str | None:
        if capability == "dns-cache":  # addons/coredns.yaml: ttl 5, cache 5
            return (
                "CoreDNS answers a pod's new address as soon as its EndpointSlice changes and caches an answer no "
                "longer than its TTL (5 s): there is no old answer to hold"
            )
        if os.geteuid() != 0:
            return f"{capability} on the local cluster needs root: it acts on the node's containers from this machine"
        if capability == "network-delay":
            return _netem_missing()
        if capability == "network-cut" and shutil.which("nft") is None:
            return "network-cut needs nft on this machine (Debian's nftables package)"
        return None


def _own_pid_namespace() -> str:
    """The nodes' PID namespace: the local nodes' containers are children of this machine's."""
    return os.readlink("/proc/self/ns/pid")


def _processes() -> list[cri.Process]:
    """This machine's processes, each with its PID namespace and executable (what ``cri`` chooses from)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                namespace = os.readlink(f"/proc/{entry}/ns/pid")
            except OSError:
                continue  # exited meanwhile
            try:
                executable = os.path.basename(os.readlink(f"/proc/{entry}/exe"))
            except OSError:
                executable = ""
            found.append(cri.Process(int(entry), namespace, executable))
    return found


def _shims(node: Node) -> list[int]:
    needle = f"-address\0{node.containerd_socket}\0".encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if needle in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
            except OSError:
                continue
    return found


def _cgroup_pids(node: Node) -> list[int]:
    found: set[int] = set()
    for hierarchy in nodes.cgroup_hierarchies():
        base = hierarchy / node.cgroup.strip("/")
        if base.is_dir():
            for procs in base.rglob("cgroup.procs"):
                try:
                    found.update(int(line) for line in procs.read_text().split())
                except OSError:
                    continue
    return sorted(found)


def _answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


@functools.cache
def _netem_missing() -> str | None:
    """Whether this kernel delays packets (tc netem), tried once in a throwaway network namespace."""
    probe = host.run("unshare", "--net", "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms",
                     check=False, timeout=NETNS_TIMEOUT)
    if probe.returncode == 0:
        return None
    why = (probe.stderr.strip() or probe.stdout.strip() or f"exit code {probe.returncode}").splitlines()[0]
    return f"network delay needs tc netem, which this kernel refuses ({why})"
