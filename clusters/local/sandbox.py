"""Pod sandboxes and containers as namespaces and processes.

A sandbox is what Kubernetes' pause container is: a process holding the pod's
network, UTS and IPC namespaces, so the pod's IP survives container restarts
and changes only when the pod object is re-created. A container is a PID and
mount namespace inside it, chrooted into a root built from read-only host
directories, the etcd binaries at /usr/local/bin and the pod's volumes at the
manifest's mount paths. Its command is PID 1, so signal semantics match a real
container (an ``sh`` entrypoint without a TERM trap ignores SIGTERM).

Every process is started under ``setpriv --pdeathsig KILL`` from the pod's own
kubelet thread: if the harness dies, even by SIGKILL, the whole pod dies with
it and its namespaces vanish; only the bridge and files are left to sweep.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from clusters.local import host

# Host directories a container sees, read-only, at the same place.
HOST_DIRS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc")
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")

# Runs as PID 1 of the container's new PID and mount namespaces. Three
# programs instead of one per mount: container start time is what a user waits
# for, and with Parallel pods they all start at once on two cores.
SETUP_SCRIPT = r"""
set -e
root=$1; skeleton=$2; fstab=$3; workdir=$4; shift 4
mount -t tmpfs -o mode=0755 rootfs "$root"
cp -a "$skeleton/." "$root/"
mount -a -T "$fstab"
[ -z "$workdir" ] || mkdir -p "$root/$workdir"
cd "$root"
exec chroot . "$@"
"""


def _fstab_path(path: Path | str) -> str:
    return str(path).replace("\\", "\\134").replace(" ", "\\040").replace("\t", "\\011")


class RootfsTemplate:
    """The directory tree every container of one StatefulSet starts from.

    Built once per cluster: mount points for the host directories, devices,
    /proc and the volumes; each container copies it onto its own tmpfs root
    and mounts everything with one ``mount -a`` over a generated fstab.
    """

    def __init__(self, directory: Path, mount_paths: list[str]) -> None:
        self.skeleton = directory / "skeleton"
        self.setup = directory / "setup.sh"
        self.setup.write_text(SETUP_SCRIPT)
        self.host_dirs = []
        self.skeleton.mkdir(parents=True)
        for name in HOST_DIRS:
            source = Path("/") / name
            if source.is_symlink():
                (self.skeleton / name).symlink_to(os.readlink(source))
            elif source.is_dir():
                (self.skeleton / name).mkdir()
                self.host_dirs.append(name)
        # /tmp first and tolerant: a volume may be mounted there, over it.
        (self.skeleton / "tmp").mkdir()
        (self.skeleton / "tmp").chmod(0o1777)
        for name in ("dev/shm", "proc", "run", "var/tmp", "root", *(p.lstrip("/") for p in mount_paths)):
            (self.skeleton / name).mkdir(parents=True, exist_ok=True)
        for device in DEVICES:
            (self.skeleton / "dev" / device).touch()
        (self.skeleton / "dev" / "fd").symlink_to("/proc/self/fd")

    def fstab(self, root: Path, spec: ContainerSpec) -> str:
        entries = [(f"/{d}", f"/{d}", "none", "bind,ro") for d in self.host_dirs]
        entries += [(f"/dev/{d}", f"/dev/{d}", "none", "bind") for d in DEVICES]
        entries.append(("proc", "/proc", "proc", "defaults"))
        entries.append((str(spec.bin_dir), "/usr/local/bin", "none", "bind,ro"))
        entries += [(str(src), dst, "none", "bind") for src, dst in spec.files]
        entries += [(str(src), dst, "none", "bind,ro" if ro else "bind") for src, dst, ro in spec.mounts]
        return "".join(
            f"{_fstab_path(src)} {_fstab_path(str(root) + dst)} {kind} {options} 0 0\n"
            for src, dst, kind, options in entries
        )


def _pdeathsig(argv: list[str]) -> list[str]:
    return ["setpriv", "--pdeathsig", "KILL", "--", *argv]


@dataclass
class Sandbox:
    """The pod's network identity: a pause process, a veth on the bridge, an IP."""

    pause: subprocess.Popen[bytes]
    pause_started: int | None
    ip: str
    veth: str

    @classmethod
    def create(cls, bridge: host.Bridge, veth: str, hostname: str) -> Sandbox:
        pause = subprocess.Popen(
            _pdeathsig(["unshare", "--net", "--uts", "--ipc", "sleep", "infinity"]),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        ip = bridge.allocate()
        sandbox = cls(pause, None, ip, veth)
        deadline = time.monotonic() + 5
        while os.readlink(f"/proc/{pause.pid}/ns/net") == os.readlink("/proc/self/ns/net"):
            if time.monotonic() > deadline or pause.poll() is not None:
                sandbox.destroy(bridge)
                raise host.HostError("the pod sandbox did not start (unshare --net failed)")
            time.sleep(0.002)
        sandbox.pause_started = host.start_time(pause.pid)
        pid = str(pause.pid)
        try:
            host.run("ip", "link", "add", veth, "type", "veth", "peer", "name", veth + "p", "netns", pid)
            host.run("ip", "link", "set", veth, "master", bridge.name, "up")
            script = (
                f"ip link set lo up && ip link set {veth}p name eth0 && "
                f"ip addr add {ip}/{bridge.subnet.prefixlen} dev eth0 && ip link set eth0 up && "
                f"ip route add default via {bridge.gateway} && hostname {hostname}"
            )
            host.run("nsenter", "-t", pid, "-n", "-u", "sh", "-c", script)
        except host.HostError:
            sandbox.destroy(bridge)
            raise
        return sandbox

    def destroy(self, bridge: host.Bridge) -> None:
        """End the pause process; its namespaces and the veth pair go with it."""
        if self.pause.poll() is None:
            self.pause.kill()
        self.pause.wait(timeout=5)
        host.run("ip", "link", "del", self.veth, check=False)
        bridge.release(self.ip)


@dataclass
class ContainerSpec:
    """What one container start needs, resolved for this pod."""

    command: list[str]
    env: dict[str, str]
    working_dir: str | None
    bin_dir: Path
    files: list[tuple[Path, str]]
    mounts: list[tuple[Path, str, bool]]

    def argv(self) -> list[str]:
        """The command under a clean environment, in ``workingDir``.

        ``env`` stops reading options at the first NAME=VALUE, so ``-C`` must
        come before the variables; the setup script has created the directory,
        as a container runtime does for a ``workingDir`` the image lacks.
        """
        chdir = ["-C", self.working_dir] if self.working_dir else []
        return ["/usr/bin/env", "-i", *chdir, *(f"{k}={v}" for k, v in self.env.items()), *self.command]


class Container:
    """One run of a pod's container (a restart is a new Container)."""

    def __init__(self, sandbox: Sandbox, spec: ContainerSpec, root: Path, rootfs: RootfsTemplate, log: IO[bytes]) -> None:
        self.spec = spec
        root.mkdir(parents=True, exist_ok=True)
        fstab = root.parent / "fstab"
        fstab.write_text(rootfs.fstab(root, spec))
        self.process = subprocess.Popen(
            _pdeathsig(
                [
                    "nsenter", "-t", str(sandbox.pause.pid), "-n", "-u", "-i", "--",
                    "unshare", "--mount", "--pid", "--fork", "--kill-child", "--propagation", "private", "--",
                    "/bin/sh", str(rootfs.setup), str(root), str(rootfs.skeleton), str(fstab), spec.working_dir or "",
                    *spec.argv(),
                ]
            ),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self._init: tuple[int, int | None] | None = None
        self._killed = False

    def init_pid(self) -> int | None:
        """Host PID of the container's PID 1 (the child of unshare)."""
        if self._init is None or host.start_time(self._init[0]) != self._init[1]:
            found = host.children(self.process.pid)
            self._init = (found[0], host.start_time(found[0])) if found else None
        return self._init[0] if self._init else None

    def find_process(self, executable: Path) -> int | None:
        """Host PID of the container's process running ``executable``, PID 1 included.

        Compared by inode, since inside the container the binary sits at
        another path (the bind mount at /usr/local/bin).
        """
        try:
            wanted = executable.stat()
        except OSError:
            return None
        init = self.init_pid()
        queue = [init] if init else []
        while queue:
            pid = queue.pop(0)
            try:
                found = os.stat(f"/proc/{pid}/exe")
            except OSError:
                found = None
            if found and (found.st_dev, found.st_ino) == (wanted.st_dev, wanted.st_ino):
                return pid
            queue += host.children(pid)
        return None

    def signal_pid(self, pid: int, sig: int) -> None:
        """Signal one of the container's processes (found by ``find_process``)."""
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    def signal(self, sig: int) -> None:
        """Deliver ``sig`` to PID 1; SIGKILL ends every process in the container."""
        pid = self.init_pid()
        self._killed |= sig == signal.SIGKILL
        if pid is not None:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        elif sig == signal.SIGKILL and self.process.poll() is None:
            self.process.kill()

    def exited(self) -> int | None:
        """The exit code in Kubernetes' terms (128 + signal), or None while running."""
        code = self.process.poll()
        if code is None:
            return None
        if self._killed:
            # unshare cannot re-raise SIGKILL on itself and exits 1; report what the kill was.
            return 128 + signal.SIGKILL
        return 128 - code if code < 0 else code

    def exec(self, command: list[str], timeout: float) -> tuple[int, str]:
        """Run ``command`` inside the container, as probes and hooks do."""
        pid = self.init_pid()
        if pid is None:
            return 1, "container is not running"
        argv = ["nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-p", "-r", "-w", "--", "/usr/bin/env", "-i"]
        argv += [f"{k}={v}" for k, v in self.spec.env.items()] + command
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return 1, f"timed out after {timeout}s"
        return proc.returncode, out.decode(errors="replace")
