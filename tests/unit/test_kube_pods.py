"""The Kubernetes-API backend's reading of pod objects: status to PodInfo, changes to events, exits to causes.

The pods are written as ``kubectl get pod -o json`` shows them, trimmed to
the fields read; what needs an API server is in tests/integration.
"""

from __future__ import annotations

import copy
from typing import Any

from clusters.kube import pods as podview
from clusters.kube.apply import in_namespace
from clusters.kube.watch import exit_cause, terminations, transitions

CID_1 = "containerd://aaa111"
CID_2 = "containerd://bbb222"


def pod(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "metadata": {"name": "etcd-1", "uid": "u-1"},
        "spec": {"containers": [{"name": "etcd"}, {"name": "sidecar"}]},
        "status": {"phase": "Pending", "conditions": []},
    }
    for path, value in changes.items():
        where = base
        keys = path.split("__")
        for key in keys[:-1]:
            where = where.setdefault(key, {})
        where[keys[-1]] = value
    return base


def running(cid: str, restarts: int = 0, last: dict[str, Any] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": "etcd", "containerID": cid, "restartCount": restarts, "state": {"running": {}}}
    if last:
        entry["lastState"] = {"terminated": last}
    return entry


READY = [{"type": "Ready", "status": "True"}]


def test_info_reads_address_node_readiness_and_restarts_from_the_status() -> None:
    p = pod(spec__nodeName="node-2", status__phase="Running", status__podIP="10.244.3.4", status__conditions=READY,
            status__containerStatuses=[running(CID_1, 2), {"name": "sidecar", "restartCount": 1, "state": {"running": {}}}])
    info = podview.info(p)
    assert (info.name, info.ordinal, info.node, info.ip, info.ready, info.terminating) == ("etcd-1", 1, "node-2", "10.244.3.4", True, False)
    assert info.restart_count == 3
    assert info.endpoint == "http://10.244.3.4:2379"


def test_a_pod_with_a_deletion_timestamp_is_terminating_and_its_exits_are_deletions() -> None:
    p = pod(metadata__deletionTimestamp="2026-12-03T08:00:00Z")
    assert podview.info(p).terminating
    assert exit_cause(p, CID_1, set()) == "deleted"
    assert exit_cause(p, CID_1, {CID_1}) == "fault"  # a fault's kill stays the fault's, even while deleting
    assert exit_cause(pod(), CID_1, set()) == "crash"


def test_container_status_says_why_a_pod_has_no_container() -> None:
    unscheduled = pod(status__conditions=[{
        "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules.",
    }])
    assert podview.container_status(unscheduled).state == (
        "not created: the pod is Pending, 0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."
    )
    assert podview.container_status(pod()).state == "not created"


def test_container_status_shows_the_waiting_reason_and_the_last_exit() -> None:
    entry = {"name": "etcd", "containerID": CID_2, "restartCount": 4,
             "state": {"waiting": {"reason": "CrashLoopBackOff"}},
             "lastState": {"terminated": {"exitCode": 2, "reason": "Error", "containerID": CID_2}}}
    status = podview.container_status(pod(status__containerStatuses=[entry]))
    assert status.describe() == "waiting: CrashLoopBackOff, 4 restarts, last exit 2 (Error)"
    assert podview.container_id(pod(status__containerStatuses=[entry]), "etcd") is None


def names(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [kind for kind, _ in events]


def test_a_pod_from_creation_to_ready_gives_each_event_once() -> None:
    created = pod()
    scheduled = pod(spec__nodeName="node-0")
    started = pod(spec__nodeName="node-0", status__phase="Running", status__podIP="10.244.1.3",
                  status__containerStatuses=[running(CID_1)])
    ready = copy.deepcopy(started)
    ready["status"]["conditions"] = READY
    seen = [list(transitions(a, b)) for a, b in ((None, created), (created, scheduled), (scheduled, started), (started, ready), (ready, ready))]
    assert [names(s) for s in seen] == [["pod-created"], ["pod-scheduled"], ["pod-running", "container-started"], ["pod-ready"], []]
    assert seen[2][0][1] == {"uid": "u-1", "ip": "10.244.1.3", "node": "node-0"}


def test_a_restart_in_place_is_a_new_container_and_one_exit() -> None:
    before = pod(spec__nodeName="node-0", status__phase="Running", status__podIP="10.244.1.3",
                 status__containerStatuses=[running(CID_1)])
    after = copy.deepcopy(before)
    after["status"]["containerStatuses"] = [running(CID_2, 1, {"exitCode": 137, "reason": "Error", "containerID": CID_1})]
    assert [(k, d.get("restart_count")) for k, d in transitions(before, after)] == [("container-started", 1)]
    assert [(c, cid, n, r["exitCode"]) for c, cid, n, r in terminations(after)] == [("etcd", CID_1, 0, 137)]


def test_a_crash_loop_shows_its_back_off_once_per_wait() -> None:
    looping = pod(status__containerStatuses=[{"name": "etcd", "containerID": CID_2, "restartCount": 2,
                                              "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 20s"}}}])
    first = list(transitions(pod(), looping))
    assert names(first) == ["back-off"] and first[0][1]["message"] == "back-off 20s"
    assert list(transitions(looping, looping)) == []


def test_deletion_and_disappearance() -> None:
    live = pod(spec__nodeName="node-0")
    deleting = copy.deepcopy(live)
    deleting["metadata"].update(deletionTimestamp="2026-12-03T08:00:00Z", deletionGracePeriodSeconds=30)
    assert list(transitions(live, deleting)) == [("pod-deleting", {"uid": "u-1", "grace": 30})]
    assert list(transitions(deleting, None)) == [("pod-gone", {"uid": "u-1"})]
    assert list(transitions(None, None)) == []


def test_documents_go_into_the_scenario_namespace_unless_cluster_wide() -> None:
    doc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "etcd", "namespace": "default"}}
    assert in_namespace(doc, "ec-x", namespaced=True)["metadata"]["namespace"] == "ec-x"
    assert "namespace" not in in_namespace(doc, "ec-x", namespaced=False)["metadata"]
    assert doc["metadata"]["namespace"] == "default"  # the strategy's own document is left as it was


def test_an_api_refusal_is_the_servers_message_in_one_line() -> None:
    from kubernetes.client import ApiException

    from clusters.kube.api import refusal

    error = ApiException(status=422, reason="Unprocessable Entity")
    error.body = (
        '{"kind":"Status","status":"Failure","reason":"Invalid","code":422,"message":"StatefulSet.apps \\"etcd\\" is '
        'invalid: spec.template.metadata.labels: Invalid value: {\\"app\\":\\"etcd\\"}:\\n `selector` does not match '
        'template `labels`"}'
    )
    found = refusal(error)
    assert (found.status, found.reason) == (422, "Invalid")
    assert str(found) == (
        'StatefulSet.apps "etcd" is invalid: spec.template.metadata.labels: Invalid value: {"app":"etcd"}: '
        "`selector` does not match template `labels`"
    )
    bare = ApiException(status=503, reason="Service Unavailable")
    assert str(refusal(bare)) == "Service Unavailable"
