"""One kind cluster for a test session: made from ``config.yaml``, or a running one reused and kept.

Then the strategy image is built with docker and loaded into every node
(``kind load``), so no registry is ever asked: the strategies leave
``imagePullPolicy`` at its default for a tagged image, IfNotPresent, which
does not pull an image the node has. This machine is then given a route to
each node's pod range (``routes.py``). What faults do on the nodes is
``driver.py``'s. Every command has a time-out, so no step of a start or an
end can hang the session.
"""

from __future__ import annotations

import ipaddress
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from clusters.kind import versions
from clusters.kind.driver import CLUSTER_LABEL, KindNodeDriver
from clusters.kind.routes import PodRoutes
from clusters.kind.run import KindError, Runner, command, run, why
from clusters.kube.cluster import CLUSTER_CIDR
from clusters.kube.driver import DriverError
from clusters.localkube import images
from clusters.localkube.gobuild import Progress

DEFAULT_NAME = "etcd-chaos"
CONFIG = Path(__file__).with_name("config.yaml")
WORKERS = 5  # config.yaml's: scale's five members, one per node
ROLE_LABEL = "io.x-k8s.kind.role"
ADMIN_KUBECONFIG = "/etc/kubernetes/admin.conf"  # inside the control-plane node, where its kubectl is
CONTROL_PLANE_WAIT = "120s"  # kind create's own --wait
NODES_READY = "180s"  # then every node: a worker's CNI may come up after the control plane is ready
CREATE_TIMEOUT = 900.0
DELETE_TIMEOUT = 300.0
IMAGE_TIMEOUT = 600.0
LOGS_TIMEOUT = 300.0
QUERY_TIMEOUT = 60.0


class NodeContainer(NamedTuple):
    name: str  # the Kubernetes node's name too
    role: str  # control-plane or worker
    state: str  # docker's: running, exited, ...


class KindCluster:
    """A kind cluster by name; ``up``, ``load_image``, ``route_pods`` in that order, ``down`` at the end."""

    def __init__(
        self, workdir: Path, name: str = DEFAULT_NAME, runner: Runner = run, progress: Progress = print,
        euid: int | None = None,
    ) -> None:
        self.name = name
        self.kubeconfig = workdir / f"kind-{name}.kubeconfig"
        self.runner = runner
        self.progress = progress
        self.routes = PodRoutes(runner, euid)
        self.driver = KindNodeDriver(name, runner, self.routes)
        self.created = False  # ours to delete at the end
        self.reused = False  # someone else's: kept
        self.control_plane: str | None = None  # its node container, once up

    def _run(self, argv: Sequence[str], timeout: float) -> str:
        done = self.runner(argv, timeout)
        if done.returncode != 0:
            raise KindError(f"`{command(argv)}` failed: {why(done)}")
        return done.stdout

    def _kubectl(self, control_plane: str, *args: str, timeout: float = QUERY_TIMEOUT) -> str:
        """kubectl inside the control-plane node: the node image has it, this machine need not."""
        return self._run(["docker", "exec", control_plane, "kubectl", "--kubeconfig", ADMIN_KUBECONFIG, *args], timeout)

    # --- lifecycle ------------------------------------------------------------

    def running(self) -> bool:
        return self.name in self._run(["kind", "get", "clusters"], QUERY_TIMEOUT).split()

    def up(self, reuse: bool = False) -> None:
        """Create the cluster, or with ``reuse`` take the running one of this name as it is and keep it at the end."""
        self.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
        if self.running():
            if not reuse:
                raise KindError(f"a kind cluster named {self.name} exists already: reuse it, or delete it "
                                f"(`kind delete cluster --name {self.name}`)")
            self.reused = True
            self._run(["kind", "export", "kubeconfig", "--name", self.name, "--kubeconfig", str(self.kubeconfig)],
                      QUERY_TIMEOUT)
            self.progress(f"kind: using the running cluster {self.name}; it is kept at the end")
        else:
            self.progress(f"kind: creating cluster {self.name} (1 control plane, {WORKERS} workers, {versions.NODE_IMAGE})")
            self.created = True  # before: a create cut short by its time-out leaves nodes to delete
            self._run(["kind", "create", "cluster", "--name", self.name, "--config", str(CONFIG),
                       "--image", versions.NODE_IMAGE, "--wait", CONTROL_PLANE_WAIT, "--kubeconfig", str(self.kubeconfig)],
                      CREATE_TIMEOUT)
        self._kubectl(self._check_nodes(), "wait", "--for=condition=Ready", "nodes", "--all", f"--timeout={NODES_READY}",
                      timeout=CREATE_TIMEOUT)

    def _nodes(self) -> list[NodeContainer]:
        listed = self._run(["docker", "ps", "-a", "--filter", f"label={CLUSTER_LABEL}={self.name}",
                            "--format", f'{{{{.Names}}}} {{{{.Label "{ROLE_LABEL}"}}}} {{{{.State}}}}'], QUERY_TIMEOUT)
        return [NodeContainer(*words) for words in (line.split() for line in listed.splitlines()) if len(words) == 3]

    def _check_nodes(self) -> str:
        """The control-plane node's name, once every node runs and there are enough workers for scale."""
        nodes = self._nodes()
        for node in nodes:
            if node.state != "running":
                raise KindError(f"kind cluster {self.name}: node {node.name} is {node.state} "
                                f"(`docker start {node.name}`, or delete the cluster)")
        workers = [node.name for node in nodes if node.role == "worker"]
        planes = [node.name for node in nodes if node.role == "control-plane"]
        if len(workers) < WORKERS or len(planes) != 1:
            raise KindError(f"kind cluster {self.name} has {len(planes)} control plane(s) and {len(workers)} workers; "
                            f"scenarios need 1 and {WORKERS} (scale grows a strategy to {WORKERS} members on "
                            f"{WORKERS} nodes): delete it (`kind delete cluster --name {self.name}`) to have it made anew")
        self.control_plane = planes[0]
        return planes[0]

    def load_image(self, image: images.Image) -> None:
        """``docker build`` the strategy image from its one description, then load it into every node."""
        with tempfile.TemporaryDirectory(prefix="etcd-chaos-image-") as context:
            images.write_build_context(image, Path(context))
            release = image.name.rsplit(":", 1)[1]
            self._run(["docker", "build", "--tag", image.name, "--build-arg", f"ETCD_VERSION={release}", context], IMAGE_TIMEOUT)
        self._run(["kind", "load", "docker-image", image.name, "--name", self.name], IMAGE_TIMEOUT)
        self.progress(f"kind: {image.name} loaded into every node")

    def pod_ranges(self) -> dict[str, str]:
        """Each node's ``spec.podCIDR``, as the controller manager assigned it."""
        if self.control_plane is None:
            raise KindError(f"kind cluster {self.name} is not up: call up() first")
        listed = json.loads(self._kubectl(self.control_plane, "get", "nodes", "-o", "json"))
        ranges = {item["metadata"]["name"]: (item.get("spec") or {}).get("podCIDR") for item in listed.get("items") or []}
        unassigned = sorted(name for name, cidr in ranges.items() if not cidr)
        if unassigned or not ranges:
            raise KindError(f"kind cluster {self.name}: no pod range assigned to {', '.join(unassigned) or 'any node'}")
        return ranges

    def route_pods(self) -> None:
        """A host route per node to its pod range (``routes.py`` says why), refused if this machine is in that network."""
        subnet = ipaddress.ip_network(CLUSTER_CIDR)
        attached = self.routes.attached(subnet)
        if attached:
            raise KindError(f"this machine itself has {attached[0]!r}, inside kind's pod network {subnet}: take that "
                            "interface down first (`etcd-chaos cluster down` if it is the local cluster's)")
        for node, cidr in sorted(self.pod_ranges().items()):
            try:
                via = self.driver.address(node)
            except DriverError as error:
                raise KindError(str(error)) from None
            self.routes.add(node, cidr, via)
        self.progress(f"kind: routes to {len(self.routes.added)} nodes' pods: "
                      + ", ".join(f"{r.network} via {r.via}" for r in self.routes.added.values()))

    def export_logs(self, directory: Path) -> str | None:
        """``kind export logs`` (every node's journal, containers' logs, kubelet and runtime) into ``directory``.

        Returns why it failed, or None: the caller is reporting a failure
        already, which a failed export must not hide.
        """
        done = self.runner(["kind", "export", "logs", str(directory), "--name", self.name], LOGS_TIMEOUT)
        return None if done.returncode == 0 else f"kind export logs failed: {why(done)}"

    def down(self) -> list[str]:
        """Remove the routes, and the cluster unless it was reused; return what was left behind. Safe to call twice."""
        left = self.routes.remove_all()
        if self.created and not self.reused:
            done = self.runner(["kind", "delete", "cluster", "--name", self.name], DELETE_TIMEOUT)
            if done.returncode != 0:
                left.append(f"kind cluster {self.name}: `kind delete cluster --name {self.name}` failed: {why(done)}")
            else:
                self.created = False
        return left
