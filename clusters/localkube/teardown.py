"""Take a local cluster down and show that nothing of it is left on the machine.

Order matters. Kubelets stop first, so nothing restarts what goes next; then
every pod sandbox is stopped and removed through its node's containerd, which
runs the CNI teardown (veth, address, network namespace) and unmounts the
volumes; then containerd, kube-proxy with its ``--cleanup`` (its nft tables),
the controllers, the API server and its etcd. What a crash may still leave
(mounts, cgroups, links) is then removed from the record, and ``leftovers``
lists anything that remains, by kind, so a test can assert it is empty.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

from clusters.localkube.host import run
from clusters.localkube import build, controlplane, layout, node
from clusters.localkube.layout import Layout
from clusters.localkube.node import CGROUP_BASE
from clusters.localkube.record import Record

# Everything that could still call the API server is stopped before it, and
# its store is deleted next: its graceful drain (over 10 s) would serve no one.
API_GRACE = 2.0
DEFAULT_GRACE = 10.0


def _remove_pods(tools: build.Toolset, root: Layout) -> None:
    for each in root.nodes:
        if each.containerd_socket.exists():
            pods = node.crictl(tools, each, "pods", "-q").stdout.split()
            if pods:
                node.crictl(tools, each, "stopp", *pods)
                node.crictl(tools, each, "rmp", "--force", *pods)


def our_mounts(root: Path) -> list[Path]:
    """Mount points under ``root``, deepest first (the order they must be unmounted in)."""
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = Path(line.split()[4].replace("\\040", " "))
        if point == root or root in point.parents:
            points.append(point)
    return sorted(set(points), key=lambda p: len(p.parts), reverse=True)


def shims(root: Layout) -> list[int]:
    """containerd's shims for this cluster: started with the address of one of its containerds."""
    sockets = {str(n.containerd_socket) for n in root.nodes}
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"containerd-shim-runc-v2") and any(s.encode() in argv for s in sockets):
            found.append(int(proc.name))
    return found


def down(tools: build.Toolset, root: Layout | None = None) -> list[str]:
    """Stop and remove everything the record lists; return the leftovers (empty when clean)."""
    base = root or Layout.of(1)
    record = Record.load(base.record)
    if record is None:
        return leftovers(base)
    root = Layout.of(max(record.nodes, 1), base.root)
    record.stop([f"kubelet-{n.name}" for n in root.nodes], DEFAULT_GRACE)
    _remove_pods(tools, root)
    record.stop([f"containerd-{n.name}" for n in root.nodes], DEFAULT_GRACE)
    for pid in shims(root):
        os.kill(pid, signal.SIGKILL)
    record.stop(["volume-provisioner", "kube-proxy", "kube-scheduler", "kube-controller-manager"], DEFAULT_GRACE)
    if record.find("kube-proxy") is not None:
        run(*controlplane.kube_proxy_argv(root, tools, "--cleanup"), check=False, timeout=30)
    record.stop(["kube-apiserver"], API_GRACE)
    record.stop(["etcd"], DEFAULT_GRACE)
    for point in our_mounts(root.root):
        if run("umount", str(point), check=False).returncode != 0:
            run("umount", "-l", str(point), check=False)
    # the recorded roots, and those the kubelet made itself (in a hybrid machine's v2 tree too)
    for directory in sorted({*record.cgroups, *_node_cgroups()}):
        _remove_cgroup(Path(directory))
    for link in record.links:
        run("ip", "link", "del", link, check=False)
    for path, value in record.sysctls.items():
        Path(path).write_text(value)
    shutil.rmtree(root.root, ignore_errors=True)
    if root.root.parent.name == layout.PREFIX and not any(root.root.parent.iterdir()):
        root.root.parent.rmdir()
    return leftovers(root, record)


def _remove_cgroup(directory: Path) -> None:
    """Depth first: a cgroup can be removed only once its children are."""
    if not directory.is_dir():
        return
    for child in sorted((p for p in directory.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        child.rmdir()
    directory.rmdir()


def leftovers(root: Layout, record: Record | None = None) -> list[str]:
    """Everything of the cluster still on the machine, one line each."""
    found = []
    if record is not None:
        found += [f"process {p.name} (pid {p.pid})" for p in record.processes if p.alive()]
    found += [f"shim pid {pid}" for pid in shims(root)]
    found += [f"mount {p}" for p in our_mounts(root.root)]
    links = run("ip", "-o", "link", "show", check=False).stdout
    for line in links.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith(("ecbr", "ec-cp")) or any(f"master {n.bridge} " in line for n in root.nodes):
            found.append(f"link {name}")
    routes = run("ip", "-4", "route", "show", "table", "all", check=False).stdout
    for line in routes.splitlines():
        target = line.split()[0] if line.split() else ""
        if target.startswith(("10.244.", "10.96.")) or " dev ecbr" in line:
            found.append(f"route {line.strip()}")
    if shutil.which("nft"):
        tables = run("nft", "list", "tables", check=False).stdout
        found += [f"nft {t.strip()}" for t in tables.splitlines() if "kube-proxy" in t]
    if root.root.exists():
        found.append(f"directory {root.root}")
    found += [f"cgroup {c}" for c in _node_cgroups()]
    return found


def _node_cgroups() -> list[str]:
    pattern = f"{layout.PREFIX}-node-*"
    return sorted(str(d) for d in (*CGROUP_BASE.glob(pattern), *CGROUP_BASE.glob(f"*/{pattern}")) if d.is_dir())
