"""The Eviction API's PodDisruptionBudget check, as the API server makes it.

Kept apart from the controller because it is pure arithmetic on pod states,
the part of a drain whose outcome a unit test can pin down exactly.
"""

from __future__ import annotations

import math

from clusters.local.kubelet import Pod
from clusters.manifests import DisruptionBudget


def _scaled(value: int | str, expected: int) -> int:
    """An int, or a percentage of the expected pods rounded up (intstr.GetScaledValueFromIntOrPercent)."""
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(int(value[:-1]) * expected / 100)
    return int(value)


def desired_healthy(budget: DisruptionBudget, expected: int) -> int:
    if budget.min_available is not None:
        return _scaled(budget.min_available, expected)
    if budget.max_unavailable is not None:
        return max(0, expected - _scaled(budget.max_unavailable, expected))
    return 0


def healthy(pod: Pod) -> bool:
    return pod.phase == "Running" and pod.ready and not pod.terminating


def blocked(budget: DisruptionBudget | None, pods: list[Pod], expected: int, pod: Pod) -> str | None:
    """Why evicting ``pod`` is refused now (the 429's message), or None when it may go.

    Pending and terminating pods are never checked; a not-ready pod goes while
    the budget is healthy and asks for something (policy IfHealthyBudget) or
    always (AlwaysAllow); otherwise the disruptions allowed must be positive.
    """
    if budget is None or pod.phase != "Running" or pod.terminating:
        return None
    current = sum(1 for p in pods if healthy(p))
    desired = desired_healthy(budget, expected)
    if not healthy(pod) and (
        budget.unhealthy_pod_eviction_policy == "AlwaysAllow" or (desired > 0 and current >= desired)
    ):
        return None
    if current - desired > 0:
        return None
    return (
        f"Cannot evict pod as it would violate the pod's disruption budget {budget.name}: "
        f"{current} healthy, {desired} required"
    )
