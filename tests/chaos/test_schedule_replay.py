"""A seeded random schedule replays identically: same faults, same targets, same order."""

import pytest

pytestmark = pytest.mark.chaos

SEED = 20261130  # plans pause, inplace-restart-wiped, pause, partition-out, pod-delete: all aimed at pods by name


@pytest.mark.parametrize("chaos_strategy", ["reconcile-learner"])
def test_random_schedule_replays_from_its_seed(run_scenario, chaos_strategy):
    first = run_scenario("random*5", seed=SEED)
    second = run_scenario("random*5", seed=SEED)

    def steps(result):
        return [(w.fault, w.targets, w.skipped) for w in result.windows]

    assert len(first.windows) == 5
    assert all(w.targets for w in first.windows), steps(first)
    assert steps(first) == steps(second)
    assert first.verdict.verdict == "pass", first.verdict.reasons
