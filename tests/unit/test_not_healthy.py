from dataclasses import replace

import pytest

from clusters import observe
from clusters.backend import ContainerStatus, Termination


def crashing(make_cluster, statuses, logs):
    """A fake cluster that knows its containers' statuses and logs (the etcd answers come from a snapshot)."""
    cluster = make_cluster()
    cluster.container_status = lambda name: statuses[name]
    cluster.logs = lambda: logs
    return cluster


CRASHING = ContainerStatus("waiting: CrashLoopBackOff", 3, (Termination(1, "Error"), Termination(1, "Error")))
LOGS = {"etcd-0": ["boot\nfatal: bad flag --nme\n", ""], "etcd-1": ["one\ntwo\nthree\nfour\nfive\nsix\nseven\n"]}


def refused(views, *pods):
    return [replace(v, error="[Errno 111] Connection refused") if v.pod in pods else v for v in views]


def test_wait_healthy_raises_not_healthy_explained_pod_by_pod(monkeypatch, make_cluster, make_snapshot, make_views):
    cluster = crashing(make_cluster, {"etcd-0": CRASHING, "etcd-1": ContainerStatus("running", 0)}, LOGS)
    monkeypatch.setattr(observe, "snapshot", lambda c: make_snapshot(refused(make_views(), "etcd-0", "etcd-1")))
    with pytest.raises(observe.NotHealthy) as caught:
        observe.wait_healthy(cluster, timeout=0)
    err = caught.value
    assert isinstance(err, TimeoutError)
    assert err.pods == [
        "etcd-0: [Errno 111] Connection refused; container waiting: CrashLoopBackOff, 3 restarts, "
        "last exits 1 (Error), 1 (Error); last 2 log lines of run 1 of 2:",
        "etcd-1: [Errno 111] Connection refused; container running, 0 restarts; last 5 log lines of its latest run:",
    ]
    assert err.logs == {"etcd-0": ["boot", "fatal: bad flag --nme"], "etcd-1": ["three", "four", "five", "six", "seven"]}
    lines = str(err).splitlines()
    assert lines[0] == (
        "cluster not healthy after 0s: etcd-0: [Errno 111] Connection refused; etcd-1: [Errno 111] Connection refused"
    )
    assert lines[1:4] == [f"  {err.pods[0]}", "    | boot", "    | fatal: bad flag --nme"]
    assert lines[4] == f"  {err.pods[1]}" and lines[-1] == "    | seven"


def test_a_healthy_cluster_is_returned_not_explained(monkeypatch, make_cluster, make_snapshot):
    healthy = make_snapshot()
    monkeypatch.setattr(observe, "snapshot", lambda c: healthy)
    assert observe.wait_healthy(make_cluster(), timeout=0) is healthy


def test_a_backend_without_container_status_says_so(make_cluster, make_snapshot, make_views):
    err = observe.explain(make_cluster(), make_snapshot(refused(make_views(), "etcd-2")), 30)
    assert err.pods == [
        "etcd-2: [Errno 111] Connection refused; container status unknown "
        "(the local backend cannot report container status); no log output"
    ]
    assert err.logs == {"etcd-2": []}


def test_container_status_describes_state_restarts_and_exits():
    assert CRASHING.describe() == "waiting: CrashLoopBackOff, 3 restarts, last exits 1 (Error), 1 (Error)"
    killed = ContainerStatus("running", 1, (Termination(137, "killed: liveness-probe"),))
    assert killed.describe() == "running, 1 restart, last exit 137 (killed: liveness-probe)"
