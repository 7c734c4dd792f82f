"""The data checks against a strategy written to lose data, and against one that should not.

force-new-cluster (in tests/chaos/strategies, not a built-in: nobody should
deploy it) restarts a member with --force-new-cluster: the member goes on
alone with its data while the other two go on without it, both sides
acknowledging writes. The checks must name those writes, or, when the other
side stopped and cannot be read, say that they cannot tell; on
reconcile-learner the same fault must leave every acknowledged write in place.
"""

from pathlib import Path

import pytest

from clusters.strategy import Strategy, load_strategy
from harness.scenario import ScenarioResult

pytestmark = pytest.mark.chaos

FAULT = "inplace-restart:etcd-2"
LOSER = Path(__file__).parent / "strategies" / "force-new-cluster"


class TestStrategyWrittenToLoseData:
    @pytest.fixture
    def chaos_strategy_obj(self) -> Strategy:
        """Loaded by path: it is no built-in, and --strategy-path is the user's option, not the test's."""
        return load_strategy(LOSER)

    @pytest.mark.parametrize("chaos_strategy", ["force-new-cluster"])
    def test_forced_new_cluster_is_reported_as_lost_writes_and_split_brain(self, run_scenario, chaos_strategy):
        check_reported_as_losing_data(run_scenario(FAULT))


def check_reported_as_losing_data(result: ScenarioResult) -> None:
    verdict = result.verdict
    unread = [s.pod for s in result.history.stores if s.error]
    if unread and "split-brain" not in verdict.reasons:
        # The forced member can stop first: it applies its own removal ("data-dir used by this member must be
        # removed"), or the others' leader reaches it before it serves and it panics on its rewritten log
        # ("tocommit(239) is out of range [lastIndex(237)]"); either way it crash-loops and its store cannot be
        # read. What only it acknowledged after the fault may then be lost, and the checks say they cannot tell,
        # never that it is kept or lost; if it acknowledged nothing, its own failure is the finding.
        assert verdict.verdict == "fail" and "undecided" in verdict.reasons, verdict.reasons
        assert not verdict.lost_writes, (unread, verdict.reasons)
        [fault] = result.history.faults
        forced_at = fault.injected or fault.start
        alone = [
            op for op in result.history.operations
            if op.outcome == "ok" and op.kind in ("put", "cas") and op.member in unread and op.complete > forced_at
        ]
        if alone:
            assert verdict.undecided_writes, (unread, len(alone), verdict.reasons)
        else:
            assert {"panic", "crash-loop"} & set(verdict.reasons), (unread, verdict.reasons)
        return
    assert {"lost-writes", "split-brain"} <= set(verdict.reasons), verdict.reasons
    started = result.history.started
    lost = verdict.lost_writes[0]
    text = lost.describe(started)
    # The operation is named: its key, client, value, revision and the member that acknowledged it.
    for part in (lost.operation.key, lost.operation.client, repr(lost.operation.value), f"revision {lost.operation.revision}"):
        assert part in text, text
    assert lost.acknowledged_by.startswith("etcd-"), text
    assert any("different key spaces" in f.text for f in verdict.one_cluster), verdict.one_cluster
    assert result.record()["lost_writes"] == len(verdict.lost_writes)


@pytest.mark.parametrize("chaos_strategy", ["reconcile-learner"])
def test_reconcile_learner_keeps_every_acknowledged_write(run_scenario, chaos_strategy):
    result = run_scenario(FAULT)
    verdict = result.verdict
    assert verdict.verdict == "pass", verdict.reasons
    writes = [op for op in result.history.operations if op.outcome == "ok" and op.kind in ("put", "cas")]
    assert len(writes) > 100, "the workload wrote too little to tell"
    assert verdict.lost_writes == [] and verdict.not_linearizable == [] and verdict.regressions == []
    readable = [s for s in result.history.stores if not s.error]
    assert len(readable) == 3 and len({s.revision for s in readable}) == 1, [(s.pod, s.revision, s.error) for s in readable]
