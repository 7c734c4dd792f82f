"""Every container run's log, kept from its first line, on any cluster.

The API keeps only a container's current and previous run, and a member in a
crash loop has had many: the panic that explains the loop is in the first.
So each run is followed (``kubectl logs -f``) from the moment the watch sees
it start until it ends, and kept in memory by its container id. A run that
ended before it could be followed (it lived less than a watch round-trip) is
read once as ``--previous`` while the status still names it as the last one.
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
            run = self._new_run(name, uid, last["containerID"])
            if run:
                self._spawn(self._previous, run, container)

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
            if not run.chunks and not self._stopping.is_set():
                self._previous(run, container)

    def _previous(self, run: Run, container: str) -> None:
        try:
            response = self.api.core.read_namespaced_pod_log(
                run.pod, self.namespace, container=container, previous=True, _preload_content=False,
                _request_timeout=CONNECT_TIMEOUT,
            )
            run.chunks = [response.data]
        except client.ApiException:
            return  # gone with its pod: nothing left to read anywhere

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
