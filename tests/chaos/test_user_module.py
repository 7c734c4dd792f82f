"""The fixtures as a user's own test module would use them: choose a strategy, run a fault."""

import pytest

pytestmark = pytest.mark.chaos


@pytest.mark.parametrize("chaos_strategy", ["reconcile-learner"])
def test_reconcile_learner_survives_follower_deletion(run_scenario, etcd_cluster):
    result = run_scenario("pod-delete:follower")
    assert result.verdict.verdict == "pass", result.verdict.reasons
    deleted = result.targets[0]
    events = [(e.kind, e.pod) for e in etcd_cluster.events.since(0)]
    gone = events.index(("pod-gone", deleted))
    assert ("pod-created", deleted) in events[gone:], "the StatefulSet re-creates the deleted pod"
