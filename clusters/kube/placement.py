"""Keep a strategy's pods on given nodes, without changing anything else the strategy asks for.

A required node affinity on ``kubernetes.io/hostname`` is ANDed into every
term the strategy already has (Kubernetes ORs the terms and ANDs what is in
one), so its own node rules keep their meaning inside the nodes given.
"""

from __future__ import annotations

import copy
from typing import Any

HOSTNAME = "kubernetes.io/hostname"


def confine(doc: dict[str, Any], nodes: tuple[str, ...]) -> dict[str, Any]:
    """``doc`` with its pods (a Pod's, or a workload's template's) kept on ``nodes``; other documents as they are."""
    kind = doc.get("kind")
    if kind == "Pod":
        path: tuple[str, ...] = ("spec",)
    elif kind == "CronJob":
        path = ("spec", "jobTemplate", "spec", "template", "spec")
    elif isinstance((doc.get("spec") or {}).get("template"), dict):
        path = ("spec", "template", "spec")
    else:
        return doc
    placed = copy.deepcopy(doc)
    spec = placed
    for key in path:
        spec = spec.setdefault(key, {})
    required = (
        spec.setdefault("affinity", {}).setdefault("nodeAffinity", {})
        .setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
    )
    ours = {"key": HOSTNAME, "operator": "In", "values": list(nodes)}
    terms = required.get("nodeSelectorTerms") or [{}]
    required["nodeSelectorTerms"] = [{**term, "matchExpressions": [*(term.get("matchExpressions") or []), ours]} for term in terms]
    return placed
