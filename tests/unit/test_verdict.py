import json

import pytest
from histories import END, START, get, history, put, store

from clusters.events import Event
from clusters.observe import MemberView
from harness.history import FaultWindow
from harness.verdict import FINDINGS_KEPT, REASONS, judge

BUDGET = 60.0
"""Longer than any history here (30 s): only the quorum-lost case gives a budget it can exceed."""

CLUSTER_ID_MISMATCH = (
    '{"level":"warn","ts":"2023-05-02T10:00:02.000Z","caller":"rafthttp/stream.go:653",'
    '"msg":"request sent was ignored by remote peer due to cluster ID mismatch","remote-peer-id":"91bc3c398fb3c146",'
    '"remote-peer-cluster-id":"cdf818194e3a8c32","local-member-id":"8e9e05c52164694d",'
    '"local-member-cluster-id":"2037210783374497","error":"cluster ID mismatch"}'
)


@pytest.fixture
def whole(make_snapshot):
    """A whole cluster seen at the start and at the end."""
    return [make_snapshot(time=START), make_snapshot(time=END)]


def clean(whole):
    """What every checker passes: writes every store holds, reads that see them, one cluster."""
    return history(
        snapshots=whole,
        operations=[
            put("c1", "/k", "a", 1, revision=2),
            get("c2", "/k", "a", 2, revision=2, member=1),
            put("c2", "/k", "b", 3, revision=3, member=1),
            get("c1", "/k", "b", 4, revision=3, member=2),
            get("c3", "/k", "a", 5, revision=2, member=2, serializable=True),  # stale, but allowed to be
        ],
        stores=[store(f"etcd-{i}", (2, "/k", "a"), (3, "/k", "b")) for i in range(3)],
        logs={"etcd-0": ['{"level":"info","msg":"ready to serve client requests"}']},
    )


def test_a_clean_history_passes(whole):
    v = judge(clean(whole), outage_budget=BUDGET)
    assert (v.verdict, v.reasons) == ("pass", [])
    assert (v.lost_writes, v.not_linearizable, v.one_cluster, v.regressions) == ([], [], [], [])
    assert (v.panics, v.alarms, v.crash_loops, v.fault_errors, v.problems_at_end) == ([], [], [], [], [])
    assert v.recovery_s == 0.0


# --- one minimal history per reason -------------------------------------------------------------


def panicked(whole, make_views, make_snapshot):
    return history(snapshots=whole, logs={"etcd-1": ["starting\npanic: runtime error: index out of range\n"]}), BUDGET


def crash_looped(whole, make_views, make_snapshot):
    exits = [Event(START + t, "container-exited", "etcd-1", {"cause": "crash", "restart_count": t}) for t in (1, 2)]
    return history(snapshots=whole, events=exits), BUDGET


def lost_quorum(whole, make_views, make_snapshot):
    return history(snapshots=whole, operations=[put("c1", "/k", "a", 1)]), 5.0  # no commit for 29 s


def not_recovered(whole, make_views, make_snapshot):
    down = make_views()
    down[2] = MemberView("etcd-2", None, error="pod is Pending")
    return history(snapshots=[whole[0], make_snapshot(down, time=END)]), BUDGET


def fault_incomplete(whole, make_views, make_snapshot):
    blocked = FaultWindow("node-drain", ["node-1"], START + 5, START + 6, injected=START + 5, error="eviction blocked")
    return history(snapshots=whole, faults=[blocked]), BUDGET


def lost_writes(whole, make_views, make_snapshot):
    stores = [store(f"etcd-{i}", (2, "/k", "x")) for i in range(3)]  # every member holds another value there
    return history(snapshots=whole, operations=[put("c1", "/k", "a", 1, revision=2)], stores=stores), BUDGET


def not_linearizable(whole, make_views, make_snapshot):
    ops = [put("c1", "/k", "a", 1), get("c2", "/k", "never-written", 2)]
    return history(snapshots=whole, operations=ops), BUDGET


def split_by_diverged_stores(whole, make_views, make_snapshot):
    stores = [store("etcd-0", (2, "/k", "a")), store("etcd-1", (2, "/k", "a")), store("etcd-2", (2, "/k", "b"))]
    return history(snapshots=whole, stores=stores), BUDGET


def split_by_alarm(whole, make_views, make_snapshot):
    return history(snapshots=whole, logs={"etcd-2": [CLUSTER_ID_MISMATCH]}), BUDGET


def revision_regressed(whole, make_views, make_snapshot):
    ops = [put("c1", "/k", "a", 1, revision=5), get("c1", "/k", "a", 2, revision=4)]
    return history(snapshots=whole, operations=ops), BUDGET


TRIGGERS = [
    ("panic", panicked),
    ("crash-loop", crash_looped),
    ("quorum-lost", lost_quorum),
    ("not-recovered", not_recovered),
    ("fault-incomplete", fault_incomplete),
    ("lost-writes", lost_writes),
    ("not-linearizable", not_linearizable),
    ("split-brain", split_by_diverged_stores),
    ("split-brain", split_by_alarm),
    ("revision-regressed", revision_regressed),
]


def test_every_reason_has_a_minimal_history():
    assert {reason for reason, _ in TRIGGERS} == set(REASONS)


@pytest.mark.parametrize(("reason", "build"), TRIGGERS, ids=[build.__name__ for _, build in TRIGGERS])
def test_a_minimal_history_fails_for_its_reason_alone(reason, build, whole, make_views, make_snapshot):
    h, budget = build(whole, make_views, make_snapshot)
    v = judge(h, outage_budget=budget)
    assert (v.verdict, v.reasons) == ("fail", [reason])


def test_findings_behind_the_reasons_are_kept(whole, make_views, make_snapshot):
    v = judge(*lost_writes(whole, make_views, make_snapshot))
    assert [w.operation.value for w in v.lost_writes] == ["a"]
    v = judge(*split_by_diverged_stores(whole, make_views, make_snapshot))
    assert [f.kind for f in v.one_cluster] == ["split-brain"]
    assert v.one_cluster[0].text.endswith("first difference at revision 2: etcd-2 has /k = 'b', etcd-0 has /k = 'a'")
    v = judge(*split_by_alarm(whole, make_views, make_snapshot))
    assert [(a.pod, a.label) for a in v.alarms] == [("etcd-2", "cluster-id-mismatch")] and v.one_cluster == []
    v = judge(*not_recovered(whole, make_views, make_snapshot))
    assert v.problems_at_end == ["etcd-2: pod is Pending"]
    v = judge(*fault_incomplete(whole, make_views, make_snapshot))
    assert v.fault_errors == ["node-drain: eviction blocked"]


# --- the summary written to results.json --------------------------------------------------------


def test_summary_is_plain_json_with_the_lost_writes_counted_and_described(whole, make_views, make_snapshot):
    h, budget = lost_writes(whole, make_views, make_snapshot)
    h.logs = {"etcd-2": [CLUSTER_ID_MISMATCH]}
    h.operations.append(get("c1", "/k", "x", 3, revision=1))  # a stale read: also not linearizable, and regressed
    v = judge(h, outage_budget=budget)
    assert v.reasons == ["lost-writes", "not-linearizable", "split-brain", "revision-regressed"]

    summary = json.loads(json.dumps(v.summary(START)))
    assert summary == v.summary(START)
    assert (summary["verdict"], summary["reasons"]) == ("fail", v.reasons)
    assert summary["lost_writes"] == 1
    assert summary["lost_write_examples"] == [
        "/k: c1 put 'a', ok, 1.000–1.100 s on http://10.0.0.1:2379 (acknowledged by etcd-0 at revision 2) is lost: "
        "etcd-0 holds revision 2 as /k = 'x'; etcd-1 holds revision 2 as /k = 'x'; etcd-2 holds revision 2 as /k = 'x'"
    ]
    assert summary["alarms"] == [
        {
            "member": "etcd-2",
            "run": 0,
            "label": "cluster-id-mismatch",
            "line": "request sent was ignored by remote peer due to cluster ID mismatch: cluster ID mismatch",
        }
    ]
    assert summary["revision_regressions"] == [v.regressions[0].describe(START)]
    assert summary["not_linearizable"] == [v.not_linearizable[0].describe()]
    assert summary["one_cluster"] == []
    # The last commit answered at 3.1 s, 26.9 s before the end; of the 29 s from the first call at 1 s,
    # only 0.1 s were not inside a gap longer than a second.
    assert (summary["max_write_outage_s"], summary["quorum_fraction"], summary["recovery_s"]) == (26.9, 0.0034, 0.0)


def test_summary_counts_every_lost_write_but_describes_only_the_first_few(whole):
    ops = [put("c1", f"/k{i}", "a", 1 + i * 0.1, revision=2 + i) for i in range(FINDINGS_KEPT + 5)]
    h = history(snapshots=whole, operations=ops, stores=[store("etcd-0")])  # the only store never got them
    summary = judge(h, outage_budget=BUDGET).summary(START)
    assert summary["lost_writes"] == FINDINGS_KEPT + 5
    assert len(summary["lost_write_examples"]) == FINDINGS_KEPT
    assert summary["lost_write_examples"][0].startswith("/k0: c1 put 'a'")
    json.dumps(summary)
