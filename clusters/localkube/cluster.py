"""Bring a local Kubernetes up on this machine, and take it down.

``up`` is what ``etcd-chaos cluster up`` and the pytest session fixture call:
preflight, then etcd and the control plane, then each node, kube-proxy, then
CoreDNS and the volume provisioner, then it waits until N nodes are Ready and the add-ons
are available. Everything it starts or changes goes into the record first, so
an interrupted ``up`` is undone by ``down`` like a finished one.
"""

from __future__ import annotations

import json
import os
import ssl
import string
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from clusters import filelock
from clusters.localkube.host import run
from clusters.localkube import build, controlplane, layout, node, preflight, provisioner, teardown
from clusters.localkube.layout import MAX_NODES, Layout
from clusters.localkube.record import Record, changing

ADDONS = Path(__file__).parent / "addons"
READY_TIMEOUT = 120.0
START_LOCK_WAIT = 600.0  # a build from empty caches happens before the lock; a start takes about a minute
# Five: scale grows a strategy to five members, each on a node of its own under required anti-affinity.
DEFAULT_NODES = 5


class ClusterError(RuntimeError):
    """The cluster could not be brought up; the message says which part and where its log is."""


def wait_for(what: str, check: Callable[[], bool], timeout: float, log: Path | None = None) -> float:
    """Poll ``check`` until true; return the seconds it took, or raise naming ``what``, the last error and the log."""
    started, last = time.monotonic(), ""
    while time.monotonic() - started < timeout:
        try:
            if check():
                return time.monotonic() - started
        except (OSError, subprocess.SubprocessError, ValueError, ClusterError) as error:
            last = f" (last: {str(error).splitlines()[0] if str(error) else type(error).__name__})"
        time.sleep(0.2)
    where = f"; see {log}" if log else ""
    raise ClusterError(f"{what} not within {timeout:.0f} s{last}{where}")


class Kubectl:
    """The cluster's own kubectl with the administrator's kubeconfig."""

    def __init__(self, tools: build.Toolset, kubeconfig: Path) -> None:
        self.argv = [str(tools.kube("kubectl")), f"--kubeconfig={kubeconfig}"]

    def __call__(self, *args: str, stdin: str | None = None, timeout: float = 60) -> str:
        done = subprocess.run(
            [*self.argv, *args], input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def json(self, *args: str) -> dict:
        return json.loads(self(*args, "-o", "json"))


def ready_nodes(kubectl: Kubectl) -> list[str]:
    names = []
    for item in kubectl.json("get", "nodes")["items"]:
        conditions = {c["type"]: c["status"] for c in item["status"].get("conditions", [])}
        if conditions.get("Ready") == "True":
            names.append(item["metadata"]["name"])
    return names


def _api_ready(root: Layout) -> bool:
    context = ssl.create_default_context(cafile=str(root.pki / "ca.crt"))
    context.load_cert_chain(str(root.pki / "admin.crt"), str(root.pki / "admin.key"))
    with urllib.request.urlopen(f"{root.api_url}/readyz", context=context, timeout=2) as answer:
        return answer.status == 200


def _etcd_ready() -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{layout.ETCD_CLIENT_PORT}/health", timeout=2) as answer:
        return json.loads(answer.read()).get("health") == "true"


def render_addons(root: Layout, tools: build.Toolset) -> list[str]:
    """The add-on manifests with this cluster's images, addresses and node paths filled in."""
    values = {
        "cluster_domain": layout.CLUSTER_DOMAIN,
        "dns_service_ip": layout.DNS_SERVICE_IP,
        "coredns_image": tools.images["coredns"],
        "provisioner": provisioner.PROVISIONER,
    }
    return [string.Template(f.read_text()).substitute(values) for f in sorted(ADDONS.glob("*.yaml"))]


def _setup_host(root: Layout, record: Record) -> None:
    record.set_sysctl("net.ipv4.ip_forward", "1")  # pods on different nodes' bridges talk through the host
    if Path("/proc/sys/net/bridge/bridge-nf-call-iptables").exists():
        record.set_sysctl("net.bridge.bridge-nf-call-iptables", "1")  # Service rules see bridged replies
    # Each node's kubelet (cAdvisor) and containerd take inotify instances: the kernel's default 128 runs out past ~17 nodes.
    record.set_sysctl("fs.inotify.max_user_instances", str(64 * MAX_NODES), at_least=True)
    run("ip", "link", "add", root.dummy_link, "type", "bridge")  # a dummy link needs a module this kernel may lack
    record.links.append(root.dummy_link)
    record.save()
    run("ip", "addr", "add", f"{layout.CONTROL_PLANE_IP}/32", "dev", root.dummy_link)
    run("ip", "link", "set", root.dummy_link, "up")
    # Pods inherit no resolver of this machine: names outside the cluster fail instead of leaving it.
    (root.root / "resolv.conf").write_text("# etcd-chaos: cluster names only\noptions ndots:5\n")


@dataclass(frozen=True)
class Running:
    """A cluster that is up: where it lives, what it runs, and kubectl for it."""

    root: Layout
    tools: build.Toolset
    kubectl: Kubectl

    def crictl(self, node_name: str, *args: str) -> str:
        done = node.crictl(self.tools, next(n for n in self.root.nodes if n.name == node_name), *args)
        if done.returncode != 0:
            raise ClusterError(f"crictl {' '.join(args)} on {node_name}: {done.stderr.strip()}")
        return done.stdout

    def container_pid(self, node_name: str, namespace: str, pod: str, container: str) -> int:
        """The host PID of a running container's main process."""
        ids = self.crictl(node_name, "ps", "-q", "--state", "running", "--name", f"^{container}$",
                          "--label", f"io.kubernetes.pod.name={pod}",
                          "--label", f"io.kubernetes.pod.namespace={namespace}").split()
        if len(ids) != 1:
            raise ClusterError(f"{namespace}/{pod} container {container}: {len(ids)} running on {node_name}")
        return int(json.loads(self.crictl(node_name, "inspect", "-o", "json", ids[0]))["info"]["pid"])

    def down(self) -> list[str]:
        return teardown.down(self.tools, self.root)


def attach(tools: build.Toolset) -> Running | None:
    """The running cluster, if its control plane still runs, with the images of ``tools`` it lacked.

    A cluster ``etcd-chaos cluster up`` left running holds the images of the
    run that started it; a later run may ask for another etcd release. The
    record says what the nodes hold, so that attaching asks no node anything
    when nothing is missing: side by side, another scenario may have a node
    down, whose containerd answers nothing.
    """
    stale = Record.load(Layout.of(1).record)
    if stale is None or not (plane := stale.control_plane()) or not all(p.alive() for p in plane):
        return None  # a node's kubelet and containerd may be down: side by side, a node fault stops them for a while
    root = Layout.of(stale.nodes)
    try:
        if not _api_ready(root):
            return None
    except OSError:
        return None
    missing = [name for name in tools.image_tars if name not in stale.images]
    if missing:
        for each in root.nodes:
            node.import_images(each, tools, missing)
        with changing(stale.path) as now:
            if now is not None:
                now.images += [name for name in missing if name not in now.images]
    return Running(root, tools, Kubectl(tools, root.kubeconfig))


def starting() -> AbstractContextManager[None]:
    """Held while one process looks for a running cluster and starts one if there is none.

    Test processes side by side (pytest-xdist's workers) all ask for the
    cluster at once; the first starts it, the others wait and attach to it.
    """
    return filelock.held(layout.state_dir().parent / "starting.lock", filelock.EXCLUSIVE, START_LOCK_WAIT, "the local cluster's start")


def started_by(session: str) -> Layout | None:
    """The running cluster's layout when test session ``session`` started it (and so takes it down)."""
    record = Record.load(Layout.of(1).record)
    return Layout.of(record.nodes) if record is not None and record.session == session else None


def up(
    tools: build.Toolset, nodes: int = DEFAULT_NODES, progress: Callable[[str], None] = print, root: Layout | None = None,
    session: str | None = None,
) -> Running:
    """Start a cluster of ``nodes`` Ready nodes; the admin's kubeconfig is ``root.kubeconfig``.

    ``session``: the test session whose end takes it down, when that is not
    this process's (see ``started_by``).
    """
    root = root or Layout.of(nodes)
    stale = Record.load(root.record)
    if stale is not None and not any(p.alive() for p in stale.processes):
        teardown.down(tools, root)  # what a killed run left
    found = preflight.problems(root)
    if found:
        raise ClusterError("cannot start a local cluster:\n  " + "\n  ".join(found))
    started = time.monotonic()
    root.root.mkdir(parents=True, exist_ok=True)
    record = Record(root.record, nodes=nodes, session=session, images=list(tools.image_tars))
    record.save()
    try:
        _start(tools, root, record, progress)
    except BaseException as error:
        left = teardown.down(tools, root)
        if left and not isinstance(error, KeyboardInterrupt):
            raise ClusterError(f"{error}\n  and taking it down left: {'; '.join(left)}") from error
        raise
    progress(f"{nodes} nodes Ready in {time.monotonic() - started:.1f} s; kubeconfig: {root.kubeconfig}")
    return Running(root, tools, Kubectl(tools, root.kubeconfig))


def _start(tools: build.Toolset, root: Layout, record: Record, progress: Callable[[str], None]) -> None:
    _setup_host(root, record)
    controlplane.make_pki(root)
    controlplane.start_etcd(root, tools, record)
    wait_for("the control plane's etcd", _etcd_ready, 30, root.logs / "etcd.log")
    controlplane.start_apiserver(root, tools, record)
    took = wait_for("kube-apiserver /readyz", lambda: _api_ready(root), 60, root.logs / "kube-apiserver.log")
    progress(f"kube-apiserver ready in {took:.1f} s")
    controlplane.start_controller_manager(root, tools, record)
    controlplane.start_scheduler(root, tools, record)
    for each in root.nodes:
        node.make_cgroup_root(each, record)
        node.make_bridge(each, record)
        node.write_configs(each, root, tools)
        node.start_containerd(each, root, tools, record)

    def images_in(each: layout.Node) -> None:
        wait_for(f"containerd of {each.name}", each.containerd_socket.exists, 30,
                 root.logs / f"containerd-{each.name}.log")
        node.import_images(each, tools)

    # The imports are most of a node's start; more at once than twice the cores time out in containerd.
    with ThreadPoolExecutor(min(len(root.nodes), 2 * (os.cpu_count() or 1))) as pool:
        list(pool.map(images_in, root.nodes))
    for each in root.nodes:
        node.start_kubelet(each, root, tools, record)
    kubectl = Kubectl(tools, root.kubeconfig)
    wait_for(f"{len(root.nodes)} Ready nodes", lambda: len(ready_nodes(kubectl)) == len(root.nodes), READY_TIMEOUT,
             root.logs)
    # Not before: kube-proxy waits a while for its node's object and exits when it appears later with its IPs.
    controlplane.start_kube_proxy(root, tools, record)
    for each in root.nodes:  # as the node IPAM controller would record it: the range its CNI bridge hands out
        cidr = str(each.pod_cidr)
        kubectl("patch", "node", each.name, "--type=merge", "-p", json.dumps({"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}}))
    kubectl("apply", "-f", "-", stdin="\n---\n".join(render_addons(root, tools)))
    record.start("volume-provisioner", [sys.executable, "-m", provisioner.__name__, "--nodes", str(len(root.nodes))],
                 root.logs / "volume-provisioner.log")
    kubectl("-n", "kube-system", "rollout", "status", "deployment/coredns", f"--timeout={READY_TIMEOUT:.0f}s",
            timeout=READY_TIMEOUT + 10)
