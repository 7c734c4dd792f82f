"""The client traffic that runs through a scenario and fills the history.

One writer is enough to tell whether the cluster kept quorum: it puts unique
values back to back at a bounded rate, failing over between members like a
client with several endpoints, and records every call it makes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from clusters import etcd_api
from harness.history import Operation


class Writer:
    def __init__(
        self,
        endpoints: Callable[[], list[str]],
        name: str = "writer-0",
        interval: float = 0.05,
        timeout: float = 1.0,
    ) -> None:
        self.endpoints = endpoints
        self.name = name
        self.interval = interval
        self.timeout = timeout
        self.operations: list[Operation] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> list[Operation]:
        self._stop.set()
        self._thread.join(timeout=self.timeout + 5)
        return self.operations

    def _run(self) -> None:
        n = 0
        turn = 0
        while not self._stop.is_set():
            started = time.monotonic()
            endpoints = self.endpoints()
            if not endpoints:
                self._stop.wait(self.interval)
                continue
            endpoint = endpoints[turn % len(endpoints)]
            n += 1
            op = Operation(self.name, "put", f"/chaos/{self.name}/{n}", f"{self.name}-{n}", endpoint, time.time())
            try:
                op.revision = etcd_api.put(endpoint, op.key, op.value or "", timeout=self.timeout)
                op.outcome = "ok"
            except etcd_api.EtcdTimeout as err:
                op.outcome, op.error = "unknown", str(err)
                turn += 1
            except etcd_api.EtcdError as err:
                op.outcome, op.error = "fail", str(err)
                turn += 1
            op.complete = time.time()
            self.operations.append(op)
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))
