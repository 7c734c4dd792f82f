"""Every version the local Kubernetes is made of, in one place.

The Go modules are built from source (the Go module proxy serves them), so a
version here is all it takes to move the whole cluster to another release;
the cache is keyed by these strings, and a change rebuilds only what changed.
"""

from __future__ import annotations

KUBERNETES = "v1.37.2"
COREDNS = "v1.15.0"
CRI_TOOLS = "v1.37.0"

# Debian's packages, extracted (not installed: installing containerd would
# start a system service) into the cache. Their versions are whatever the
# machine's package lists hold; the build records them.
DEBIAN_PACKAGES = ("containerd", "runc", "containernetworking-plugins", "busybox-static")


def staging_version(kubernetes: str = KUBERNETES) -> str:
    """k8s.io/kubernetes v1.X.Y publishes its staging modules (k8s.io/api, ...) as v0.X.Y."""
    major, rest = kubernetes.lstrip("v").split(".", 1)
    if major != "1":
        raise ValueError(f"unexpected Kubernetes version {kubernetes}")
    return f"v0.{rest}"
