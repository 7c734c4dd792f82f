"""Real histories kept as regression data, re-judged as ``python -m harness.recheck`` would.

Both ran ``inplace-restart:etcd-2`` on the local backend (etcd 3.5.1): one on
force-new-cluster (tests/chaos/strategies), written to lose data, one on
reconcile-learner, which keeps every write. The data checks must tell them
apart both ways: every finding on the first, none on the second.
"""

import gzip
from pathlib import Path

import pytest

from harness.checkers.lost_writes import LAGGING, LOST
from harness.history import History
from harness.verdict import judge

DATA = Path(__file__).parent / "data"


def kept(name: str, tmp_path: Path) -> History:
    path = tmp_path / "history.json"
    path.write_bytes(gzip.decompress((DATA / f"{name}.history.json.gz").read_bytes()))
    return History.load(path)


@pytest.fixture
def forced(tmp_path):
    return kept("force-new-cluster-inplace-restart", tmp_path)


def test_a_forced_new_cluster_is_two_clusters_that_lost_writes(forced):
    v = judge(forced, forced.meta["outage_budget"])
    assert {"lost-writes", "split-brain", "diverged-member"} <= set(v.reasons), v.reasons
    assert "undecided" not in v.reasons
    # the history alone proves it: two acknowledged operations gave one revision different contents
    assert v.headline(forced.started).startswith("two clusters acknowledged revision ")


def test_writes_only_a_fragment_holds_are_lost_and_those_the_majority_holds_are_lagging(forced):
    v = judge(forced, forced.meta["outage_budget"])
    assert v.lost_writes and all(w.kind == LOST and len(w.held_by) < 2 for w in v.lost_writes)
    assert v.lagging_writes and all(w.kind == LAGGING and len(w.held_by) >= 2 for w in v.lagging_writes)
    assert {w.voters for w in v.lost_writes + v.lagging_writes} == {3}


def test_a_deployment_that_kept_every_write_passes_with_nothing_lagging(tmp_path):
    h = kept("reconcile-learner-inplace-restart", tmp_path)
    v = judge(h, h.meta["outage_budget"])
    assert (v.verdict, v.reasons, v.headline(h.started)) == ("pass", [], "")
    assert (v.lost_writes, v.lagging_writes, v.undecided_writes, v.one_cluster) == ([], [], [], [])
