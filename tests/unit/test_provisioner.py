"""The local cluster's volume provisioner: which claims get which volume, and which directories it removes."""

import threading
from pathlib import Path

import kubernetes_validate
import pytest

from clusters.kube.api import Api
from clusters.localkube import provisioner
from clusters.localkube.provisioner import CLASS, PROVISIONED_BY, PROVISIONER, SELECTED_NODE, released, volume_for

STORAGES = {"node-0": Path("/state/node-0/storage"), "node-1": Path("/state/node-1/storage")}


def claim(node: str | None = "node-1", **changes) -> dict:
    raw = {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data-etcd-0", "namespace": "chaos-1", "uid": "1234-abcd",
                     "annotations": {SELECTED_NODE: node} if node else {}},
        "spec": {"storageClassName": CLASS, "accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": "2Gi"}}},
        "status": {"phase": "Pending"},
    }
    for path, value in changes.items():
        *parents, last = path.split("__")
        target = raw
        for part in parents:
            target = target[part]
        target[last] = value
    return raw


def test_a_placed_claim_gets_a_hostpath_volume_pinned_to_its_node_and_bound_to_it():
    volume = volume_for(claim(), STORAGES)
    kubernetes_validate.validate(volume, "1.37", strict=True)
    assert volume["metadata"] == {"name": "pvc-1234-abcd", "annotations": {PROVISIONED_BY: PROVISIONER}}
    spec = volume["spec"]
    assert spec["claimRef"] == {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": "chaos-1",
                                "name": "data-etcd-0", "uid": "1234-abcd"}
    assert spec["hostPath"]["path"] == "/state/node-1/storage/pvc-1234-abcd_chaos-1_data-etcd-0"
    [term] = spec["nodeAffinity"]["required"]["nodeSelectorTerms"]
    assert term == {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["node-1"]}]}
    assert (spec["capacity"], spec["accessModes"], spec["storageClassName"]) == ({"storage": "2Gi"}, ["ReadWriteOnce"], CLASS)
    assert spec["persistentVolumeReclaimPolicy"] == "Delete"


@pytest.mark.parametrize(
    "unplaced",
    [
        claim(node=None),  # the scheduler has not picked a node yet (WaitForFirstConsumer)
        claim(spec__storageClassName="other"),  # another class's claim
        claim(spec__volumeName="pvc-1234-abcd"),  # satisfied already
        claim(status__phase="Bound"),
        claim(metadata__deletionTimestamp="2026-12-07T13:00:00Z"),  # being deleted
        claim(node="node-9"),  # a node this cluster does not have
    ],
    ids=["no-node", "other-class", "has-volume", "bound", "deleting", "unknown-node"],
)
def test_a_claim_that_is_not_ours_to_satisfy_yet_gets_nothing(unplaced):
    assert volume_for(unplaced, STORAGES) is None


def with_phase(volume: dict, phase: str) -> dict:
    return {**volume, "status": {"phase": phase}}


def test_a_released_volume_of_ours_gives_its_directory_to_remove():
    volume = volume_for(claim(), STORAGES)
    assert released(with_phase(volume, "Released"), STORAGES) == Path(volume["spec"]["hostPath"]["path"])
    assert released(with_phase(volume, "Bound"), STORAGES) is None


def test_only_our_own_volumes_under_a_nodes_storage_are_removed():
    volume = volume_for(claim(), STORAGES)
    theirs = {**volume, "metadata": {"name": "x", "annotations": {PROVISIONED_BY: "rancher.io/local-path"}}}
    assert released(with_phase(theirs, "Released"), STORAGES) is None
    for path in ("/etc", "/state/node-1/storage", "/state/node-1/storage/a/b", "/state/node-1/storage/../../etc",
                 "/state/node-1/storage/..", "/state/node-1/storage/."):
        elsewhere = {**volume, "spec": {**volume["spec"], "hostPath": {"path": path}}}
        assert released(with_phase(elsewhere, "Released"), STORAGES) is None, path
    retained = {**volume, "spec": {**volume["spec"], "persistentVolumeReclaimPolicy": "Retain"}}
    assert released(with_phase(retained, "Released"), STORAGES) is None


class FlakyCore:
    """An API server that times out on the first create, then answers; and says 409 when made already."""

    def __init__(self) -> None:
        self.made: list[str] = []
        self.calls = 0

    def create_persistent_volume(self, body, _request_timeout=None):
        self.calls += 1
        if self.calls == 1:
            raise TimeoutError("read timed out")
        self.made.append(body["metadata"]["name"])


def test_a_create_that_timed_out_is_made_on_the_next_attempt_and_the_thread_goes_on(tmp_path, monkeypatch):
    api = Api.__new__(Api)
    api.core = FlakyCore()
    stop = threading.Event()
    monkeypatch.setattr(stop, "wait", lambda seconds: False)  # no real pause between attempts
    storages = {"node-1": tmp_path}
    volume = volume_for(claim(), storages)
    provisioner._retried("making it", lambda: provisioner._make(api, volume), stop)
    assert api.core.made == ["pvc-1234-abcd"] and api.core.calls == 2
    assert (tmp_path / "pvc-1234-abcd_chaos-1_data-etcd-0").is_dir()


class ListThenWatch:
    """An API server holding one claim at version 7, whose watch from there sees a change, a deletion and a new claim."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.watched_from: list[str | None] = []

    def raw(self, call, *args, **kwargs):
        return {"metadata": {"resourceVersion": "7"}, "items": [claim(metadata__name="listed")]}

    def watch(self):
        server = self

        class Watch:
            def stream(self, call, resource_version=None, **kwargs):
                server.watched_from.append(resource_version)
                yield {"type": "MODIFIED", "raw_object": claim(metadata__name="changed")}
                yield {"type": "DELETED", "raw_object": claim(metadata__name="gone")}
                yield {"type": "ADDED", "raw_object": claim(metadata__name="new")}
                server.stop.set()  # one round: no second list

            def stop(self):
                pass

        return Watch()


def test_claims_are_listed_then_watched_from_the_lists_version(monkeypatch):
    """A watch with no resourceVersion waits for the API server's cache to reach etcd's newest revision; one
    from the list's version starts at once, and misses nothing made between the list and the watch."""
    stop = threading.Event()
    server = ListThenWatch(stop)
    monkeypatch.setattr(provisioner.watch, "Watch", server.watch)
    names = [c["metadata"]["name"] for c in provisioner._events(server, lambda **kwargs: None, stop)]
    assert server.watched_from == ["7"]
    assert names == ["listed", "changed", "new"]  # a deleted claim needs no volume
