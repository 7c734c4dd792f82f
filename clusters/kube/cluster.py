"""A strategy's etcd cluster on a real Kubernetes, through its API and a node driver.

Each scenario gets its own namespace: the strategy's documents are applied
there unchanged (``apply.py``), Kubernetes' own controllers, scheduler and
kubelets do the rest, and everything the harness knows about the pods comes
back through a watch (``watch.py``) and the logs API (``logs.py``). What the
API cannot do (kill, freeze, wipe, cut) goes to the node driver of the way the
cluster was made (``driver.py``).
"""

from __future__ import annotations

import datetime
import ipaddress
import secrets
import signal
import threading
import time
from pathlib import Path
from typing import Any

from clusters.backend import Cluster, ContainerStatus, EvictionBlocked, PodInfo, Unsupported
from clusters.events import EventLog
from clusters.kube import apply, etcd_image, owner, placement
from clusters.kube import pods as podview
from clusters.kube.api import Api, ApiError
from clusters.kube.driver import NODE_CAPABILITIES, DriverError, NodeDriver
from clusters.kube.logs import LogKeeper
from clusters.kube.watch import PodWatch
from clusters.kube import netfilter
from clusters.strategy import Strategy

DELETE_MARGIN = 30.0  # beyond the grace period: the kubelet's SIGKILL, the volume teardown, the API's removal
EXIT_WAIT = 10.0  # for a signalled container to show as ended in its pod's status
NAMESPACE_GONE = 120.0
CLUSTER_CIDR = "10.244.0.0/16"
CONTROL_PLANE_TAINTS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")
DRY_RUN_PREFIX = "ec-dry-run-"  # the namespace that judges the manifests; scenarios' are ec-<strategy>-<hex>


class KubeCluster(Cluster):
    def __init__(
        self, strategy: Strategy, api: Api, driver: NodeDriver, backend: str, etcd_version: str,
        pod_cidr: str = CLUSTER_CIDR, replicas: int | None = None, etcd_flags: dict[str, str] | None = None,
    ) -> None:
        self.strategy = strategy
        self.api = api
        self.driver = driver
        self.backend = backend
        self.etcd_version = etcd_version
        self.etcd_flags = dict(etcd_flags or {})
        self.pod_cidr = pod_cidr
        self.sts = strategy.manifests.statefulset
        self.replicas = replicas if replicas is not None else self.sts.replicas
        self.namespace = f"ec-{strategy.name[:40]}-{secrets.token_hex(3)}".lower()
        self.events = EventLog()
        self.logs_kept = LogKeeper(api, self.namespace)
        self.watch = PodWatch(api, self.namespace, self.events, self.logs_kept.on_pod)
        self._stopped = threading.Event()
        self._cut: dict[str, tuple[str, str]] = {}  # pod name -> (node, pod uid) of a cut not yet healed
        self._delayed: dict[str, tuple[str, str]] = {}  # the same for a delay

    # --- lifecycle ------------------------------------------------------------

    def start(self) -> None:
        self.api.call(self.api.core.create_namespace, owner.namespace(self.namespace))
        self.events.record("cluster-created", strategy=self.strategy.name, replicas=self.replicas, namespace=self.namespace)
        self.watch.start()
        documents = [etcd_image.at_release(d, self.etcd_version, self.etcd_flags) for d in self.strategy.manifests.documents]
        if self.replicas != self.sts.replicas:
            documents = [_with_replicas(d, self.sts.name, self.replicas) for d in documents]
        if self.nodes is not None:
            documents = [placement.confine(d, self.nodes) for d in documents]
        apply.apply_all(self.api, documents, self.namespace)

    def stop(self) -> None:
        """Force-delete the pods (nobody observes their grace period now), then the namespace; do not wait.

        Kubernetes goes on removing it while the next scenario starts; a
        session waits for all of its namespaces once, at its end (``wait_gone``).
        """
        if self._stopped.is_set():
            return
        self._stopped.set()
        try:
            self.api.call(self.api.core.delete_collection_namespaced_pod, self.namespace, grace_period_seconds=0)
            self.api.call(self.api.core.delete_namespace, self.namespace)
        except ApiError as error:
            if error.status != 404:
                raise
        finally:
            self.watch.stop()
            self.logs_kept.stop()

    # --- observation ----------------------------------------------------------

    def _own(self) -> list[dict[str, Any]]:
        """The StatefulSet's pods (a strategy may run others beside them), lowest ordinal first."""
        prefix = f"{self.sts.name}-"
        mine = [
            p for p in self.watch.pods()
            if p["metadata"]["name"].startswith(prefix) and podview.ordinal(p["metadata"]["name"]) >= 0
            and any(o.get("kind") == "StatefulSet" and o.get("name") == self.sts.name for o in p["metadata"].get("ownerReferences") or [])
        ]
        return sorted(mine, key=lambda p: podview.ordinal(p["metadata"]["name"]))

    def pods(self) -> list[PodInfo]:
        return [podview.info(p) for p in self._own()]

    def _pod(self, name: str) -> dict[str, Any]:
        for pod in self._own():
            if pod["metadata"]["name"] == name:
                return pod
        raise KeyError(f"no pod named {name}")

    def container_status(self, name: str) -> ContainerStatus:
        return podview.container_status(self._pod(name))

    def logs(self) -> dict[str, list[str]]:
        return self.logs_kept.logs()

    def save_logs(self, directory: Path) -> None:
        self.logs_kept.save(directory)

    # --- the API's disruptions ------------------------------------------------

    def delete_pods(self, names: list[str], grace: float | None = None) -> None:
        uids = {name: self._pod(name)["metadata"]["uid"] for name in names}
        seconds = None if grace is None else int(grace)
        threads = [
            threading.Thread(target=self._delete, args=(name, uid, seconds)) for name, uid in uids.items()
        ]  # the same instant, as one `kubectl delete pod a b` nearly is
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        limit = (self.sts.grace_period if grace is None else grace) + DELETE_MARGIN

        def gone(pods: list[dict[str, Any]]) -> bool:
            current = {p["metadata"]["name"]: p["metadata"]["uid"] for p in pods}
            return all(current.get(name) != uid for name, uid in uids.items())

        if not self.watch.wait(gone, limit):
            raise RuntimeError(f"pods {', '.join(names)} were not gone {limit:.0f}s after their deletion")

    def _delete(self, name: str, uid: str, grace: int | None) -> None:
        body = {"preconditions": {"uid": uid}}
        if grace is not None:
            body["gracePeriodSeconds"] = grace
        try:
            self.api.call(self.api.core.delete_namespaced_pod, name, self.namespace, body=body)
        except ApiError as error:
            if error.status not in (404, 409):  # gone already, or replaced: either way the pod we meant is gone
                raise

    def evict(self, name: str) -> None:
        body = {"metadata": {"name": name, "namespace": self.namespace}}
        try:
            self.api.call(self.api.core.create_namespaced_pod_eviction, name, self.namespace, body)
        except ApiError as error:
            if error.status == 429:
                self.events.record("eviction-blocked", name, reason=str(error))
                raise EvictionBlocked(str(error)) from None
            raise
        self.events.record("evicted", name)

    def set_schedulable(self, node: str, schedulable: bool) -> None:
        try:
            self.api.call(self.api.core.patch_node, node, {"spec": {"unschedulable": None if schedulable else True}})
        except ApiError as error:
            if error.status == 404:
                raise KeyError(f"no node named {node}") from None
            raise
        self.events.record("uncordoned" if schedulable else "cordoned", None, node=node)

    def set_replicas(self, replicas: int) -> None:
        self.events.record("scaled", None, replicas=replicas, previous=self.replicas)
        self.api.call(
            self.api.apps.patch_namespaced_stateful_set_scale, self.sts.name, self.namespace, {"spec": {"replicas": replicas}}
        )
        self.replicas = replicas

    def rollout_restart(self) -> None:
        """What ``kubectl rollout restart`` patches: a template annotation, hence a new revision."""
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        patch = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": now}}}}}
        self.api.call(self.api.apps.patch_namespaced_stateful_set, self.sts.name, self.namespace, patch)
        self.events.record("rollout-restart", None)

    def change_etcd_release(self, release: str) -> None:
        """The StatefulSet's etcd image moved to another release, as an operator's upgrade edits it."""
        sts = self.api.raw(self.api.apps.read_namespaced_stateful_set, self.sts.name, self.namespace)
        containers = etcd_image.release_patch(sts["spec"]["template"]["spec"], release)
        if not containers:
            raise Unsupported(f"no container of StatefulSet {self.sts.name} runs the {etcd_image.REPOSITORY} image")
        patch = {"spec": {"template": {"spec": containers}}}
        self.api.call(self.api.apps.patch_namespaced_stateful_set, self.sts.name, self.namespace, patch)
        self.events.record("etcd-release-changed", None, release=release)

    def rollout_complete(self) -> bool:
        """``kubectl rollout status``: the controller saw the new revision and every replica runs it, ready."""
        sts = self.api.raw(self.api.apps.read_namespaced_stateful_set, self.sts.name, self.namespace)
        status = sts.get("status", {})
        return (
            status.get("observedGeneration", 0) >= sts["metadata"].get("generation", 0)
            and status.get("updateRevision") == status.get("currentRevision")
            and status.get("updatedReplicas", 0) == self.replicas
            and status.get("readyReplicas", 0) == self.replicas
            and len(self._own()) == self.replicas
        )

    # --- the node driver's disruptions ---------------------------------------

    def _running(self, name: str) -> tuple[dict[str, Any], str, str]:
        """The pod, its node and its main container's id; Unsupported when it does not run now."""
        pod = self._pod(name)
        container_id = podview.container_id(pod, podview.main_container(pod))
        node = pod.get("spec", {}).get("nodeName")
        if not container_id or not node:
            raise Unsupported(f"pod {name} has no running container to act on ({self.container_status(name).state})")
        return pod, node, container_id

    def _ended(self, name: str, container_id: str) -> bool:
        pod = next((p for p in self._own() if p["metadata"]["name"] == name), None)
        return pod is None or podview.container_id(pod, podview.main_container(pod)) != container_id

    def kill_container(self, name: str, sig: int = signal.SIGKILL, wipe_data: bool = False) -> None:
        pod, node, container_id = self._running(name)
        self.watch.fault_kills.add(container_id)
        try:
            if wipe_data:
                self.driver.freeze(node, container_id)  # nothing writes between the wipe and the kill
                for volume, path in self._data_dirs(pod, node):
                    self.driver.wipe(node, path)
                    self.events.record("volume-wiped", name, volume=volume)
            self.driver.signal(node, container_id, sig)
        except DriverError as error:
            raise Unsupported(f"pod {name}: {error}") from None
        if not self.watch.wait(lambda _: self._ended(name, container_id), EXIT_WAIT):
            raise RuntimeError(f"pod {name}: its container still ran {EXIT_WAIT:.0f}s after the signal")

    def signal_etcd(self, name: str, sig: int) -> None:
        _pod, node, container_id = self._running(name)
        if sig == signal.SIGKILL:
            self.watch.fault_kills.add(container_id)  # an etcd that is the container's PID 1 takes it along
        try:
            self.driver.signal(node, container_id, sig, process="etcd")
        except DriverError as error:
            raise Unsupported(f"pod {name}: {error}") from None

    def _data_dirs(self, pod: dict[str, Any], node: str) -> list[tuple[str, str]]:
        """Every writable volume of the pod and the node directory behind it: claims and emptyDirs."""
        found = []
        for volume in pod["spec"].get("volumes") or []:
            if "persistentVolumeClaim" in volume:
                claim = self.api.raw(
                    self.api.core.read_namespaced_persistent_volume_claim, volume["persistentVolumeClaim"]["claimName"], self.namespace
                )
                pv = self.api.raw(self.api.core.read_persistent_volume, claim["spec"]["volumeName"])
                path = (pv["spec"].get("hostPath") or pv["spec"].get("local") or {}).get("path")
                if not path:
                    raise Unsupported(f"volume {volume['name']}: its PersistentVolume has no node directory to wipe")
                found.append((volume["name"], path))
            elif "emptyDir" in volume:
                found.append((volume["name"], self.driver.pod_volume_dir(node, pod["metadata"]["uid"], "kubernetes.io~empty-dir", volume["name"])))
        return found

    def node_down(self, node: str) -> None:
        for pod in self._own():  # their containers die with the node: by the fault's hand, not by a crash
            if pod.get("spec", {}).get("nodeName") == node:
                for entry in pod.get("status", {}).get("containerStatuses") or []:
                    if entry.get("containerID"):
                        self.watch.fault_kills.add(entry["containerID"])
        try:
            self.driver.node_down(node)
        except DriverError as error:
            raise Unsupported(str(error)) from None
        self.events.record("node-down", None, node=node)

    def node_up(self, node: str) -> None:
        self.driver.node_up(node)
        self.events.record("node-up", None, node=node)

    def missing(self, capability: str) -> str | None:
        if capability in NODE_CAPABILITIES:
            return self.driver.missing(capability)
        if capability == "dns-cache":  # held by no backend; the driver knows why its cluster's DNS has nothing to hold
            return self.driver.missing(capability) or super().missing(capability)
        return super().missing(capability)

    def cut_network(self, name: str, direction: str) -> None:
        """Rules in the pod's own network namespace, which outlives container restarts but not the pod.

        The node's address passes: the harness's clients and the kubelet's probes come from it.
        """
        pod = self._pod(name)
        node = pod.get("spec", {}).get("nodeName")
        host_ip = pod.get("status", {}).get("hostIP")
        if not node or not host_ip:
            raise Unsupported(f"pod {name} has no node address yet")
        subnet = ipaddress.ip_network(self.pod_cidr)
        node_range = self.api.raw(self.api.core.read_node, node).get("spec", {}).get("podCIDR")
        gateway = netfilter.node_gateway(subnet, host_ip, node_range)
        if gateway is None:
            raise Unsupported(f"pod {name}: node {node} has neither an address nor a pod range inside {subnet}")
        script = netfilter.ruleset(subnet, gateway, direction)
        self._in_network(self._cut, name, ["nft", script])

    def delay_network(self, name: str, milliseconds: int) -> None:
        """Every packet the pod sends waits ``milliseconds`` (netem on its interface, in its own namespace)."""
        argv = ["tc", "qdisc", "replace", "dev", netfilter.POD_INTERFACE, "root", "netem", "delay", f"{milliseconds}ms"]
        self._in_network(self._delayed, name, argv)

    def _in_network(self, done: dict[str, tuple[str, str]], name: str, argv: list[str]) -> None:
        """Run ``argv`` in the pod's network namespace and remember which pod it was, for the undo."""
        pod = self._pod(name)
        node, uid = pod.get("spec", {}).get("nodeName"), pod["metadata"]["uid"]
        if not node:
            raise Unsupported(f"pod {name} is not on a node yet")
        try:
            self.driver.in_pod_network(node, uid, argv)
        except DriverError as error:
            raise Unsupported(f"pod {name}: {error}") from None
        done[name] = (node, uid)

    def restore_delay(self, name: str) -> None:
        self._undo(self._delayed, name, ["tc", "qdisc", "del", "dev", netfilter.POD_INTERFACE, "root"])

    def restore_network(self, name: str) -> None:
        self._undo(self._cut, name, ["nft", netfilter.REMOVE])

    def _undo(self, done: dict[str, tuple[str, str]], name: str, argv: list[str]) -> None:
        """Run ``argv`` in the network of the pod ``done`` recorded for ``name``, if that pod still exists."""
        node, uid = done.pop(name, (None, ""))
        if node is None:
            return
        try:
            self.driver.in_pod_network(node, uid, argv)
        except DriverError:
            if any(p["metadata"]["uid"] == uid for p in self._own()):
                raise
            # deleted meanwhile: its network namespace, and what was loaded into it, are gone


def _managed_namespaces(api: Api) -> list[dict[str, Any]]:
    return api.raw(api.core.list_namespace, label_selector=f"{owner.LABEL}={owner.MANAGER}").get("items", [])


def sweep(api: Api) -> list[str]:
    """Delete the scenario namespaces whose harness process was killed; return their names."""
    dead = [
        ns["metadata"]["name"] for ns in _managed_namespaces(api)
        if owner.is_dead((ns["metadata"].get("annotations") or {}).get(owner.ANNOTATION, ""))
        and not ns["metadata"].get("deletionTimestamp")
    ]
    for name in dead:
        api.call(api.core.delete_namespace, name)
    return dead


def wait_gone(api: Api, namespaces: list[str], timeout: float = NAMESPACE_GONE) -> list[str]:
    """Wait until every one of ``namespaces`` is gone; return those still there at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        left = sorted(set(namespaces) & {ns["metadata"]["name"] for ns in _managed_namespaces(api)})
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.5)


def worker_nodes(api: Api) -> list[str]:
    """Every node but a control plane's (tainted to keep pods off), cordoned or down or not.

    A node a running scenario has cordoned or taken down is still counted, so
    that every process splitting the nodes into lanes at any moment agrees.
    """
    listed = api.raw(api.core.list_node).get("items", [])
    return [
        n["metadata"]["name"] for n in listed
        if not any(t.get("key") in CONTROL_PLANE_TAINTS for t in n["spec"].get("taints") or [])
    ]


def refusals(api: Api, strategies: list[Strategy]) -> list[str]:
    """What the API server would refuse of each strategy, one line each; empty when every one would apply.

    Judged by a dry run in a namespace of its own, deleted at once (a killed
    run's is swept like a scenario's), so that a refused manifest is known
    before the first scenario and not after an hour of others.
    """
    scratch = f"{DRY_RUN_PREFIX}{secrets.token_hex(3)}"
    api.call(api.core.create_namespace, owner.namespace(scratch))
    try:
        refused = []
        for strategy in strategies:
            try:
                apply.dry_run(api, list(strategy.manifests.documents), scratch)
            except apply.ApplyError as error:
                refused.append(f"{strategy.directory}: {error}")
        return refused
    finally:
        api.call(api.core.delete_namespace, scratch)


def _with_replicas(doc: dict[str, Any], name: str, replicas: int) -> dict[str, Any]:
    if doc.get("kind") == "StatefulSet" and doc.get("metadata", {}).get("name") == name:
        return {**doc, "spec": {**doc["spec"], "replicas": replicas}}
    return doc
