"""The scenario namespace's pods as a watch keeps them, and what changed, as events.

An informer in the Kubernetes sense: one list, then one watch from its
resourceVersion, so the harness reads pods from memory (the health poll asks
twenty times a second) and every change arrives once, in order, within
milliseconds. Each change becomes events of the backend's vocabulary
(``clusters.backend``), timed on our monotonic clock when we saw it: the pod
status carries no sub-second times, and ours are the ones the history's
operations use. Container exits come from the pod's own status
(``state``/``lastState.terminated``) and are told apart by cause: ``fault``
when a fault killed that container id, ``deleted`` when the pod was being
deleted, ``crash`` otherwise, which is what the crash-loop check counts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from kubernetes import watch

from clusters.events import EventLog
from clusters.kube import etcd_image
from clusters.kube import pods as podview
from clusters.kube.api import Api, ApiError

WATCH_SECONDS = 30  # the server ends each watch after this; we resume from the last resourceVersion
RETRY = 0.5


def transitions(old: dict[str, Any] | None, new: dict[str, Any] | None) -> Iterator[tuple[str, dict[str, Any]]]:
    """The events between two versions of one pod (None: not there), oldest meaning first."""
    if new is None:
        if old is not None:
            yield "pod-gone", {"uid": old["metadata"]["uid"]}
        return
    uid = new["metadata"]["uid"]
    if old is None:
        yield "pod-created", {"uid": uid}
        old = {"metadata": {}, "spec": {}, "status": {}}
    node = new.get("spec", {}).get("nodeName")
    if node and not old.get("spec", {}).get("nodeName"):
        yield "pod-scheduled", {"uid": uid, "node": node}
    ip, was_ip = new.get("status", {}).get("podIP"), old.get("status", {}).get("podIP")
    running = new.get("status", {}).get("phase") == "Running"
    if running and ip and (not was_ip or old.get("status", {}).get("phase") != "Running"):
        yield "pod-running", {"uid": uid, "ip": ip, "node": node}
    if podview.is_ready(new) != podview.is_ready(old):
        yield ("pod-ready" if podview.is_ready(new) else "pod-not-ready"), {"uid": uid}
    if new["metadata"].get("deletionTimestamp") and not old["metadata"].get("deletionTimestamp"):
        yield "pod-deleting", {"uid": uid, "grace": new["metadata"].get("deletionGracePeriodSeconds")}
    for entry in new.get("status", {}).get("containerStatuses") or []:
        before = podview.container_entry(old, entry["name"]) or {}
        state, was = entry.get("state") or {}, before.get("state") or {}
        if "running" in state and (entry.get("containerID") != before.get("containerID") or "running" not in was):
            yield "container-started", {
                "uid": uid, "container": entry["name"], "container_id": entry.get("containerID"),
                "restart_count": entry.get("restartCount", 0),
                "release": etcd_image.release([entry]),  # "" for another image than the harness's
            }
        waiting = (state.get("waiting") or {}).get("reason")
        if waiting == "CrashLoopBackOff" and (was.get("waiting") or {}).get("reason") != waiting:
            yield "back-off", {
                "uid": uid, "container": entry["name"], "restart_count": entry.get("restartCount", 0),
                "message": " ".join(((state.get("waiting") or {}).get("message") or "").split()),
            }


def terminations(pod: dict[str, Any]) -> Iterator[tuple[str, str, int, dict[str, Any]]]:
    """Every container run the status shows as ended: (container, container id, restarts before it, its record).

    ``lastState`` is filled once the next run was created, so its run came
    one restart before the current count; ``state.terminated`` is the current run.
    """
    for entry in pod.get("status", {}).get("containerStatuses") or []:
        count = int(entry.get("restartCount", 0))
        last = (entry.get("lastState") or {}).get("terminated")
        current = (entry.get("state") or {}).get("terminated")
        for record, restarts in ((last, count - 1), (current, count)):
            if record and record.get("containerID"):
                yield entry["name"], record["containerID"], max(restarts, 0), record


def exit_cause(pod: dict[str, Any], container_id: str, fault_kills: set[str]) -> str:
    if container_id in fault_kills:
        return "fault"
    if pod["metadata"].get("deletionTimestamp"):
        return "deleted"
    return "crash"


class PodWatch:
    """Pods of one namespace, kept current by a watch; ``changed`` wakes whoever waits for a state."""

    def __init__(self, api: Api, namespace: str, events: EventLog, on_pod: Callable[[dict[str, Any]], None]) -> None:
        self.api = api
        self.namespace = namespace
        self.events = events
        self.fault_kills: set[str] = set()  # container ids a fault killed: their exits are not crashes
        self._on_pod = on_pod
        self._pods: dict[str, dict[str, Any]] = {}
        self._exits_seen: set[str] = set()
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._watch: watch.Watch | None = None
        self._thread = threading.Thread(target=self._run, name=f"watch-{namespace}", daemon=True)
        self.error: str = ""

    def start(self) -> None:
        self._resource_version = self._relist()
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._watch is not None:
            self._watch.stop()
        if self._thread.is_alive():
            self._thread.join(timeout=WATCH_SECONDS + 10)

    def pods(self) -> list[dict[str, Any]]:
        with self._changed:
            return list(self._pods.values())

    def wait(self, done: Callable[[list[dict[str, Any]]], bool], timeout: float) -> bool:
        """Until ``done(pods)`` holds or ``timeout`` passes; True when it held."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not done(list(self._pods.values())):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 1.0))
        return True

    def _relist(self) -> str:
        listed = self.api.raw(self.api.core.list_namespaced_pod, self.namespace)
        current = {p["metadata"]["name"]: p for p in listed.get("items", [])}
        for name in set(self._pods) - set(current):
            self._update(name, None)
        for name, pod in current.items():
            self._update(name, pod)
        return listed["metadata"]["resourceVersion"]

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._watch = watch.Watch()
            try:
                for event in self._watch.stream(
                    self.api.core.list_namespaced_pod, self.namespace, resource_version=self._resource_version,
                    timeout_seconds=WATCH_SECONDS, _request_timeout=WATCH_SECONDS + 10, allow_watch_bookmarks=True,
                ):
                    raw = event["raw_object"]
                    if event["type"] == "ERROR":
                        raise ApiError(raw.get("message", "watch error"), raw.get("code"))
                    self._resource_version = raw["metadata"]["resourceVersion"]
                    if event["type"] == "BOOKMARK":
                        continue
                    self._update(raw["metadata"]["name"], None if event["type"] == "DELETED" else raw)
                    if self._stopping.is_set():
                        return
            except Exception as error:  # noqa: BLE001 - any watch failure: relist and resume, as an informer does
                if self._stopping.is_set():
                    return
                self.error = f"{type(error).__name__}: {error}"
                time.sleep(RETRY)
                try:
                    self._resource_version = self._relist()
                except Exception:  # noqa: BLE001 - the API server may be briefly away; try again
                    continue

    def _update(self, name: str, pod: dict[str, Any] | None) -> None:
        with self._changed:
            old = self._pods.get(name)
            if old is not None and pod is not None and old["metadata"]["uid"] != pod["metadata"]["uid"]:
                self._record(name, old, None)  # replaced between two events: the old one is gone
                old = None
            self._record(name, old, pod)
            if pod is None:
                self._pods.pop(name, None)
            else:
                self._pods[name] = pod
            self._changed.notify_all()
        if pod is not None:
            self._on_pod(pod)

    def _record(self, name: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        for kind, detail in transitions(old, new):
            self.events.record(kind, name, **detail)
        if new is None:
            return
        for container, container_id, restarts, record in terminations(new):
            if container_id in self._exits_seen:
                continue
            self._exits_seen.add(container_id)
            self.events.record(
                "container-exited", name, uid=new["metadata"]["uid"], container=container, container_id=container_id,
                exit_code=record.get("exitCode"), reason=record.get("reason", ""), restart_count=restarts,
                cause=exit_cause(new, container_id, self.fault_kills),
            )
