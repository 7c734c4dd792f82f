import json

import pytest
from histories import END, START, get, history, put, store, unreadable

from clusters.events import Event
from clusters.observe import MemberView
from harness.history import FaultWindow, History
from harness.verdict import DEFAULT_SEARCH_BUDGET, FINDINGS_KEPT, REASONS, judge

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


def diverged_member(whole, make_views, make_snapshot):
    stores = [store("etcd-0", (2, "/k", "a")), store("etcd-1", (2, "/k", "a")), store("etcd-2", (2, "/k", "b"))]
    return history(snapshots=whole, stores=stores), BUDGET


def split_by_acknowledged_revisions(whole, make_views, make_snapshot):
    # etcd-2 answered a read at revision 2 without the put acknowledged there: its side left no store behind
    ops = [get("c2", "/k", None, 0.5, revision=2, member=2), put("c1", "/k", "a", 1, revision=2)]
    stores = [store("etcd-0", (2, "/k", "a")), store("etcd-1", (2, "/k", "a")), store("etcd-2", (2, "/k", "a"))]
    return history(snapshots=whole, operations=ops, stores=stores), BUDGET


CORRUPT_ALARM = '{"level":"warn","msg":"alarm raised","alarm":"CORRUPT","from":"0"}'


def corrupted(whole, make_views, make_snapshot):
    return history(snapshots=whole, logs={"etcd-0": [CORRUPT_ALARM]}), BUDGET


def store_unread(whole, make_views, make_snapshot):
    return history(snapshots=whole, stores=[store("etcd-0"), store("etcd-1"), unreadable("etcd-2")]), BUDGET


def split_by_alarm(whole, make_views, make_snapshot):
    return history(snapshots=whole, logs={"etcd-2": [CLUSTER_ID_MISMATCH]}), BUDGET


def revision_regressed(whole, make_views, make_snapshot):
    ops = [put("c1", "/k", "a", 1, revision=5), get("c1", "/k", "a", 2, revision=4)]
    return history(snapshots=whole, operations=ops, stores=[store(f"etcd-{i}", (5, "/k", "a")) for i in range(3)]), BUDGET


def never_started(whole, make_views, make_snapshot):
    """The cluster never became whole, so no traffic ran: nothing was committed, no store was read."""
    why = "etcd-0: container waiting: CrashLoopBackOff, 3 restarts, last exits 1 (Error)"
    meta = {"started": START, "ended": END, "not_started": {"summary": "cluster not healthy after 20s", "pods": [why]}}
    return History(meta=meta, snapshots=[make_snapshot([MemberView(f"etcd-{i}", None, error="pod is Pending") for i in range(3)])]), BUDGET


TRIGGERS = [
    ("not-started", never_started),
    ("panic", panicked),
    ("crash-loop", crash_looped),
    ("quorum-lost", lost_quorum),
    ("not-recovered", not_recovered),
    ("fault-incomplete", fault_incomplete),
    ("lost-writes", lost_writes),
    ("not-linearizable", not_linearizable),
    ("split-brain", split_by_acknowledged_revisions),
    ("split-brain", split_by_alarm),
    ("diverged-member", diverged_member),
    ("corrupt", corrupted),
    ("revision-regressed", revision_regressed),
    ("undecided", store_unread),
]


def test_every_reason_has_a_minimal_history():
    assert {reason for reason, _ in TRIGGERS} == set(REASONS)


@pytest.mark.parametrize(("reason", "build"), TRIGGERS, ids=[build.__name__ for _, build in TRIGGERS])
def test_a_minimal_history_fails_for_its_reason_alone(reason, build, whole, make_views, make_snapshot):
    h, budget = build(whole, make_views, make_snapshot)
    v = judge(h, outage_budget=budget)
    assert (v.verdict, v.reasons) == ("undecided" if reason == "undecided" else "fail", [reason])
    assert v.headline(START), "every failure has a sentence that explains it"


def test_findings_behind_the_reasons_are_kept(whole, make_views, make_snapshot):
    v = judge(*lost_writes(whole, make_views, make_snapshot))
    assert [w.operation.value for w in v.lost_writes] == ["a"]
    v = judge(*diverged_member(whole, make_views, make_snapshot))
    assert [f.kind for f in v.one_cluster] == ["diverged-member"]
    assert v.one_cluster[0].text.endswith("first difference at revision 2: etcd-2 has /k = 'b', etcd-0 has /k = 'a'")
    v = judge(*split_by_alarm(whole, make_views, make_snapshot))
    assert [(a.pod, a.label) for a in v.alarms] == [("etcd-2", "cluster-id-mismatch")] and v.one_cluster == []
    v = judge(*not_recovered(whole, make_views, make_snapshot))
    assert v.problems_at_end == ["etcd-2: pod is Pending"]
    h, budget = not_recovered(whole, make_views, make_snapshot)
    h.events.append(Event(END - 5, "back-off", "etcd-2", {"container": "etcd", "restart_count": 3, "message": "back-off 40s x"}))
    assert judge(h, budget).problems_at_end == [
        "etcd-2: pod is Pending; etcd-2 was held down by the kubelet's restart back-off (40 s after 3 restarts, "
        "from 125.0 s): its next start was due at 165.0 s, after the last look at 130.0 s"
    ]
    v = judge(*fault_incomplete(whole, make_views, make_snapshot))
    assert v.fault_errors == ["node-drain: eviction blocked"]
    v = judge(*never_started(whole, make_views, make_snapshot))
    assert v.problems_at_end == v.not_started == ["etcd-0: container waiting: CrashLoopBackOff, 3 restarts, last exits 1 (Error)"]
    assert v.headline(START) == "the cluster never became whole: " + v.not_started[0]
    refused, _ = never_started(whole, make_views, make_snapshot)
    refused.meta["etcd_version"] = "3.6.16"
    refused.meta["not_started"]["logs"] = {"etcd-0": ["starting etcd-0", "etcd: unknown flag: --enable-v2"]}
    assert judge(refused, BUDGET).headline(START) == (
        "the cluster never became whole on etcd 3.6.16: etcd-0: container waiting: CrashLoopBackOff, 3 restarts, "
        "last exits 1 (Error) etcd: unknown flag: --enable-v2"
    )


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
        "held by 0 of 3 voting members; etcd-0 holds revision 2 as /k = 'x'; etcd-1 holds revision 2 as /k = 'x'; etcd-2 holds revision 2 as /k = 'x'"
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


# --- three-valued: what could not be decided is never a pass --------------------------------------


def concurrent_writes(whole, n=12):
    """Writes all in flight together, then a read: a search must try many orders (budget-hungry)."""
    ops = [put(f"c{i}", "/k", f"v{i}", 1, took=5, revision=2 + i) for i in range(n)]
    ops.append(get("r", "/k", "v0", 7, revision=2 + n))
    stores = [store(f"etcd-{j}", *((2 + i, "/k", f"v{i}") for i in range(n))) for j in range(3)]
    return history(snapshots=whole, operations=ops, stores=stores)


def test_a_search_over_budget_is_undecided_not_a_pass(whole):
    h = concurrent_writes(whole)
    assert judge(h, BUDGET).verdict in ("pass", "fail")  # the default budget decides it
    v = judge(h, BUDGET, search_budget=1)
    assert (v.verdict, v.reasons) == ("undecided", ["undecided"])
    assert v.undecided == ["key /k: unknown (search budget exceeded: 1 states; 13 operations)"]
    assert v.headline(START) == "could not decide: key /k: unknown (search budget exceeded: 1 states; 13 operations)"
    assert v.summary(START)["undecided"] == v.undecided


def test_the_default_search_budget_is_the_checkers(whole):
    assert DEFAULT_SEARCH_BUDGET > 1000


def test_a_failure_beside_something_undecided_is_a_failure_naming_both(whole, make_views, make_snapshot):
    h, _ = store_unread(whole, make_views, make_snapshot)
    h.logs = {"etcd-1": ["panic: boom"]}
    v = judge(h, BUDGET)
    assert (v.verdict, v.reasons) == ("fail", ["panic", "undecided"])
    assert v.headline(START) == "etcd-1 panicked: panic: boom"


def test_a_write_short_of_a_majority_only_by_an_unread_store_is_undecided(whole):
    stores = [store("etcd-0", (2, "/k", "a")), store("etcd-1", (2, "/k", "b")), unreadable("etcd-2")]
    h = history(snapshots=whole, operations=[put("c1", "/k", "a", 1, revision=2)], stores=stores)
    v = judge(h, BUDGET)
    assert "lost-writes" not in v.reasons and "undecided" in v.reasons
    assert v.summary(START)["undecided_writes"] == 1 and v.summary(START)["lost_writes"] == 0


def test_a_write_only_a_wiped_member_lacks_is_lagging_not_lost(whole):
    stores = [store("etcd-0", (2, "/k", "a")), store("etcd-1", (2, "/k", "a")), store("etcd-2")]
    v = judge(history(snapshots=whole, operations=[put("c1", "/k", "a", 1, revision=2)], stores=stores), BUDGET)
    assert (v.verdict, v.reasons) == ("pass", [])
    assert (v.lost_writes, [w.operation.value for w in v.lagging_writes]) == ([], ["a"])
    summary = v.summary(START)
    assert (summary["lost_writes"], summary["lagging_writes"]) == (0, 1)
    assert "survived: held by 2 of 3 voting members (etcd-0, etcd-1); etcd-2 ends at revision 1" in (
        summary["lagging_write_examples"][0]
    )


# --- the headline: the most telling finding first -------------------------------------------------


def test_two_clusters_explain_a_failure_before_everything_they_caused(whole, make_views, make_snapshot):
    h, _ = split_by_acknowledged_revisions(whole, make_views, make_snapshot)
    h.logs = {"etcd-2": ["panic: boom"]}
    v = judge(h, BUDGET)
    assert v.reasons[0] == "panic" and "split-brain" in v.reasons
    assert v.headline(START).startswith("two clusters acknowledged revision 2 with different contents")
    assert v.summary(START)["headline"] == v.headline(START)


def test_really_lost_writes_head_the_failure(whole, make_views, make_snapshot):
    v = judge(*lost_writes(whole, make_views, make_snapshot))
    assert v.headline(START).startswith("1 acknowledged writes lost, e.g. /k: c1 put 'a'")


def test_a_pass_has_no_headline(whole):
    assert judge(clean(whole), BUDGET).headline(START) == ""
