"""Container image references as containerd and the kubelet read them, for both sides of the harness.

The local backend stores images under their fully qualified names, and the
Kubernetes side must recognise the harness's image however a strategy writes
it (``etcd-chaos/etcd:3.5.1``, ``docker.io/etcd-chaos/etcd``): one rule for both.
"""

from __future__ import annotations


def fully_qualified(name: str) -> str:
    """The name containerd and the kubelet use for ``name``: ``etcd-chaos/etcd:3.5.1`` -> ``docker.io/etcd-chaos/etcd:3.5.1``."""
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = f"library/{name}"
    elif "." in first or ":" in first or first == "localhost":
        return name
    return f"docker.io/{name}"


def split(image: str) -> tuple[str, str]:
    """Repository and tag: ``etcd-chaos/etcd:3.5.1@sha256:ab`` -> (``etcd-chaos/etcd``, ``3.5.1``); no tag is ""."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" not in last:
        return name, ""
    repository, tag = name.rsplit(":", 1)
    return repository, tag
