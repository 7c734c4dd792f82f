"""Which etcd release a scenario's pods run: the tag of the harness's own image, set when it is applied.

A strategy names ``etcd-chaos/etcd`` with any tag (the built-in ones write
3.5.1); the harness builds that image once per release (``etcd-chaos/etcd:<release>``,
the same tree with that release's etcd, etcdctl and etcdutl), so the release
a scenario runs is the tag its documents get, in every container of every pod
template, whatever kind holds it. Images of other names are left as written:
a strategy that brings its own etcd image is not re-versioned behind its back.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from typing import Any

from clusters.image_names import fully_qualified, split

REPOSITORY = "etcd-chaos/etcd"
CONTAINER_LISTS = ("containers", "initContainers")


def is_ours(image: str) -> bool:
    """``etcd-chaos/etcd:3.5.1`` or ``docker.io/etcd-chaos/etcd`` yes; ``bitnami/etcd:3.5`` no."""
    return fully_qualified(split(image)[0]) == fully_qualified(REPOSITORY)


def ours(containers: Iterable[Any]) -> Iterator[dict[str, Any]]:
    """The containers of the harness's image among ``containers``."""
    return (c for c in containers if isinstance(c, dict) and is_ours(str(c.get("image", ""))))


def _containers(node: Any) -> list[dict[str, Any]]:
    """Every container (and init container) anywhere in a document: pod specs sit at different depths per kind."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in CONTAINER_LISTS and isinstance(value, list):
                found += value
            else:
                found += _containers(value)
    elif isinstance(node, list):
        for value in node:
            found += _containers(value)
    return found


def flag_variable(flag: str) -> str:
    """etcd reads every flag from the environment too: ``snapshot-count`` is ``ETCD_SNAPSHOT_COUNT``."""
    return "ETCD_" + flag.upper().replace("-", "_")


def at_release(doc: dict[str, Any], release: str, flags: dict[str, str] | None = None) -> dict[str, Any]:
    """A copy of ``doc`` whose containers of the harness's image run ``release``, with ``flags`` in their environment.

    The flags go in as the variables etcd reads for them, so a strategy's
    own command line is left as written (etcd lets a flag given on it win).
    """
    placed = copy.deepcopy(doc)
    named = {flag_variable(flag) for flag in flags or {}}
    for container in ours(_containers(placed)):
        container["image"] = f"{REPOSITORY}:{release}"
        if flags:
            kept = [e for e in container.get("env") or [] if e.get("name") not in named]
            container["env"] = kept + [{"name": flag_variable(f), "value": v} for f, v in flags.items()]
    return placed


def release(containers: list[dict[str, Any]]) -> str:
    """The release the first container of the harness's image runs (its tag), or "" when none does."""
    return next((split(c["image"])[1] for c in ours(containers)), "")


def release_patch(pod_spec: dict[str, Any], release: str) -> dict[str, Any]:
    """A strategic-merge patch of a pod template's spec that moves the harness's image to ``release``.

    Containers merge by name, so only the image of each of ours changes:
    the StatefulSet controller sees a new revision and rolls it out.
    """
    patch = {
        key: [{"name": c["name"], "image": f"{REPOSITORY}:{release}"} for c in ours(pod_spec.get(key) or [])]
        for key in CONTAINER_LISTS
    }
    return {key: containers for key, containers in patch.items() if containers}
