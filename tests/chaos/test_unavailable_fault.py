"""A fault the backend cannot do is skipped with one line saying why, never faked."""

import pytest

pytestmark = pytest.mark.chaos


@pytest.mark.parametrize("chaos_strategy", ["reconcile-learner"])
def test_latency_without_netem_is_skipped_with_the_reason(run_scenario, cluster_factory, chaos_strategy_obj):
    reason = cluster_factory(chaos_strategy_obj, start=False).missing("network-delay")
    assert reason, "this backend claims network delay: the latency cells of the matrix run it"
    with pytest.raises(pytest.skip.Exception) as skipped:
        run_scenario("latency")
    message = str(skipped.value)
    assert message == f"latency skipped: {reason}"
    assert "\n" not in message
