"""One pod's life on the local backend, as the kubelet runs it.

A thread per pod object: create the sandbox (the pod's IP), start the container,
probe it, restart it in place with CrashLoopBackOff delays when it exits, and on
deletion run preStop, SIGTERM and SIGKILL within the grace period. The thread
ends when the pod object is gone; the controller then creates a replacement.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from clusters.base import ContainerStatus, Termination
from clusters.events import EventLog
from clusters.local import host
from clusters.local.probes import ProbeSet, attempt
from clusters.local.sandbox import Container, ContainerSpec, RootfsTemplate, Sandbox
from clusters.manifests import StatefulSet

# Kubelet defaults (pkg/kubelet): the first restart is immediate, then
# 10 s doubling to 300 s, measured from the container's finish; reset after a
# container ran 10 minutes.
BACKOFF_CAP = 300.0
BACKOFF_RESET_AFTER = 600.0
MIN_GRACE_AFTER_PRESTOP = 2.0


@dataclass
class Pod:
    """The pod object as the API server would hold it."""

    name: str
    ordinal: int
    uid: int
    node: str | None = None
    ip: str | None = None
    phase: str = "Pending"
    ready: bool = False
    terminating: bool = False
    restart_count: int = 0
    revision: int = 0
    logs: list[Path] = field(default_factory=list)


_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion in command and args; ``$$`` escapes, unknown names stay."""
    return _VAR.sub(lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), text)


class Backoff:
    """CrashLoopBackOff: how long to wait before the next start."""

    def __init__(self, base: float) -> None:
        self.base = base
        self.current = 0.0

    def after_exit(self, ran_for: float) -> float:
        if ran_for >= BACKOFF_RESET_AFTER:
            self.current = 0.0
        delay = self.current
        self.current = self.base if self.current == 0 else min(self.current * 2, BACKOFF_CAP)
        return delay


@dataclass(frozen=True)
class KubeletConfig:
    bridge: host.Bridge
    rootfs: RootfsTemplate
    bin_dir: Path
    backoff_base: float
    events: EventLog
    on_change: Callable[[], None]


class Kubelet:
    def __init__(
        self,
        pod: Pod,
        sts: StatefulSet,
        pod_dir: Path,
        volume_dirs: dict[str, Path],
        config: KubeletConfig,
        veth: str,
    ) -> None:
        self.pod = pod
        self.sts = sts
        self.dir = pod_dir
        self.volume_dirs = volume_dirs
        self.config = config
        self.veth = veth
        self.hosts_file = pod_dir / "hosts"
        self.sandbox: Sandbox | None = None
        self.container: Container | None = None
        self._delete = threading.Event()
        self._wake = threading.Event()
        self._grace = sts.grace_period
        self._exit_cause: str | None = None
        self._wipe_before_restart = False
        self._state = "waiting: ContainerCreating"
        self._exits: list[Termination] = []
        self.gone = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"kubelet-{pod.name}-{pod.uid}", daemon=True)

    # --- requests from the controller and from faults -------------------------

    def start(self) -> None:
        self.thread.start()

    def delete(self, grace: float | None = None) -> None:
        """API deletion: the pod terminates gracefully, then disappears."""
        if grace is not None:
            self._grace = grace
        self.pod.terminating = True
        self.pod.ready = False
        self.config.events.record("pod-deleting", self.pod.name, uid=self.pod.uid, grace=self._grace)
        self.config.on_change()
        self._delete.set()
        self._wake.set()

    def kill_container(self, sig: int = signal.SIGKILL, wait: float = 0.0, wipe_data: bool = False) -> bool:
        """Signal the running container as a fault would; the kubelet restarts it in place.

        With ``wait``, return once the container has exited (for SIGKILL), so
        that whatever is measured next starts after the disruption. With
        ``wipe_data``, its data volumes are emptied before the restart.
        """
        container = self.container
        if container is None or container.exited() is not None:
            return False
        self._exit_cause = "fault"
        self._wipe_before_restart = wipe_data
        container.signal(sig)
        self._wake.set()
        return self._wait_exit(container, wait) if wait and sig == signal.SIGKILL else True

    def signal_process(self, executable: Path, sig: int, wait: float = 0.0) -> bool:
        """Signal the container's process running ``executable`` (etcd under an entrypoint shell)."""
        container = self.container
        pid = container.find_process(executable) if container and container.exited() is None else None
        if pid is None:
            return False
        if sig == signal.SIGKILL:
            self._exit_cause = "fault"  # the entrypoint usually exits with it
        container.signal_pid(pid, sig)
        if wait and sig == signal.SIGKILL:
            deadline = time.monotonic() + wait
            while host.start_time(pid) is not None and time.monotonic() < deadline:
                time.sleep(0.02)
        return True

    @staticmethod
    def _wait_exit(container: Container, wait: float) -> bool:
        try:
            container.process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            return False
        return True

    def status(self, keep: int = 3) -> ContainerStatus:
        """The container's state, restart count and its last ``keep`` terminations."""
        return ContainerStatus(self._state, self.pod.restart_count, tuple(self._exits[-keep:]))

    def exec(self, command: list[str], timeout: float = 10.0) -> tuple[int, str]:
        container = self.container
        if container is None:
            return 1, "container is not running"
        return container.exec(command, timeout)

    # --- the pod's life ------------------------------------------------------

    def _run(self) -> None:
        events = self.config.events
        try:
            self.sandbox = Sandbox.create(self.config.bridge, self.veth, self.pod.name)
            self.pod.ip = self.sandbox.ip
            self.pod.phase = "Running"
            events.record("pod-running", self.pod.name, uid=self.pod.uid, ip=self.pod.ip, node=self.pod.node)
            self.config.on_change()
            backoff = Backoff(self.config.backoff_base)
            delay = 0.0
            while not self._delete.is_set():
                if delay:
                    self._state = "waiting: CrashLoopBackOff"
                    events.record("back-off", self.pod.name, seconds=delay, restart_count=self.pod.restart_count)
                if self._delete.wait(delay):
                    break
                ran_for = self._run_container()
                if self._wipe_before_restart:
                    self._wipe_data()
                if not self._delete.is_set():
                    self.pod.restart_count += 1
                    delay = backoff.after_exit(ran_for)
        except host.HostError as err:
            events.record("pod-failed", self.pod.name, error=str(err))
        finally:
            self._state = "terminated"
            self._teardown()

    def _wipe_data(self) -> None:
        """Empty every writable volume, as a new disk under the same claim would be."""
        self._wipe_before_restart = False
        for volume in self.sts.volumes:
            if volume.kind == "configMap":
                continue
            directory = self.volume_dirs[volume.name]
            for entry in directory.iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
            self.config.events.record("volume-wiped", self.pod.name, volume=volume.name)

    def _spec(self) -> ContainerSpec:
        c = self.sts.container
        fields = {
            "metadata.name": self.pod.name,
            "metadata.namespace": self.sts.namespace,
            "status.podIP": self.pod.ip or "",
            "spec.nodeName": self.pod.node or "",
            "status.hostIP": self.config.bridge.gateway,
        }
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME": self.pod.name}
        for var in c.env:
            env[var.name] = fields[var.field_path] if var.field_path else expand(var.value, env)
        volumes = {v.name: v for v in self.sts.volumes}
        mounts = [
            (self.volume_dirs[m.volume], m.path, m.read_only or volumes[m.volume].kind == "configMap")
            for m in c.mounts
        ]
        files = [(self.hosts_file, "/etc/hosts"), (self.dir / "resolv.conf", "/etc/resolv.conf")]
        command = [expand(arg, env) for arg in c.command]
        return ContainerSpec(command, env, c.working_dir, self.config.bin_dir, files, mounts)

    def _run_container(self) -> float:
        """Run one container to its end; return how long it ran."""
        events = self.config.events
        log_path = self.dir / "logs" / f"{self.pod.restart_count}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.pod.logs.append(log_path)
        self._exit_cause = None
        started = time.monotonic()
        with open(log_path, "ab") as log:
            container = Container(self.sandbox, self._spec(), self.dir / "root", self.config.rootfs, log)
        self.container = container
        self._state = "running"
        events.record("container-started", self.pod.name, uid=self.pod.uid, restart_count=self.pod.restart_count)
        c = self.sts.container
        probes = ProbeSet.for_container(c.startup, c.liveness, c.readiness, time.monotonic())
        self._set_ready(probes.ready)
        while container.exited() is None:
            if self._delete.is_set():
                self._terminate(container, "deleted")
                break
            now = time.monotonic()
            demand = probes.run_due(now, lambda p: attempt(p, self.pod.ip or "", container.exec))
            self._set_ready(probes.ready)
            if demand:
                events.record("probe-kill", self.pod.name, probe=demand)
                self._terminate(container, f"{demand}-probe")
                break
            due = probes.next_due()
            self._wake.wait(0.05 if due is None else max(0.0, min(due - time.monotonic(), 0.05)))
            self._wake.clear()
        container.process.wait()
        code = container.exited()
        self._set_ready(False)
        self._state = "waiting"
        killed = self._exit_cause
        self._exits.append(Termination(code, f"killed: {killed}" if killed else "Completed" if code == 0 else "Error"))
        events.record(
            "container-exited",
            self.pod.name,
            uid=self.pod.uid,
            exit_code=code,
            cause=self._exit_cause or "crash",
            restart_count=self.pod.restart_count,
            log=str(log_path),
        )
        return time.monotonic() - started

    def _set_ready(self, ready: bool) -> None:
        ready = ready and not self.pod.terminating
        if ready != self.pod.ready:
            self.pod.ready = ready
            self.config.events.record("pod-ready" if ready else "pod-not-ready", self.pod.name, uid=self.pod.uid)
            self.config.on_change()

    def _terminate(self, container: Container, cause: str) -> None:
        """preStop, then SIGTERM, then SIGKILL when the grace period runs out."""
        self._exit_cause = cause
        grace = self._grace
        deadline = time.monotonic() + grace
        pre_stop = self.sts.container.pre_stop
        if pre_stop and grace > 0:
            code, output = container.exec(list(pre_stop), timeout=grace)
            self.config.events.record("pre-stop", self.pod.name, exit_code=code, output=output[-2000:])
            deadline = max(deadline, time.monotonic() + MIN_GRACE_AFTER_PRESTOP)
        if grace > 0:
            container.signal(signal.SIGTERM)
            try:
                container.process.wait(timeout=max(0.0, deadline - time.monotonic()))
                return
            except subprocess.TimeoutExpired:
                pass
        container.signal(signal.SIGKILL)

    def _teardown(self) -> None:
        if self.container is not None and self.container.exited() is None:
            self.container.signal(signal.SIGKILL)
            self.container.process.wait(timeout=10)
        if self.sandbox is not None:
            self.sandbox.destroy(self.config.bridge)
        self.pod.phase = "Gone"
        self.config.events.record("pod-gone", self.pod.name, uid=self.pod.uid)
        self.gone.set()
        self.config.on_change()
