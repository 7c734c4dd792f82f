"""A fault the backend cannot do is skipped with one line saying why, never faked."""

import pytest

from clusters.local import netem

pytestmark = pytest.mark.chaos


@pytest.mark.parametrize("chaos_strategy", ["reconcile-learner"])
def test_latency_without_netem_is_skipped_with_the_reason(run_scenario, chaos_strategy):
    reason = netem.check_available()
    if reason is None:
        pytest.skip("this kernel has tc netem, so latency runs for real (see the matrix)")
    with pytest.raises(pytest.skip.Exception) as skipped:
        run_scenario("latency")
    message = str(skipped.value)
    assert message == f"latency skipped: {reason}"
    assert "\n" not in message
