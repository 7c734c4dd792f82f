"""The fixtures as a user's own test module would use them: choose a strategy, run a fault."""

import pytest

from clusters import observe

pytestmark = pytest.mark.chaos


@pytest.mark.parametrize("chaos_strategy", ["reconcile-learner"])
def test_reconcile_learner_survives_follower_deletion(run_scenario):
    result = run_scenario("pod-delete:follower")
    assert result.verdict.verdict == "pass", result.verdict.reasons
    [deleted] = result.windows[0].targets
    events = [(e.kind, e.pod) for e in result.history.events]
    gone = events.index(("pod-gone", deleted))
    assert ("pod-created", deleted) in events[gone:], "the StatefulSet re-creates the deleted pod"


@pytest.mark.parametrize("chaos_strategy", ["static-dns"])
def test_etcd_cluster_is_a_started_cluster_of_the_strategy(etcd_cluster):
    assert etcd_cluster.strategy.name == "static-dns"
    observe.wait_healthy(etcd_cluster, 90)  # started is not yet whole: the StatefulSet controller creates the pods
    assert [p.name for p in etcd_cluster.pods()] == ["etcd-0", "etcd-1", "etcd-2"]
