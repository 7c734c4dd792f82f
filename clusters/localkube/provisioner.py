"""Node-local volumes for the local cluster, made by a process of this machine instead of helper pods.

kind's "standard" class is the local-path provisioner: each claim, once the
scheduler has picked its pod's node, gets a directory on that node and a
hostPath PersistentVolume pinned there by node affinity; a released volume's
directory is removed. local-path makes and removes each directory with a
helper pod on the node, six pod lifecycles per three-member scenario, and a
rebuilt member waited seconds for them. The local cluster's nodes share this
machine's file system, so this provisioner does the same from here: same class
name, same binding mode, same PersistentVolumes, same node affinity, so a
rebuilt pod returns to the node that holds its data exactly as on kind.

The logic is in pure functions (``volume_for``, ``released``) the unit tests
drive with hand-written objects; ``serve`` only watches and applies them.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kubernetes import watch

from clusters.kube.api import Api, ApiError
from clusters.localkube.layout import Layout

CLASS = "standard"  # kind's default class name, so strategies written for kind find theirs
PROVISIONER = "etcd-chaos.local/node-directory"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
HOSTNAME = "kubernetes.io/hostname"
WATCH_SECONDS = 300  # a watch is re-opened after this, after a new list of what exists
ATTEMPTS = 10

log = logging.getLogger("provisioner")


def directory_of(storage: Path, claim: dict[str, Any]) -> Path:
    """A claim's directory on its node: one per claim UID, named for a person reading the node's storage."""
    meta = claim["metadata"]
    return storage / f"pvc-{meta['uid']}_{meta['namespace']}_{meta['name']}"


def volume_for(claim: dict[str, Any], storages: dict[str, Path]) -> dict[str, Any] | None:
    """The PersistentVolume that satisfies ``claim``, or None when it is not this provisioner's to make yet.

    Only claims of this class that the scheduler has placed (its selected-node
    annotation: WaitForFirstConsumer) and that no volume satisfies.
    """
    meta, spec = claim["metadata"], claim.get("spec", {})
    node = (meta.get("annotations") or {}).get(SELECTED_NODE)
    if spec.get("storageClassName") != CLASS or not node or spec.get("volumeName") or meta.get("deletionTimestamp"):
        return None
    if claim.get("status", {}).get("phase", "Pending") != "Pending" or node not in storages:
        return None
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"pvc-{meta['uid']}", "annotations": {PROVISIONED_BY: PROVISIONER}},
        "spec": {
            "capacity": {"storage": spec.get("resources", {}).get("requests", {}).get("storage", "1Gi")},
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": CLASS,
            "volumeMode": spec.get("volumeMode", "Filesystem"),
            "claimRef": {
                "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"],
            },
            "hostPath": {"path": str(directory_of(storages[node], claim)), "type": "DirectoryOrCreate"},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": HOSTNAME, "operator": "In", "values": [node]}]}
            ]}},
        },
    }


def released(volume: dict[str, Any], storages: dict[str, Path]) -> Path | None:
    """The directory to remove when ``volume`` is one of ours whose claim is gone, else None.

    Only a path under some node's storage is returned, whatever the object
    says: the provisioner removes nothing else.
    """
    meta, spec = volume["metadata"], volume.get("spec", {})
    if (meta.get("annotations") or {}).get(PROVISIONED_BY) != PROVISIONER:
        return None
    if volume.get("status", {}).get("phase") not in ("Released", "Failed"):
        return None
    if spec.get("persistentVolumeReclaimPolicy") != "Delete":
        return None
    path = Path((spec.get("hostPath") or {}).get("path", ""))
    ours = path.name.startswith("pvc-") and any(path.parent == storage for storage in storages.values())
    return path if ours else None


def _events(api: Api, list_call: Callable[..., Any], stop: threading.Event) -> Iterator[dict[str, Any]]:
    """Every object of a watched kind as listed, then as it changes, until ``stop``: an informer's list and watch.

    The watch starts at the list's resourceVersion. A watch with none must
    wait until the API server's cache reaches etcd's newest revision, and the
    cache of an idle kind moves only with that kind's own changes or etcd's
    progress notifications, which Kubernetes asks only of etcd 3.5.13 and
    later: on the local control plane's etcd a claim could wait minutes. A
    watch that ends (its time-out, a dropped stream) is followed by a new list.
    """
    while not stop.is_set():
        watcher = watch.Watch()
        try:
            listed = api.raw(list_call)
            yield from listed.get("items", ())
            for event in watcher.stream(list_call, resource_version=listed["metadata"]["resourceVersion"],
                                        timeout_seconds=WATCH_SECONDS, _request_timeout=WATCH_SECONDS + 30):
                if stop.is_set():
                    break
                if event["type"] in ("ADDED", "MODIFIED"):
                    yield event["raw_object"]
        except Exception as error:  # the API server restarting or a dropped stream: list and watch again, a second later
            log.warning("watch ended: %s", error)
            stop.wait(1.0)
        finally:
            watcher.stop()


def _retried(what: str, action: Callable[[], None], stop: threading.Event) -> None:
    """``action`` until it succeeds, ``ATTEMPTS`` times a second apart: a pod waits on it, so a call that timed out
    under load must not wait for the next watch round, and no error may end the thread that serves every claim."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            action()
            return
        except Exception as error:  # a time-out or a refusal of the API server: the same call again, a second later
            log.warning("%s (attempt %d of %d): %s", what, attempt, ATTEMPTS, error)
            if stop.wait(1.0):
                return


def _make(api: Api, volume: dict[str, Any]) -> None:
    Path(volume["spec"]["hostPath"]["path"]).mkdir(mode=0o777, parents=True, exist_ok=True)
    try:
        api.call(api.core.create_persistent_volume, volume)
    except ApiError as error:
        if error.status != 409:  # 409: made already, by an earlier event of the same claim
            raise
        return
    log.info("made %s for %s", volume["metadata"]["name"], volume["spec"]["claimRef"]["name"])


def _remove(api: Api, volume: dict[str, Any], path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    try:
        api.call(api.core.delete_persistent_volume, volume["metadata"]["name"])
    except ApiError as error:
        if error.status != 404:  # 404: removed already
            raise
        return
    log.info("removed %s and %s", volume["metadata"]["name"], path)


def _provision(api: Api, storages: dict[str, Path], stop: threading.Event) -> None:
    for claim in _events(api, api.core.list_persistent_volume_claim_for_all_namespaces, stop):
        volume = volume_for(claim, storages)
        if volume is not None:
            _retried(f"making {volume['metadata']['name']}", lambda: _make(api, volume), stop)


def _reclaim(api: Api, storages: dict[str, Path], stop: threading.Event) -> None:
    for volume in _events(api, api.core.list_persistent_volume, stop):
        path = released(volume, storages)
        if path is not None:
            _retried(f"removing {volume['metadata']['name']}", lambda: _remove(api, volume, path), stop)


def serve(api: Api, storages: dict[str, Path], stop: threading.Event) -> None:
    """Make and remove volumes until ``stop``: claims and volumes are watched side by side."""
    threads = [threading.Thread(target=job, args=(api, storages, stop), daemon=True) for job in (_provision, _reclaim)]
    for thread in threads:
        thread.start()
    while not stop.is_set() and all(t.is_alive() for t in threads):
        stop.wait(1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, required=True, help="the local cluster's node count")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    root = Layout.of(args.nodes)
    stop = threading.Event()
    api = Api(root.kubeconfig)
    storages = {node.name: node.storage for node in root.nodes}
    for storage in storages.values():
        storage.mkdir(parents=True, exist_ok=True)
    serve(api, storages, stop)  # until `cluster down` ends the process: each change is applied as it is seen


if __name__ == "__main__":
    main()
