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

SETUP_SCRIPT = r"""
set -e
root=$1; bin=$2; mounts=$3; files=$4; shift 4
mount -t tmpfs -o mode=0755 rootfs "$root"
cd "$root"
for d in HOST_DIRS; do
  if [ -L "/$d" ]; then ln -s "$(readlink "/$d")" "$d"
  elif [ -d "/$d" ]; then mkdir "$d"; mount --rbind "/$d" "$d"; mount -o remount,bind,ro "$d"
  fi
done
mkdir -p dev proc tmp run var/tmp root
mount -t tmpfs -o mode=0755 dev dev
for n in DEVICES; do touch "dev/$n"; mount --bind "/dev/$n" "dev/$n"; done
mkdir dev/shm; mount -t tmpfs shm dev/shm
ln -s /proc/self/fd dev/fd
mount -t proc proc proc
mount -t tmpfs -o mode=1777 tmp tmp
mount --bind "$bin" usr/local/bin
while read -r src dst; do mount --bind "$src" ".$dst"; done < "$files"
while read -r src dst mode; do
  mkdir -p ".$dst"; mount --bind "$src" ".$dst"
  if [ "$mode" = ro ]; then mount -o remount,bind,ro ".$dst"; fi
done < "$mounts"
exec chroot . "$@"
""".replace("HOST_DIRS", " ".join(HOST_DIRS)).replace("DEVICES", " ".join(DEVICES))


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


class Container:
    """One run of a pod's container (a restart is a new Container)."""

    def __init__(self, sandbox: Sandbox, spec: ContainerSpec, root: Path, setup: Path, log: IO[bytes]) -> None:
        self.spec = spec
        root.mkdir(parents=True, exist_ok=True)
        mounts = root.parent / "mounts"
        mounts.write_text("".join(f"{src} {dst} {'ro' if ro else 'rw'}\n" for src, dst, ro in spec.mounts))
        files = root.parent / "files"
        files.write_text("".join(f"{src} {dst}\n" for src, dst in spec.files))
        argv = ["/usr/bin/env", "-i", *(f"{k}={v}" for k, v in spec.env.items())]
        if spec.working_dir:
            argv += ["-C", spec.working_dir]
        self.started_at = time.time()
        self.process = subprocess.Popen(
            _pdeathsig(
                [
                    "nsenter", "-t", str(sandbox.pause.pid), "-n", "-u", "-i", "--",
                    "unshare", "--mount", "--pid", "--fork", "--kill-child", "--propagation", "private", "--",
                    "/bin/sh", str(setup), str(root), str(spec.bin_dir), str(mounts), str(files),
                    *argv, *spec.command,
                ]
            ),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self._init: tuple[int, int | None] | None = None

    def init_pid(self) -> int | None:
        """Host PID of the container's PID 1 (the child of unshare)."""
        if self._init is None or host.start_time(self._init[0]) != self._init[1]:
            found = host.children(self.process.pid)
            self._init = (found[0], host.start_time(found[0])) if found else None
        return self._init[0] if self._init else None

    def signal(self, sig: int) -> None:
        """Deliver ``sig`` to PID 1; SIGKILL ends every process in the container."""
        pid = self.init_pid()
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
