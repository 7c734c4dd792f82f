"""Each container run's log is kept, and a run whose follow brought nothing is read once it has ended."""

from __future__ import annotations

import time
from typing import Any

from clusters.kube.logs import LogKeeper


class Stream:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, size: int):
        if self.data:
            yield self.data

    def close(self) -> None:
        pass


class Core:
    """The log API: a follow gives what ``following`` holds (b"" when it met no run), --previous the last run ended."""

    def __init__(self, following: bytes, previous: dict[str, bytes]) -> None:
        self.following, self.previous = following, previous
        self.ended = ""  # the run the kubelet would answer --previous with
        self.calls: list[str] = []

    def read_namespaced_pod_log(self, pod: str, namespace: str, container: str, **kw: Any) -> Stream:
        self.calls.append("previous" if kw.get("previous") else "follow")
        return Stream(self.previous[self.ended] if kw.get("previous") else self.following)


class FakeApi:
    def __init__(self, core: Core) -> None:
        self.core = core


def pod(running: str | None, ended: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": "etcd", "state": {"running": {}} if running else {"waiting": {}}}
    if running:
        entry["containerID"] = running
    if ended:
        entry["lastState"] = {"terminated": {"containerID": ended, "exitCode": 137}}
    return {"metadata": {"name": "etcd-0", "uid": "u1"}, "spec": {"containers": [{"name": "etcd"}]},
            "status": {"containerStatuses": [entry]}}


def settle(keeper: LogKeeper) -> None:
    deadline = time.monotonic() + 5
    while any(t.is_alive() for t in keeper._threads) and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_run_whose_follow_brought_nothing_is_read_as_previous_once_its_status_names_it_ended():
    core = Core(following=b"", previous={"c://2": b"run 2 started\n", "c://1": b"run 1\n"})
    keeper = LogKeeper(FakeApi(core), "ns")  # type: ignore[arg-type]
    core.ended = "c://1"
    keeper.on_pod(pod(running="c://2", ended="c://1"))  # run 2 seen running; its follow meets no run
    settle(keeper)
    runs = {r.container_id: r.text() for r in keeper.runs()}
    assert runs["c://2"] == "", "while run 2 is not the last one ended, --previous would be run 1's log"
    assert runs["c://1"] == "run 1\n"
    core.ended = "c://2"
    keeper.on_pod(pod(running="c://3", ended="c://2"))  # run 2 ended: now --previous is its log
    settle(keeper)
    assert {r.container_id: r.text() for r in keeper.runs()}["c://2"] == "run 2 started\n"


def test_a_run_with_its_log_is_not_read_again():
    core = Core(following=b"run 2 log\n", previous={"c://2": b"other\n"})
    keeper = LogKeeper(FakeApi(core), "ns")  # type: ignore[arg-type]
    keeper.on_pod(pod(running="c://2", ended=None))
    settle(keeper)
    core.ended = "c://2"
    keeper.on_pod(pod(running="c://3", ended="c://2"))
    settle(keeper)
    assert {r.container_id: r.text() for r in keeper.runs()}["c://2"] == "run 2 log\n"
    assert core.calls.count("previous") == 0
