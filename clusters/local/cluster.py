"""The local backend: a StatefulSet's pods as real etcd processes on this machine.

This module is the emulated control plane: the StatefulSet controller (ordinal
pods, OrderedReady or Parallel, replacement only once the old object is gone),
a scheduler over N logical nodes (anti-affinity spreads pods, node-local
volumes pin them), volumes (claims outlive pods, emptyDir dies with them) and
the Service's DNS. Each pod's life is its kubelet's (``kubelet.py``).
"""

from __future__ import annotations

import functools
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from clusters.base import Cluster, ContainerStatus, EvictionBlocked, PodInfo, Unsupported
from clusters.events import EventLog
from clusters.local import dns, eviction, host, leftovers, netem, netfilter
from clusters.local.kubelet import Kubelet, KubeletConfig, Pod
from clusters.local.sandbox import RootfsTemplate
from clusters.manifests import Volume
from clusters.strategy import Strategy

SYNC_PERIOD = 0.2
DELETE_MARGIN = 30.0  # beyond the grace period: the kubelet's SIGKILL and teardown
KILL_WAIT = 10.0


@dataclass(frozen=True)
class LocalOptions:
    """Knobs of the emulation; timers default to Kubernetes' own values."""

    etcd_bin_dir: Path
    nodes: int = 5
    node_local_volumes: bool = False
    backoff_base: float = 10.0


@functools.cache
def etcd_version(bin_dir: Path) -> str:
    """Asked once per binary: it costs a process start, and clusters start often."""
    etcd = bin_dir / "etcd"
    if not os.access(etcd, os.X_OK):
        raise host.HostError(f"no etcd binary at {etcd}: pass --etcd-bin-dir with a directory holding etcd and etcdctl")
    out = subprocess.run([str(etcd), "--version"], check=False, capture_output=True, text=True, timeout=10).stdout
    for line in out.splitlines():
        if line.startswith("etcd Version:"):
            return line.split(":", 1)[1].strip()
    raise host.HostError(f"{etcd} --version did not print a version")


class LocalCluster(Cluster):
    backend = "local"

    def __init__(self, strategy: Strategy, options: LocalOptions, replicas: int | None = None) -> None:
        self.strategy = strategy
        self.options = options
        self.sts = strategy.manifests.statefulset
        self.zone = dns.Zone(self.sts.service_name, self.sts.namespace, strategy.manifests.service.publish_not_ready)
        self.replicas = replicas if replicas is not None else self.sts.replicas
        self.etcd_version = etcd_version(options.etcd_bin_dir)
        self.events = EventLog()
        self.run_id = secrets.token_hex(3)
        self.run_dir = leftovers.BASE_DIR / self.run_id
        self.nodes = [f"node-{i}" for i in range(options.nodes)]
        self.cordoned: set[str] = set()
        self._pods: dict[int, Pod] = {}
        self._kubelets: dict[int, Kubelet] = {}
        self._all_pods: list[Pod] = []
        self._claim_nodes: dict[str, str] = {}
        self._uid = 0
        self._revision = 0
        self._dns_holds: dict[str, dns.CachedAnswer] = {}
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._records: list[tuple[str, list[str]]] | None = None
        self._bridge: host.Bridge | None = None
        self._controller = threading.Thread(target=self._loop, name=f"statefulset-{self.sts.name}", daemon=True)

    # --- lifecycle ------------------------------------------------------------

    def start(self) -> None:
        host.check_host()
        leftovers.sweep()
        bridge_name = f"ecb{self.run_id}"
        leftovers.claim(self.run_dir, bridge_name)
        self._bridge = host.Bridge(bridge_name, host.free_subnet(int(self.run_id, 16)))
        rootfs = RootfsTemplate(self.run_dir, [m.path for m in self.sts.container.mounts])
        self._config = KubeletConfig(
            bridge=self._bridge,
            rootfs=rootfs,
            bin_dir=self.options.etcd_bin_dir,
            backoff_base=self.options.backoff_base,
            events=self.events,
            on_change=self._sync,
        )
        self._config_map_dirs = {v.name: self._project_config_map(v) for v in self.sts.volumes if v.kind == "configMap"}
        self.events.record("cluster-created", strategy=self.strategy.name, replicas=self.replicas)
        self._sync()
        self._controller.start()

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        with self._lock:
            kubelets = list(self._kubelets.values())
        for kubelet in kubelets:
            kubelet.delete(grace=0)
        for kubelet in kubelets:
            kubelet.gone.wait(timeout=15)
        if self._controller.is_alive():
            self._controller.join(timeout=5)
        leftovers.release(self.run_dir, self._bridge.name if self._bridge else f"ecb{self.run_id}")

    # --- the controller -------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopping.wait(SYNC_PERIOD):
            self._sync()

    def _sync(self) -> None:
        if self._stopping.is_set():
            return
        with self._lock:
            for ordinal, kubelet in list(self._kubelets.items()):
                if kubelet.gone.is_set():
                    del self._kubelets[ordinal]
                    self._pods.pop(ordinal, None)
                    self._delete_pod_volumes(kubelet)
            for ordinal in range(self.replicas):
                pod = self._pods.get(ordinal)
                if pod is None:
                    pod = self._new_pod(ordinal)
                if pod.node is None:
                    self._schedule(pod)
                if not self.sts.parallel and not eviction.healthy(pod):
                    break
            self._scale_down()
            self._roll_out()
            self._publish()

    def _remove(self, pod: Pod) -> None:
        """Delete a pod object: a scheduled one terminates through its kubelet, a Pending one just goes."""
        kubelet = self._kubelets.get(pod.ordinal)
        if kubelet is not None and kubelet.pod is pod:
            if not pod.terminating:
                kubelet.delete()
        else:
            del self._pods[pod.ordinal]
            self.events.record("pod-gone", pod.name, uid=pod.uid)

    def _scale_down(self) -> None:
        """Highest ordinal first, one at a time and only while the others are healthy (Parallel: all at once)."""
        condemned = sorted((p for o, p in self._pods.items() if o >= self.replicas), key=lambda p: -p.ordinal)
        if self.sts.parallel:
            for pod in condemned:
                self._remove(pod)
            return
        if not condemned or any(p.terminating for p in condemned):
            return
        target = condemned[0]
        others_healthy = all(eviction.healthy(p) for p in self._pods.values() if p is not target)
        if others_healthy or not eviction.healthy(target):
            self._remove(target)

    def _roll_out(self) -> None:
        """RollingUpdate, maxUnavailable 1: replace the highest old-revision pod once every pod is healthy."""
        pods = [self._pods.get(o) for o in range(self.replicas)]
        if any(p is None or not eviction.healthy(p) for p in pods):
            return
        old = [p for p in pods if p is not None and p.revision != self._revision]
        if old:
            pod = max(old, key=lambda p: p.ordinal)
            self.events.record("rolling-update", pod.name, uid=pod.uid, revision=self._revision)
            self._remove(pod)

    def _new_pod(self, ordinal: int) -> Pod:
        self._uid += 1
        pod = Pod(name=f"{self.sts.name}-{ordinal}", ordinal=ordinal, uid=self._uid, revision=self._revision)
        self._pods[ordinal] = pod
        self._all_pods.append(pod)
        self.events.record("pod-created", pod.name, uid=pod.uid)
        return pod

    def _schedule(self, pod: Pod) -> None:
        """Pick a node, or leave the pod Pending (and say why, once)."""
        claims = [self._claim_name(v, pod.ordinal) for v in self.sts.volumes if v.kind == "claim"]
        pinned = {self._claim_nodes[c] for c in claims if c in self._claim_nodes}
        candidates = [n for n in self.nodes if n not in self.cordoned]
        if pinned:
            candidates = [n for n in candidates if n in pinned]
        load = {n: 0 for n in candidates}
        for other in self._pods.values():
            if other is not pod and other.node in load:
                load[other.node] += 1
        if self.sts.anti_affinity == "required":
            candidates = [n for n in candidates if load[n] == 0]
        if not candidates:
            return
        node = min(candidates, key=lambda n: (load[n] if self.sts.anti_affinity != "none" else 0, self.nodes.index(n)))
        pod.node = node
        if self.options.node_local_volumes:
            for claim in claims:
                self._claim_nodes.setdefault(claim, node)
        self.events.record("pod-scheduled", pod.name, uid=pod.uid, node=node)
        pod_dir = self.run_dir / "pods" / f"{pod.name}-{pod.uid}"
        pod_dir.mkdir(parents=True)
        (pod_dir / "resolv.conf").write_text(dns.RESOLV_CONF)
        (pod_dir / "hosts").write_text("")
        kubelet = Kubelet(
            pod, self.sts, pod_dir, self._volume_dirs(pod, pod_dir), self._config, f"ec{self.run_id}{pod.uid}"
        )
        self._kubelets[pod.ordinal] = kubelet
        kubelet.start()

    # --- volumes --------------------------------------------------------------

    def _claim_name(self, volume: Volume, ordinal: int) -> str:
        return f"{volume.name}-{self.sts.name}-{ordinal}"

    def _volume_dirs(self, pod: Pod, pod_dir: Path) -> dict[str, Path]:
        dirs = {}
        for volume in self.sts.volumes:
            if volume.kind == "claim":
                path = self.run_dir / "claims" / self._claim_name(volume, pod.ordinal)
            elif volume.kind == "emptyDir":
                path = pod_dir / "volumes" / volume.name
            else:
                path = self._config_map_dirs[volume.name]
            path.mkdir(parents=True, exist_ok=True)
            dirs[volume.name] = path
        return dirs

    def _delete_pod_volumes(self, kubelet: Kubelet) -> None:
        """emptyDir and the container root die with the pod; logs stay for the checks."""
        shutil.rmtree(kubelet.dir / "volumes", ignore_errors=True)
        shutil.rmtree(kubelet.dir / "root", ignore_errors=True)

    def _project_config_map(self, volume: Volume) -> Path:
        data = self.strategy.manifests.config_maps[volume.config_map or ""]
        target = self.run_dir / "configmaps" / volume.name
        target.mkdir(parents=True)
        items = volume.items or tuple((key, key, None) for key in data)
        for key, rel, mode in items:
            path = target / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(data[key])
            path.chmod(mode if mode is not None else volume.default_mode)
        return target

    # --- DNS ------------------------------------------------------------------

    def _publish(self) -> None:
        records = self._apply_holds(self.zone.records(self._pods.values()))
        for kubelet in self._kubelets.values():
            if kubelet.pod.phase == "Running" or kubelet.pod.ip:
                dns.write_in_place(kubelet.hosts_file, self.zone.hosts_file(kubelet.pod, records))
        if records != self._records:
            self._records = records
            self.events.record("dns", None, records={ip: names[0] for ip, names in records})

    def _apply_holds(self, records: list[tuple[str, list[str]]]) -> list[tuple[str, list[str]]]:
        records, changes = dns.serve_cached(self.zone, records, self._dns_holds, time.monotonic())
        for kind, name, detail in changes:
            self.events.record(kind, name, **detail)
        return records

    # --- what faults and the harness use --------------------------------------

    def pods(self) -> list[PodInfo]:
        with self._lock:
            pods = sorted(self._pods.values(), key=lambda p: p.ordinal)
            return [self._info(p) for p in pods]

    @staticmethod
    def _info(p: Pod) -> PodInfo:
        return PodInfo(p.name, p.ordinal, str(p.uid), p.node, p.ip, p.phase, p.ready, p.terminating, p.restart_count)

    def _kubelet(self, name: str) -> Kubelet:
        with self._lock:
            for kubelet in self._kubelets.values():
                if kubelet.pod.name == name and not kubelet.gone.is_set():
                    return kubelet
        raise Unsupported(f"pod {name} has no running kubelet (Pending or gone)")

    def delete_pods(self, names: list[str], grace: float | None = None) -> None:
        kubelets = [self._kubelet(name) for name in names]
        for kubelet in kubelets:
            kubelet.delete(grace)
        limit = (self.sts.grace_period if grace is None else grace) + DELETE_MARGIN
        deadline = time.monotonic() + limit
        for kubelet in kubelets:
            if not kubelet.gone.wait(timeout=max(0.0, deadline - time.monotonic())):
                raise host.HostError(f"pod {kubelet.pod.name} was not gone {limit:.0f}s after its deletion")

    def kill_container(self, name: str, sig: int = signal.SIGKILL, wipe_data: bool = False) -> None:
        if not self._kubelet(name).kill_container(sig, wait=KILL_WAIT, wipe_data=wipe_data):
            raise Unsupported(f"pod {name} has no running container to signal")

    def signal_etcd(self, name: str, sig: int) -> None:
        if not self._kubelet(name).signal_process(self.options.etcd_bin_dir / "etcd", sig, wait=KILL_WAIT):
            raise Unsupported(f"pod {name} runs no etcd process to signal")

    def evict(self, name: str) -> None:
        with self._lock:
            kubelet = self._kubelet(name)
            reason = eviction.blocked(self.strategy.manifests.budget, list(self._pods.values()), self.replicas, kubelet.pod)
            if reason:
                self.events.record("eviction-blocked", name, reason=reason)
                raise EvictionBlocked(reason)
            self.events.record("evicted", name, uid=kubelet.pod.uid)
            kubelet.delete()

    def set_schedulable(self, node: str, schedulable: bool) -> None:
        if node not in self.nodes:
            raise KeyError(f"no node named {node}")
        with self._lock:
            (self.cordoned.discard if schedulable else self.cordoned.add)(node)
        self.events.record("uncordoned" if schedulable else "cordoned", None, node=node)
        self._sync()

    def set_replicas(self, replicas: int) -> None:
        with self._lock:
            self.events.record("scaled", None, replicas=replicas, previous=self.replicas)
            self.replicas = replicas
        self._sync()

    def rollout_restart(self) -> None:
        with self._lock:
            self._revision += 1
            self.events.record("rollout-restart", None, revision=self._revision)
        self._sync()

    def rollout_complete(self) -> bool:
        with self._lock:
            pods = [self._pods.get(o) for o in range(self.replicas)]
            return len(self._pods) == self.replicas and all(
                p is not None and p.revision == self._revision and eviction.healthy(p) for p in pods
            )

    def missing(self, capability: str) -> str | None:
        if capability == "network-cut":
            return netfilter.check_available()
        if capability == "network-delay":
            return netem.check_available()
        if capability == "dns-cache":
            return None
        return super().missing(capability)

    def cut_network(self, name: str, direction: str) -> None:
        netfilter.cut(self._pause_pid(name), self._config.bridge.subnet, self._config.bridge.gateway, direction)

    def restore_network(self, name: str) -> None:
        try:
            netfilter.restore(self._pause_pid(name))
        except Unsupported:
            return  # re-created meanwhile: a new sandbox has no cut

    def _pause_pid(self, name: str) -> int:
        kubelet = self._kubelet(name)
        if kubelet.sandbox is None:
            raise Unsupported(f"pod {name} has no sandbox yet")
        return kubelet.sandbox.pause.pid

    def delay_network(self, name: str, milliseconds: int) -> None:
        netem.delay(self._pause_pid(name), milliseconds)

    def restore_delay(self, name: str) -> None:
        try:
            netem.restore(self._pause_pid(name))
        except Unsupported:
            return  # re-created meanwhile: a new sandbox has no delay

    def hold_dns(self, name: str, seconds: float) -> None:
        with self._lock:
            ip = next((p.ip for p in self._pods.values() if p.name == name), None)
            if ip is None:
                raise Unsupported(f"pod {name} has no address to cache")
            self._dns_holds[name] = dns.CachedAnswer(ip, seconds)
            self.events.record("dns-hold", name, ip=ip, seconds=seconds)

    def container_status(self, name: str) -> ContainerStatus:
        with self._lock:
            pod = next((p for p in self._pods.values() if p.name == name), None)
            if pod is None:
                raise KeyError(f"no pod named {name}")
            kubelet = self._kubelets.get(pod.ordinal)
        if kubelet is None or kubelet.pod is not pod:
            # Only an unscheduled pod has no kubelet: its container does not exist yet.
            return ContainerStatus("not created: the pod is Pending, no node fits it", 0)
        return kubelet.status()

    def exec(self, name: str, command: list[str], timeout: float = 10.0) -> tuple[int, str]:
        return self._kubelet(name).exec(command, timeout)

    def _log_files(self) -> list[tuple[Pod, Path]]:
        """Every container run's log, pod by pod in creation order, oldest run first."""
        with self._lock:
            pods = list(self._all_pods)
        return [(pod, path) for pod in pods for path in pod.logs if path.exists()]

    def logs(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {}
        for pod, path in self._log_files():
            result.setdefault(pod.name, []).append(path.read_text(errors="replace"))
        return result

    def save_logs(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for pod, path in self._log_files():
            shutil.copyfile(path, directory / f"{pod.name}-uid{pod.uid}-run{path.stem}.log")
