"""The incident's own story, step by step, on the strategy it happened to.

A simultaneous rebuild of two members is survived by a cluster where nothing
moved before: the member that stayed keeps its address and both rebuilt
members dial out to it. The seed's cluster had been moving pods for a while:
once one member has moved, rebuilding the two others at once leaves every
peer URL pointing at an address no pod holds, and the cluster never comes back.
"""

import pytest

pytestmark = pytest.mark.chaos

AFTER_A_MOVE = "pod-delete:etcd-2+simultaneous-rebuild:etcd-0,etcd-1"


@pytest.mark.parametrize("chaos_strategy", ["seed-ip-join"])
def test_two_members_rebuilt_after_a_move_never_come_back(run_scenario, chaos_strategy):
    result = run_scenario(AFTER_A_MOVE)
    verdict = result.verdict
    assert result.known is not None and result.known.reason == "not-recovered"
    assert {"quorum-lost", "not-recovered"} <= set(verdict.reasons), verdict.reasons
    assert [w.targets for w in result.windows] == [["etcd-2"], ["etcd-0", "etcd-1"]]
    stale = [h for h in verdict.hazards_at_end if "stale after a rebuild" in h]
    assert len(stale) == 3, verdict.hazards_at_end  # every member's peer URL is an address nobody has
