"""The node driver of kind: a node is a docker container running systemd, containerd and the kubelet.

Everything happens inside the node through ``docker exec``, in the node
container's own PID and network namespaces: the PID crictl reports there
(``info.pid``) is valid there and nowhere else, and the node's own crictl,
kill, find, nsenter, nft and tc do the work, so nothing is needed on this
machine but docker. Processes and sandboxes are found and chosen as the local
driver does (``clusters.kube.cri``). A node going down is its container
killed, systemd and everything under it at once, as at a power loss.

Only the containers of this kind cluster are ever acted on (docker's
``io.x-k8s.kind.cluster`` label names them), and only volume directories are
ever emptied.
"""

from __future__ import annotations

import json
import posixpath
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

from clusters.kind.routes import PodRoutes
from clusters.kind.run import Runner, command, run, why
from clusters.kube import cri
from clusters.kube.driver import DriverError, NodeDriver

CLUSTER_LABEL = "io.x-k8s.kind.cluster"
EXEC_TIMEOUT = 30.0
DOCKER_TIMEOUT = 60.0
NODE_START = 90.0  # docker start, systemd, containerd, the kubelet
POLL = 0.5
# local-path's volumes (kind's "standard" class) and the kubelet's (emptyDir): nothing else is a volume
VOLUME_ROOTS = ("/var/local-path-provisioner", "/var/lib/kubelet/pods")

# /proc/PID/exe and /proc/PID/ns/pid of every process of the node, one "path target" line each, and first
# find's own PID namespace, the node's (docker exec runs there); find reads the links itself (%l), so
# listing a node's processes is one command, not a fork per process.
PROCESS_TABLE = ("find /proc/self/ns/pid /proc/[0-9]*/exe /proc/[0-9]*/ns/pid -maxdepth 0 -printf '%p %l\\n' "
                 "2>/dev/null; true")

DNS_CACHE = (
    "CoreDNS in kind v0.33.0 (kubeadm's Corefile: `cache 30` with `disable success cluster.local` and "
    "`disable denial cluster.local`) caches no cluster.local answer and answers from its watch of the "
    "EndpointSlices: a pod's name resolves to its new address at once, so there is no stale answer to serve"
)


class KindNodeDriver(NodeDriver):
    def __init__(
        self, cluster: str, runner: Runner = run, routes: PodRoutes | None = None,
        clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.cluster = cluster
        self.runner = runner
        self.routes = routes
        self.clock = clock
        self.sleep = sleep
        self._nodes: frozenset[str] = frozenset()
        self._netem_probed = False
        self._netem_reason: str | None = None

    # --- commands -------------------------------------------------------------

    def nodes(self) -> frozenset[str]:
        """This cluster's node containers, named as its Kubernetes nodes are; asked of docker until there are some."""
        if not self._nodes:
            argv = ["docker", "ps", "-a", "--filter", f"label={CLUSTER_LABEL}={self.cluster}", "--format", "{{.Names}}"]
            done = self.runner(argv, DOCKER_TIMEOUT)
            if done.returncode != 0:
                raise DriverError(f"`{command(argv)}` failed: {why(done)}")
            self._nodes = frozenset(done.stdout.split())
        return self._nodes

    def _node(self, node: str) -> str:
        if node not in self.nodes():
            raise DriverError(f"no node {node} in the kind cluster {self.cluster}")
        return node

    def _exec(self, node: str, *argv: str, timeout: float = EXEC_TIMEOUT) -> subprocess.CompletedProcess[str]:
        return self.runner(["docker", "exec", self._node(node), *argv], timeout)

    def _checked(self, node: str, *argv: str) -> str:
        done = self._exec(node, *argv)
        if done.returncode != 0:
            raise DriverError(f"{command(argv)} on {node}: {why(done)}")
        return done.stdout

    def _crictl_json(self, node: str, *args: str) -> dict[str, Any]:
        return json.loads(self._checked(node, "crictl", *args))

    # --- processes ------------------------------------------------------------

    def container_pid(self, node: str, container_id: str) -> int:
        inspected = self._crictl_json(node, *cri.inspect_args(container_id))
        return cri.process_id(inspected, f"container {cri.runtime_id(container_id)[:13]} on {node}")

    def processes(self, node: str) -> tuple[list[cri.Process], str]:
        """The node's processes, and its own PID namespace: what ``cri`` chooses a container's processes from."""
        links: dict[str, dict[str, str]] = {}
        for line in self._checked(node, "sh", "-c", PROCESS_TABLE).splitlines():
            path, _, target = line.partition(" ")
            parts = path.split("/")  # ['', 'proc', PID or 'self', 'exe'] or [..., 'ns', 'pid']
            if len(parts) >= 4 and target:
                links.setdefault(parts[2], {})[parts[-1]] = target
        own = links.pop("self", {}).get("pid")
        if not own:
            raise DriverError(f"{node}: its processes could not be listed")
        table = [cri.Process(int(pid), got["pid"], posixpath.basename(got.get("exe", "")))
                 for pid, got in links.items() if pid.isdigit() and "pid" in got]
        return table, own

    def _kill(self, node: str, sig: int, pids: list[int]) -> subprocess.CompletedProcess[str]:
        return self._exec(node, "kill", f"-{int(sig)}", *map(str, pids))

    def signal(self, node: str, container_id: str, sig: int, process: str | None = None) -> None:
        main = self.container_pid(node, container_id)
        targets = [main] if process is None else cri.named(main, *self.processes(node), process)
        if not targets:
            raise DriverError(f"no {process} process in container {cri.runtime_id(container_id)[:13]} on {node}")
        done = self._kill(node, sig, targets)
        if done.returncode != 0:
            raise DriverError(f"process {' '.join(map(str, targets))} on {node} exited before "
                              f"{signal.Signals(sig).name} ({why(done)})")

    def freeze(self, node: str, container_id: str) -> None:
        """SIGSTOP to every process of the container; one that exited meanwhile writes nothing either."""
        main = self.container_pid(node, container_id)
        pids = [p.pid for p in cri.container_processes(main, *self.processes(node))]
        done = self._kill(node, signal.SIGSTOP, pids) if pids else None
        if done is not None and done.returncode != 0:
            other = [line for line in done.stderr.splitlines() if line.strip() and "No such process" not in line]
            if other:
                raise DriverError(f"SIGSTOP to container {cri.runtime_id(container_id)[:13]} on {node}: {other[0]}")

    # --- volumes --------------------------------------------------------------

    def wipe(self, node: str, path: str) -> None:
        """Empty a volume directory inside the node, keeping it; find does not follow a symlinked one."""
        directory = posixpath.normpath(path)
        if not any(directory.startswith(root + "/") for root in VOLUME_ROOTS):
            raise DriverError(f"refusing to empty {path} on {node}: it is under neither of {', '.join(VOLUME_ROOTS)}")
        self._checked(node, "find", directory, "-mindepth", "1", "-maxdepth", "1", "-exec", "rm", "-rf", "--", "{}", "+")

    def pod_volume_dir(self, node: str, pod_uid: str, plugin: str, volume: str) -> str:
        return posixpath.join("/var/lib/kubelet/pods", pod_uid, "volumes", plugin, volume)

    # --- networks -------------------------------------------------------------

    def sandbox_pid(self, node: str, pod_uid: str) -> int:
        """The pod sandbox's process, whose network namespace is the pod's; never the node's own."""
        sandbox = cri.one_sandbox(self._crictl_json(node, *cri.sandboxes_args(pod_uid)), pod_uid, node)
        pid = cri.process_id(self._crictl_json(node, *cri.inspectp_args(sandbox)), f"pod {pod_uid[:8]}'s sandbox on {node}")
        namespaces = self._checked(node, "readlink", f"/proc/{pid}/ns/net", "/proc/self/ns/net").split()
        if len(namespaces) != 2 or namespaces[0] == namespaces[1]:
            raise DriverError(f"pod {pod_uid[:8]} on {node}: no network namespace of its own to act in")
        return pid

    def in_pod_network(self, node: str, pod_uid: str, argv: list[str]) -> None:
        pid = self.sandbox_pid(node, pod_uid)
        done = self._exec(node, "nsenter", "-t", str(pid), "-n", *argv)
        if done.returncode != 0:
            raise DriverError(f"{argv[0]} in pod {pod_uid[:8]} on {node}: {why(done)}")

    # --- nodes ----------------------------------------------------------------

    def node_down(self, node: str) -> None:
        """SIGKILL to the node container: systemd, containerd, the kubelet and every pod die in the same instant.

        docker counts a kill as a manual stop, so the node's restart policy
        (kind's ``on-failure:1``) does not bring it back by itself.
        """
        argv = ["docker", "kill", "--signal", "KILL", self._node(node)]
        done = self.runner(argv, DOCKER_TIMEOUT)
        if done.returncode != 0:
            raise DriverError(f"`{command(argv)}` failed: {why(done)}")

    def node_up(self, node: str) -> None:
        """Start the container again and wait until its kubelet runs; the node's readiness is the caller's to wait for.

        The host route to its pods follows it if docker gave it another address.
        """
        argv = ["docker", "start", self._node(node)]
        done = self.runner(argv, DOCKER_TIMEOUT)
        if done.returncode != 0:
            raise DriverError(f"`{command(argv)}` failed: {why(done)}")
        deadline = self.clock() + NODE_START
        while self._exec(node, "systemctl", "is-active", "kubelet").stdout.strip() != "active":
            if self.clock() >= deadline:
                raise DriverError(f"the kubelet of {node} was not running {NODE_START:.0f} s after docker start")
            self.sleep(POLL)
        if self.routes is not None:
            self.routes.refresh(node, self.address(node))

    def address(self, node: str) -> str:
        """The node container's address on docker's network (kind's own network, ``kind``)."""
        argv = ["docker", "inspect", "--format", "{{json .NetworkSettings.Networks}}", self._node(node)]
        done = self.runner(argv, DOCKER_TIMEOUT)
        if done.returncode != 0:
            raise DriverError(f"`{command(argv)}` failed: {why(done)}")
        return network_address(json.loads(done.stdout), node)

    # --- capabilities ---------------------------------------------------------

    def missing(self, capability: str) -> str | None:
        if capability == "dns-cache":
            return DNS_CACHE
        if capability == "network-delay":
            return self._netem_missing()
        return None

    def _netem_missing(self) -> str | None:
        """Whether the kernel under the nodes delays packets (tc netem), tried once in a throwaway namespace of a node.

        The node image has tc; the sch_netem module is the machine's kernel's,
        which a hosted runner's may lack.
        """
        if not self._netem_probed:
            if not self.nodes():  # not remembered: the cluster may yet be made
                return f"network delay: the kind cluster {self.cluster} has no node to try tc netem in"
            probe = ["unshare", "--net", "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"]
            done = self._exec(min(self.nodes()), *probe)
            self._netem_probed = True
            self._netem_reason = None if done.returncode == 0 else (
                f"network delay needs tc netem, which the kernel under kind's nodes refuses ({why(done)})")
        return self._netem_reason


def network_address(networks: dict[str, Any], node: str) -> str:
    """The address on kind's network, else on the container's only network: docker inspect's ``NetworkSettings.Networks``."""
    chosen = networks.get("kind") or (next(iter(networks.values())) if len(networks) == 1 else None)
    address = (chosen or {}).get("IPAddress")
    if not address:
        raise DriverError(f"{node} has no address on docker's kind network (networks: {', '.join(networks) or 'none'})")
    return str(address)
