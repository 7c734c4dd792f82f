"""The Eviction API's PodDisruptionBudget arithmetic, as the API server does it."""

import pytest

from clusters.local.eviction import blocked, desired_healthy
from clusters.local.kubelet import Pod
from clusters.manifests import DisruptionBudget


def budget(min_available=None, max_unavailable=None, policy="IfHealthyBudget"):
    return DisruptionBudget("etcd-pdb", min_available, max_unavailable, policy)


def pod(ordinal, phase="Running", *, ready=True, terminating=False):
    return Pod(f"etcd-{ordinal}", ordinal, ordinal, node="node-a", phase=phase, ready=ready, terminating=terminating)


def cluster(*unready, n=3):
    """``n`` running pods, all ready except the ordinals in ``unready``."""
    return [pod(i, ready=i not in unready) for i in range(n)]


@pytest.mark.parametrize(
    ("min_available", "max_unavailable", "expected", "desired"),
    [
        pytest.param(2, None, 3, 2, id="minAvailable-int"),
        pytest.param("2", None, 3, 2, id="minAvailable-int-as-string"),
        pytest.param("50%", None, 3, 2, id="minAvailable-50%-of-3-rounds-up"),
        pytest.param("51%", None, 5, 3, id="minAvailable-51%-of-5-rounds-up"),
        pytest.param("100%", None, 3, 3, id="minAvailable-100%"),
        pytest.param(None, 1, 3, 2, id="maxUnavailable-int"),
        pytest.param(None, "50%", 3, 1, id="maxUnavailable-50%-of-3-rounds-up"),
        pytest.param(None, "20%", 5, 4, id="maxUnavailable-20%-of-5-exact"),
        pytest.param(None, 5, 3, 0, id="maxUnavailable-above-expected-is-zero"),
        pytest.param(None, None, 3, 0, id="neither"),
    ],
)
def test_desired_healthy(min_available, max_unavailable, expected, desired):
    assert desired_healthy(budget(min_available, max_unavailable), expected) == desired


def test_without_a_budget_nothing_is_blocked():
    pods = cluster()
    assert blocked(None, pods, 3, pods[0]) is None


@pytest.mark.parametrize(
    "target",
    [pod(0, "Pending", ready=False), pod(0, terminating=True), pod(0, "Failed", ready=False)],
    ids=["pending", "terminating", "failed"],
)
def test_pods_that_are_not_running_are_never_blocked(target):
    strictest = budget(min_available="100%")
    assert blocked(strictest, [target, pod(1), pod(2)], 3, target) is None


@pytest.mark.parametrize(
    ("rules", "unready", "allowed"),
    [
        pytest.param({"min_available": 2}, (), True, id="3-healthy-2-required"),
        pytest.param({"min_available": 3}, (), False, id="3-healthy-3-required"),
        pytest.param({"min_available": 2}, (2,), False, id="2-healthy-2-required"),
        pytest.param({"max_unavailable": 1}, (), True, id="maxUnavailable-1-all-healthy"),
        pytest.param({"max_unavailable": 1}, (2,), False, id="maxUnavailable-1-one-down"),
        pytest.param({"max_unavailable": "34%"}, (2,), True, id="maxUnavailable-34%-rounds-up-one-down"),
        pytest.param({"min_available": "50%"}, (2,), False, id="minAvailable-50%-one-down"),
    ],
)
def test_a_healthy_pod_goes_only_while_healthy_exceeds_desired(rules, unready, allowed):
    pods = cluster(*unready)
    reason = blocked(budget(**rules), pods, 3, pods[0])
    assert (reason is None) == allowed, reason


def test_the_refusal_names_the_budget_and_the_counts():
    pods = cluster(2)
    assert blocked(budget(min_available=2), pods, 3, pods[0]) == (
        "Cannot evict pod as it would violate the pod's disruption budget etcd-pdb: 2 healthy, 2 required"
    )


@pytest.mark.parametrize(
    ("min_available", "policy", "allowed"),
    [
        pytest.param(2, "IfHealthyBudget", True, id="if-healthy-budget-met"),
        pytest.param(3, "IfHealthyBudget", False, id="if-healthy-budget-not-met"),
        pytest.param(3, "AlwaysAllow", True, id="always-allow"),
        pytest.param("100%", "AlwaysAllow", True, id="always-allow-strictest"),
    ],
)
def test_a_not_ready_pod(min_available, policy, allowed):
    pods = cluster(0)  # etcd-0 runs but is not ready; etcd-1 and etcd-2 are healthy
    reason = blocked(budget(min_available=min_available, policy=policy), pods, 3, pods[0])
    assert (reason is None) == allowed, reason


def test_a_not_ready_pod_with_nothing_desired_and_nothing_healthy_is_refused():
    # The API server's shortcut for not-ready pods needs DesiredHealthy > 0
    # (pkg/registry/core/pod/storage/eviction.go); with 0 disruptions allowed it refuses.
    pods = cluster(0, 1, 2)
    assert blocked(budget(max_unavailable=3), pods, 3, pods[0]) is not None
