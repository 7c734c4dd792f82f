"""One node: its cgroup root, CNI bridge, containerd and kubelet.

Several nodes share this machine, so each has what a kubelet assumes is its
own: a containerd (a kubelet kills running pods it does not know, so two
kubelets on one containerd would kill each other's), a cgroupRoot, a kubelet
root directory and ports, a CNI bridge and pod range. Everything else is the
kubelet's own behaviour: probes, restarts with back-off, graceful deletion,
volume mounts, logs.

Settings this machine needs, and why:
- ``failCgroupV1: false``, ``cgroupDriver: cgroupfs``: cgroups are v1 here.
- ``failSwapOn: false``: the kubelet refuses to start on a machine with swap.
- ``restrict_oom_score_adj``: a negative oom_score_adj is denied here, and runc
  then fails every sandbox with "can't get final child's PID from pipe".
- eviction thresholds at 0% and image GC off, as kind sets them: a busy disk
  must not evict etcd pods or delete the images nothing could pull again.
- the registry mirror at a closed loopback port: an image that was not
  imported fails to pull (ErrImagePull) instead of being fetched from anywhere.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from clusters.localkube.host import run
from clusters.localkube import build, layout
from clusters.localkube.layout import Node
from clusters.localkube.record import Record

CGROUP_BASE = Path("/sys/fs/cgroup")
NO_REGISTRY = "http://127.0.0.1:9"  # discard port, closed: a pull fails at once and stays on this machine


def cgroup_hierarchies() -> list[Path]:
    """Where the kubelet's cgroups live: every v1 controller hierarchy, or the one v2 tree.

    A hybrid machine (v1 controllers, an empty v2 tree at ``unified``) is run
    as v1, as the kubelet itself decides.
    """
    v1, v2 = set(), set()
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        mount_point, fs_type = Path(fields[4]), fields[fields.index("-") + 1]
        if mount_point == CGROUP_BASE or CGROUP_BASE in mount_point.parents:
            (v1 if fs_type == "cgroup" else v2 if fs_type == "cgroup2" else set()).add(mount_point)
    return sorted(v1) if v1 else sorted(v2)


def make_cgroup_root(node: Node, record: Record) -> None:
    """The node's cgroupRoot must exist before its kubelet starts, with cpus and memory nodes to give its pods."""
    for hierarchy in cgroup_hierarchies():
        directory = hierarchy / node.cgroup.lstrip("/")
        if not directory.is_dir():
            directory.mkdir()
            record.cgroups.append(str(directory))
            record.save()
        controllers = hierarchy / "cgroup.controllers"
        if controllers.exists():  # v2: let the node's cgroup hand controllers to its pods
            wanted = " ".join(f"+{c}" for c in controllers.read_text().split())
            (hierarchy / "cgroup.subtree_control").write_text(wanted)
            (directory / "cgroup.subtree_control").write_text(wanted)
        elif (hierarchy / "cpuset.cpus").exists():
            for name in ("cpuset.cpus", "cpuset.mems"):
                (directory / name).write_text((hierarchy / name).read_text())


def make_bridge(node: Node, record: Record) -> None:
    """Made before the kubelet, with the gateway address: the kubelet listens on it and reports it as InternalIP."""
    run("ip", "link", "add", node.bridge, "type", "bridge")
    record.links.append(node.bridge)
    record.save()
    run("ip", "addr", "add", f"{node.ip}/{node.pod_cidr.prefixlen}", "dev", node.bridge)
    run("ip", "link", "set", node.bridge, "up")


def cni_config(node: Node) -> dict[str, object]:
    return {
        "cniVersion": "0.4.0",
        "name": f"{layout.PREFIX}-{node.name}",
        "plugins": [
            {
                "type": "bridge",
                "bridge": node.bridge,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,  # a pod reaches itself through a Service address
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": str(node.pod_cidr), "gateway": node.ip}]],
                    "routes": [{"dst": "0.0.0.0/0"}],  # without it pods have no default route
                    "dataDir": str(node.root / "cni-ipam"),
                },
            },
            {"type": "loopback"},
        ],
    }


def containerd_config(node: Node, tools: build.Toolset) -> str:
    d = node.root / "containerd"
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{d / 'root'}"
state = "{d / 'state'}"
[grpc]
  address = "{node.containerd_socket}"
[ttrpc]
  address = "{d / 'ttrpc.sock'}"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{d / 'opt'}"
[{cri}]
  sandbox_image = "{tools.images['pause']}"
  restrict_oom_score_adj = true
  enable_selinux = false
[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[{cri}.containerd.runtimes.runc.options]
  BinaryName = "{tools.runc}"
  SystemdCgroup = false
[{cri}.cni]
  bin_dir = "{tools.cni_bin}"
  conf_dir = "{node.root / 'cni'}"
[{cri}.registry.mirrors."docker.io"]
  endpoint = ["{NO_REGISTRY}"]
[{cri}.registry.mirrors."*"]
  endpoint = ["{NO_REGISTRY}"]
"""


def kubelet_config(node: Node, root: layout.Layout) -> dict[str, object]:
    pki = root.pki
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": node.ip,
        "port": node.kubelet_port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": node.healthz_port,
        "tlsCertFile": str(pki / f"kubelet-{node.name}.crt"),
        "tlsPrivateKeyFile": str(pki / f"kubelet-{node.name}.key"),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": node.cgroup,
        "failCgroupV1": False,
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{node.containerd_socket}",
        "clusterDNS": [layout.DNS_SERVICE_IP],
        "clusterDomain": layout.CLUSTER_DOMAIN,
        "resolvConf": str(root.root / "resolv.conf"),
        "podLogsDir": str(node.pod_logs),
        "enforceNodeAllocatable": [],
        "localStorageCapacityIsolation": False,
        "evictionHard": {"nodefs.available": "0%", "nodefs.inodesFree": "0%", "imagefs.available": "0%"},
        "imageGCHighThresholdPercent": 100,
        "rotateCertificates": False,
        "serializeImagePulls": False,
    }


def write_configs(node: Node, root: layout.Layout, tools: build.Toolset) -> None:
    (node.root / "cni").mkdir(parents=True, exist_ok=True)
    (node.root / "cni" / "10-bridge.conflist").write_text(json.dumps(cni_config(node), indent=1))
    (node.root / "containerd.toml").write_text(containerd_config(node, tools))
    (node.root / "kubelet.yaml").write_text(json.dumps(kubelet_config(node, root), indent=1))
    node.storage.mkdir(parents=True, exist_ok=True)


def component_env(tools: build.Toolset) -> dict[str, str]:
    """containerd finds its shim, and the kubelet mount and umount, on this PATH."""
    return {**os.environ, "PATH": f"{tools.debian_root / 'usr/bin'}:{tools.debian_root / 'usr/sbin'}:{os.environ.get('PATH', '')}"}


def start_containerd(node: Node, root: layout.Layout, tools: build.Toolset, record: Record) -> None:
    record.start(
        f"containerd-{node.name}",
        [str(tools.containerd), "--config", str(node.root / "containerd.toml")],
        root.logs / f"containerd-{node.name}.log",
        env=component_env(tools),
    )


def import_images(node: Node, tools: build.Toolset, names: list[str] | None = None) -> None:
    """The images of ``tools`` named (default: all) into the node's containerd."""
    for name in tools.image_tars if names is None else names:
        run(str(tools.ctr), "--address", str(node.containerd_socket), "-n", "k8s.io", "images", "import",
            str(tools.image_tars[name]), timeout=120)


def crictl(tools: build.Toolset, node: Node, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """crictl against the node's own containerd: what only the node knows (container PIDs, sandboxes)."""
    argv = [str(tools.crictl), "--runtime-endpoint", f"unix://{node.containerd_socket}", "--timeout", "20s", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def start_kubelet(node: Node, root: layout.Layout, tools: build.Toolset, record: Record) -> None:
    record.start(
        f"kubelet-{node.name}",
        [
            str(tools.kube("kubelet")),
            "--config", str(node.root / "kubelet.yaml"),
            "--kubeconfig", str(root.pki / f"kubelet-{node.name}.kubeconfig"),
            "--hostname-override", node.name,
            "--node-ip", node.ip,
            "--node-labels", f"topology.kubernetes.io/zone={node.zone}",
            "--root-dir", str(node.root / "kubelet"),
            "--cert-dir", str(node.root / "kubelet-pki"),
        ],
        root.logs / f"kubelet-{node.name}.log",
        env=component_env(tools),
    )
