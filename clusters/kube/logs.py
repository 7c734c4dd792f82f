"""Every container run's log, kept from its first line, on any cluster.

The API keeps only a container's current and previous run, and a member in a
crash loop has had many: the panic that explains the loop is in the first.
So each run is followed (``kubectl logs -f``) from the moment the watch sees
it start until it ends, and kept in memory by its container id. A run that
ended before it could be followed (it lived less than a watch round-trip),
or whose follow brought nothing (the log API names no run, only the pod's
current one, so a follow that arrives between two runs can miss both), is
read once as ``--previous`` while the status still names it as the last one
ended: only then is ``--previous`` that run's log and not another's.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from kubernetes import client

from clusters.kube import pods as podview
from clusters.kube.api import Api

CONNECT_TIMEOUT = 10.0


class Run:
    """One container run's log as it grows."""

    def __init__(self, pod: str, uid: str, container_id: str) -> None:
        self.pod, self.uid, self.container_id = pod, uid, container_id
        self.chunks: list[bytes] = []
        self.response: Any = None
        self.reading = True  # a follow or a --previous read is under way

    def text(self) -> str:
        return b"".join(self.chunks).decode(errors="replace")


class LogKeeper:
    def __init__(self, api: Api, namespace: str) -> None:
        self.api = api
        self.namespace = namespace
        self._runs: dict[str, Run] = {}  # container id -> run, in the order first seen
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._last_ended: dict[str, str] = {}  # pod name -> the container id its status names as the last run ended

    def on_pod(self, pod: dict[str, Any]) -> None:
        """Called by the watch for every pod version: follow new runs, rescue the ones missed."""
        if self._stopping.is_set():
            return
        name, uid = pod["metadata"]["name"], pod["metadata"]["uid"]
        container = podview.main_container(pod)
        running = podview.container_id(pod, container)
        if running:
            run = self._new_run(name, uid, running)
            if run:
                self._spawn(self._follow, run, container)
        entry = podview.container_entry(pod, container) or {}
        last = (entry.get("lastState") or {}).get("terminated") or {}
        if last.get("containerID"):
            self._last_ended[name] = last["containerID"]
            run = self._new_run(name, uid, last["containerID"]) or self._unread(last["containerID"])
            if run:
                self._spawn(self._previous, run, container)

    def _unread(self, container_id: str) -> Run | None:
        """The run of ``container_id`` if it ended with nothing read and no read under way: to read as --previous."""
        with self._lock:
            run = self._runs.get(container_id)
            if run is None or run.reading or run.chunks:
                return None
            run.reading = True
            return run

    def _new_run(self, pod: str, uid: str, container_id: str) -> Run | None:
        with self._lock:
            if container_id in self._runs:
                return None
            run = self._runs[container_id] = Run(pod, uid, container_id)
            return run

    def _spawn(self, target: Any, run: Run, container: str) -> None:
        thread = threading.Thread(target=target, args=(run, container), name=f"log-{run.pod}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _follow(self, run: Run, container: str) -> None:
        try:
            run.response = self.api.core.read_namespaced_pod_log(
                run.pod, self.namespace, container=container, follow=True, _preload_content=False,
            )  # no read timeout: a quiet member may print nothing for minutes; stop() closes the stream
            for chunk in run.response.stream(4096):
                run.chunks.append(chunk)
        except Exception:  # noqa: BLE001 - the pod went away or the stream broke: keep what arrived
            pass
        if not run.chunks and not self._stopping.is_set():
            self._previous(run, container)
        else:
            run.reading = False

    def _previous(self, run: Run, container: str) -> None:
        """The ended run's log, read only while the status names it as the last run ended (else: later, by on_pod)."""
        try:
            if self._last_ended.get(run.pod) != run.container_id:
                return
            response = self.api.core.read_namespaced_pod_log(
                run.pod, self.namespace, container=container, previous=True, _preload_content=False,
                _request_timeout=CONNECT_TIMEOUT,
            )
            if self._last_ended.get(run.pod) == run.container_id:  # still that run: the answer is its log
                run.chunks = [response.data]
        except client.ApiException:
            return  # gone with its pod: nothing left to read anywhere
        finally:
            run.reading = False

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            if run.response is not None:
                run.response.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def runs(self) -> list[Run]:
        with self._lock:
            return list(self._runs.values())

    def logs(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {}
        for run in self.runs():
            result.setdefault(run.pod, []).append(run.text())
        return result

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        counts: dict[str, int] = {}
        for run in self.runs():
            counts[run.uid] = counts.get(run.uid, 0) + 1
            (directory / f"{run.pod}-uid{run.uid[:8]}-run{counts[run.uid]}.log").write_text(run.text())
