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

from clusters.kube.driver import DriverError, NodeDriver
from clusters.localkube import host
from clusters.localkube import node as nodes
from clusters.localkube.build import Toolset
from clusters.localkube.layout import Layout, Node
from clusters.localkube.record import Record

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
        runtime_id = container_id.split("://", 1)[-1]
        pid = int(self._crictl_json(node, "inspect", "-o", "json", runtime_id).get("info", {}).get("pid") or 0)
        if pid <= 0:
            raise DriverError(f"container {runtime_id[:13]} on {node} runs no process")
        return pid

    def signal(self, node: str, container_id: str, sig: int, process: str | None = None) -> None:
        main = self.container_pid(node, container_id)
        targets = [main] if process is None else [p for p in _same_pid_namespace(main) if _executable(p) == process]
        if not targets:
            raise DriverError(f"no {process} process in container {container_id.split('://', 1)[-1][:13]} on {node}")
        for pid in targets:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                raise DriverError(f"process {pid} on {node} exited before {signal.Signals(sig).name}") from None

    def freeze(self, node: str, container_id: str) -> None:
        for pid in _same_pid_namespace(self.container_pid(node, container_id)):
            try:
                os.kill(pid, signal.SIGSTOP)
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
        listed = self._crictl_json(node, "pods", "-o", "json", "--state", "ready", "--label", f"io.kubernetes.pod.uid={pod_uid}")
        sandboxes = listed.get("items") or []
        if len(sandboxes) != 1:
            raise DriverError(f"pod {pod_uid[:8]} has {len(sandboxes)} ready sandboxes on {node}")
        pid = int(self._crictl_json(node, "inspectp", "-o", "json", sandboxes[0]["id"]).get("info", {}).get("pid") or 0)
        if pid <= 0 or os.readlink(f"/proc/{pid}/ns/net") == os.readlink("/proc/self/ns/net"):
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
        record = Record.load(self.root.record)
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
        record.save()

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
        if os.geteuid() != 0:
            return f"{capability} on the local cluster needs root: it acts on the node's containers from this machine"
        if capability == "network-delay":
            return _netem_missing()
        if capability == "network-cut" and shutil.which("nft") is None:
            return "network-cut needs nft on this machine (Debian's nftables package)"
        return None


def _same_pid_namespace(pid: int) -> list[int]:
    """Every process sharing ``pid``'s PID namespace: the container's processes, ``pid`` first."""
    try:
        namespace = os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return []
    if namespace == os.readlink("/proc/self/ns/pid"):
        return [pid]  # a pod in the host's PID namespace: only its main process is its own
    found = [pid]
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != pid:
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") == namespace:
                    found.append(int(entry))
            except OSError:
                continue
    return found


def _executable(pid: int) -> str:
    try:
        return os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return ""


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
