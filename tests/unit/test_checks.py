import pytest

from clusters.events import Event
from clusters.observe import MemberView
from harness.checkers.availability import max_write_outage, recovery_time
from harness.checkers.logs import (
    Alarm,
    BackOff,
    CrashLoop,
    find_alarms,
    find_crash_loops,
    find_panics,
    go_duration,
    pending_back_offs,
)
from harness.history import FaultWindow, History, Operation
from harness.verdict import judge

ZAP_PANIC = (
    '{"level":"panic","ts":"2021-11-29T21:17:42.101Z","caller":"raft/log.go:59",'
    '"msg":"tocommit(37) is out of range [lastIndex(0)]. Was the raft log corrupted, truncated, or lost?"}'
)
ZAP_LOG = "\n".join(
    [
        '{"level":"info","ts":"2021-11-29T21:17:41.000Z","msg":"starting member"}',
        '{"level":"info","ts":"2021-11-29T21:17:42.000Z","msg":"became follower at term 2"}',
        ZAP_PANIC,
        "panic: tocommit(37) is out of range [lastIndex(0)]. Was the raft log corrupted, truncated, or lost?",
        "",
        "goroutine 1 [running]:",
    ]
)
CAPNSLOG = (
    "2017-11-29 21:17:42.101622 I | raft: 8e9e05c52164694d became follower at term 2\n"
    "2017-11-29 21:17:42.101653 C | raft: tocommit(37) is out of range [lastIndex(0)]. "
    "Was the raft log corrupted, truncated, or lost?\n"
    "panic: tocommit(37) is out of range [lastIndex(0)]\n"
)
CLEAN = "\n".join(
    [
        '{"level":"info","msg":"no panic here"}',
        '{"level":"warn","msg":"recovered from panic: in handler","error":"fatal error: none"}',
        "2017-11-29 21:17:42.101622 I | etcdserver: no panic here, fatal error: none",
        "2017-11-29 21:17:42.101622 W | rafthttp: lost the TCP streaming connection (panic: no)",
        "the word panic: inside a sentence",
    ]
)


def test_zap_panic_is_found_with_time_message_and_excerpt():
    [panic] = find_panics({"etcd-1": [CLEAN, ZAP_LOG]})
    assert (panic.pod, panic.run, panic.time) == ("etcd-1", 1, "2021-11-29T21:17:42.101Z")
    assert panic.message.startswith("tocommit(37) is out of range [lastIndex(0)]")
    assert "became follower at term 2" in panic.excerpt
    assert panic.excerpt.splitlines()[-1].startswith("panic: tocommit(37)")  # one line after the hit
    assert "goroutine" not in panic.excerpt


def test_capnslog_critical_line_is_found():
    [panic] = find_panics({"etcd-0": [CAPNSLOG]})
    assert panic.time == ""
    assert panic.message.startswith("2017-11-29 21:17:42.101653 C | raft: tocommit(37) is out of range")


def test_zap_fatal_line_is_found():
    line = '{"level":"fatal","ts":"t1","msg":"failed to start etcd","error":"member count is unequal"}'
    [panic] = find_panics({"etcd-2": [line]})
    assert (panic.time, panic.message) == ("t1", "failed to start etcd")


def test_go_panic_banner_alone_is_found():
    [panic] = find_panics({"etcd-0": ["starting\npanic: runtime error: index out of range\n"]})
    assert panic.message == "panic: runtime error: index out of range"


def test_clean_logs_mentioning_panic_do_not_count():
    assert find_panics({"etcd-0": [CLEAN, ""], "etcd-1": []}) == []


def test_one_panic_per_container_run():
    found = find_panics({"etcd-1": [ZAP_LOG, CAPNSLOG], "etcd-0": [ZAP_LOG]})
    assert [(p.pod, p.run) for p in found] == [("etcd-0", 0), ("etcd-1", 0), ("etcd-1", 1)]


LOCAL = "d5811b26ae265d01"


def removal(removed: str) -> str:
    return (
        f'{{"level":"info","ts":"t0","caller":"membership/cluster.go:472","msg":"removed member",'
        f'"cluster-id":"7dadeba69db23bd2","local-member-id":"{LOCAL}","removed-remote-peer-id":"{removed}"}}'
    )


STATUS_PANIC = (
    '{"level":"panic","ts":"t1","caller":"membership/cluster.go:859","msg":"failed to find local ID in cluster members",'
    f'"local-member-id":"{LOCAL}","stacktrace":"go.etcd.io/etcd/server/v3/etcdserver/api/membership.'
    "(*RaftCluster).IsLocalMemberLearner\\n\\t/src/etcd/server/etcdserver/api/membership/cluster.go:859\\n"
    'go.etcd.io/etcd/server/v3/etcdserver.(*EtcdServer).IsLearner\\n\\t/src/etcd/server/etcdserver/server.go:2669"}'
)
NIL_BANNER = "\n".join(
    [
        "panic: runtime error: invalid memory address or nil pointer dereference",
        "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0xb3f5e2]",
        "",
        "goroutine 212 [running]:",
        "go.uber.org/zap/zapcore.(*CheckedEntry).Write(0xc0020b8780, {0xc002256700, 0x2, 0x2})",
        "\t/go/pkg/mod/go.uber.org/zap@v1.17.0/zapcore/entry.go:234 +0x58d",
        "go.etcd.io/etcd/server/v3/etcdserver.(*EtcdServer).applyEntryNormal(0xc0003c6300, 0xc00211a000)",
        "\t/src/etcd/server/etcdserver/server.go:2215 +0x1a6",
    ]
)


def test_a_panic_names_the_first_etcd_frame_of_its_stack():
    [zap] = find_panics({"etcd-0": [STATUS_PANIC]})
    assert zap.where == "membership.(*RaftCluster).IsLocalMemberLearner (cluster.go:859)"
    [banner] = find_panics({"etcd-0": ["starting\n" + NIL_BANNER]})
    assert banner.where == "etcdserver.(*EtcdServer).applyEntryNormal (server.go:2215)"
    assert banner.describe() == (
        "etcd-0 panicked in etcdserver.(*EtcdServer).applyEntryNormal (server.go:2215): "
        "panic: runtime error: invalid memory address or nil pointer dereference"
    )
    [bare] = find_panics({"etcd-0": ["panic: runtime error: index out of range"]})
    assert bare.where == "" and bare.describe() == "etcd-0 panicked: panic: runtime error: index out of range"


@pytest.mark.parametrize(
    "log, leaving",
    [
        ("\n".join([removal(LOCAL), STATUS_PANIC]), True),  # its own removal applied, then a Status call panicked
        ("\n".join([removal("4a96f265b51e9bcc"), STATUS_PANIC]), False),  # another member's removal
        ("\n".join([STATUS_PANIC, removal(LOCAL)]), False),  # the removal came after the panic
        ("\n".join([removal(LOCAL), ZAP_PANIC]), True),
        (  # capnslog (etcd 3.4 without --logger=zap): the local ID from the start line
            "2017-11-29 21:17:40.0 I | etcdserver: starting member d5811b26ae265d01 in cluster 7dadeba69db23bd2\n"
            "2017-11-29 21:17:42.0 I | etcdserver/membership: removed member d5811b26ae265d01 from cluster 7dad\n"
            + NIL_BANNER,
            True,
        ),
        (
            "2017-11-29 21:17:40.0 I | etcdserver: starting member d5811b26ae265d01 in cluster 7dadeba69db23bd2\n"
            "2017-11-29 21:17:42.0 I | etcdserver/membership: removed member 4a96f265b51e9bcc from cluster 7dad\n"
            + NIL_BANNER,
            False,
        ),
    ],
)
def test_a_panic_after_the_process_applied_its_own_removal_is_leaving(log, leaving):
    [panic] = find_panics({"etcd-0": [log]})
    assert panic.leaving is leaving


def test_judge_reports_a_leaving_panic_apart_and_fails_on_a_members(make_snapshot, make_views):
    states = [(112.0, False), (113.25, True), (130.0, True)]
    clean = dict(faults=FAULT, operations=[ok(t) for t in (111.0, 113.0, 115.0, 120.0, 125.0, 129.0)])
    leaving = judge(
        history(**clean, snapshots=snapshots(make_snapshot, make_views, states),
                logs={"etcd-0": ["\n".join([removal(LOCAL), STATUS_PANIC]), CLEAN]}),
        outage_budget=5.0,
    )
    assert (leaving.verdict, leaving.panics, [p.pod for p in leaving.panics_leaving]) == ("pass", [], ["etcd-0"])
    assert leaving.summary(100.0)["panics_leaving"][0]["where"].startswith("membership.(*RaftCluster)")
    member = judge(
        history(**clean, snapshots=snapshots(make_snapshot, make_views, states),
                logs={"etcd-0": [CLEAN, "\n".join([removal("4a96f265b51e9bcc"), STATUS_PANIC])]}),
        outage_budget=5.0,
    )
    assert (member.verdict, member.reasons, member.panics_leaving) == ("fail", ["panic"], [])


def history(**kw):
    return History(meta={"started": 100.0, "ended": 130.0}, **kw)


def exited(pod, cause, restart_count, t=0.0):
    return Event(t, "container-exited", pod, {"cause": cause, "restart_count": restart_count, "exit_code": 1})


def test_crash_loop_counts_only_crashes():
    events = [
        exited("etcd-0", "fault", 0),
        exited("etcd-0", "crash", 1),
        exited("etcd-0", "crash", 2),
        Event(0.0, "back-off", "etcd-0", {"seconds": 10}),
        exited("etcd-1", "fault", 0),
        exited("etcd-1", "deleted", 1),
        exited("etcd-1", "fault", 2),
        exited("etcd-2", "crash", 0),
    ]
    assert find_crash_loops(events) == [CrashLoop("etcd-0", crashes=2, restart_count=3)]
    assert [c.pod for c in find_crash_loops(events, min_crashes=1)] == ["etcd-0", "etcd-2"]


def back_off(pod, t, delay="2m40s", restarts=5, container="etcd"):
    message = f"back-off {delay} restarting failed container={container} pod={pod}_ns(u)"
    return Event(t, "back-off", pod, {"container": container, "restart_count": restarts, "message": message})


@pytest.mark.parametrize(("text", "seconds"), [("10s", 10), ("1m20s", 80), ("5m0s", 300), ("1h2m3s", 3723), ("500ms", 0.5)])
def test_the_kubelets_durations_are_read(text, seconds):
    assert go_duration(text) == pytest.approx(seconds)


def test_a_back_off_is_pending_until_that_container_starts_again_or_its_pod_is_made_anew():
    started = Event(30.0, "container-started", "etcd-0", {"container": "etcd"})
    events = [
        back_off("etcd-0", 20.0, "10s", 1), started,  # waited out
        back_off("etcd-1", 40.0, "20s", 2), back_off("etcd-1", 50.0, "1m20s", 4),  # the later one holds
        back_off("etcd-2", 45.0), Event(46.0, "pod-created", "etcd-2", {"uid": "new"}),  # a new pod owes nothing
        back_off("etcd-0", 60.0, "5m0s", 6, container="sidecar"),
        Event(61.0, "container-started", "etcd-0", {"container": "etcd"}),  # another container's start
        Event(62.0, "back-off", "etcd-3", {"container": "etcd", "restart_count": 1, "message": "no delay here"}),
    ]
    assert pending_back_offs(events) == {
        "etcd-0": BackOff("etcd-0", 60.0, 300.0, 6),
        "etcd-1": BackOff("etcd-1", 50.0, 80.0, 4),
        "etcd-3": BackOff("etcd-3", 62.0, None, 1),
    }


def test_a_back_off_says_when_the_next_start_was_due_only_if_that_was_after_the_last_look():
    held = BackOff("etcd-1", 259.6, 160.0, 5)
    assert held.describe(318.8) == (
        "etcd-1 was held down by the kubelet's restart back-off (160 s after 5 restarts, from 259.6 s): "
        "its next start was due at 419.6 s, after the last look at 318.8 s"
    )
    assert held.describe(500.0) == "etcd-1 was held down by the kubelet's restart back-off (160 s after 5 restarts, from 259.6 s)"
    assert "of unknown length" in BackOff("etcd-1", 1.0, None, 1).describe(2.0)


def ok(complete, outcome="ok"):
    return Operation("w", "put", "k", "v", "e", invoke=complete - 0.1, complete=complete, outcome=outcome)


def test_write_outage_is_the_longest_gap_between_acknowledged_writes_after_the_fault():
    ops = [ok(105.0), ok(111.0), ok(112.0), ok(115.0, "fail"), ok(116.0, "unknown"), ok(118.0), ok(129.0)]
    faults = [FaultWindow("pod-delete", ["etcd-0"], 110.0, 111.0)]
    assert max_write_outage(history(operations=ops, faults=faults)) == pytest.approx(11.0)


def test_write_outage_runs_to_the_end_without_a_write_after_the_fault():
    ops = [ok(105.0), ok(109.0), ok(112.0, "fail")]
    faults = [FaultWindow("pod-delete", ["etcd-0"], 110.0, 111.0)]
    assert max_write_outage(history(operations=ops, faults=faults)) == pytest.approx(20.0)


def test_write_outage_starts_at_the_first_fault_or_the_start():
    ops = [ok(101.0), ok(125.0), ok(129.0)]
    faults = [FaultWindow("a", [], 120.0, 121.0), FaultWindow("b", [], 115.0, 116.0)]
    assert max_write_outage(history(operations=ops, faults=faults)) == pytest.approx(10.0)
    assert max_write_outage(history(operations=ops)) == pytest.approx(24.0)


def snapshots(make_snapshot, make_views, states):
    broken = make_views()
    broken[0] = MemberView("etcd-0", None, error="pod is Pending")
    return [make_snapshot(make_views() if good else broken, time=t) for t, good in states]


FAULT = [FaultWindow("pod-delete", ["etcd-0"], 110.0, 111.0)]


def test_recovery_is_measured_from_the_heal_to_the_last_healthy_streak(make_snapshot, make_views):
    states = [(105.0, True), (112.0, False), (113.0, True), (114.0, False), (116.0, True), (118.0, True)]
    h = history(faults=FAULT, snapshots=snapshots(make_snapshot, make_views, states))
    assert recovery_time(h) == pytest.approx(5.0)


@pytest.mark.parametrize(
    "states",
    [
        [(105.0, True), (112.0, False), (113.0, False)],  # never healthy after the heal
        [(112.0, True), (120.0, False)],  # healthy for a moment, then not
        [(105.0, True)],  # nothing observed after the heal
    ],
)
def test_not_recovered(make_snapshot, make_views, states):
    h = history(faults=FAULT, snapshots=snapshots(make_snapshot, make_views, states))
    assert recovery_time(h) is None


def test_judge_passes_a_clean_history(make_snapshot, make_views):
    h = history(
        faults=FAULT,
        operations=[ok(t) for t in (111.0, 113.0, 115.0, 120.0, 125.0, 129.0)],
        snapshots=snapshots(make_snapshot, make_views, [(112.0, False), (113.25, True), (130.0, True)]),
        logs={"etcd-0": [CLEAN]},
    )
    v = judge(h, outage_budget=5.0)  # longest gap is exactly 5 s: within budget
    assert (v.verdict, v.reasons) == ("pass", [])
    assert (v.max_write_outage_s, v.recovery_s, v.problems_at_end) == (5.0, 2.25, [])


def test_judge_fails_with_every_reason(make_snapshot, make_views):
    h = history(
        faults=FAULT,
        operations=[ok(105.0)],
        events=[exited("etcd-1", "crash", 0), exited("etcd-1", "crash", 1)],
        snapshots=snapshots(make_snapshot, make_views, [(112.0, False), (129.0, False)]),
        logs={"etcd-1": [ZAP_LOG]},
    )
    v = judge(h, outage_budget=5.0)
    assert v.verdict == "fail"
    assert v.reasons == ["panic", "crash-loop", "quorum-lost", "not-recovered"]
    assert v.max_write_outage_s == 20.0 and v.recovery_s is None
    assert v.problems_at_end == ["etcd-0: pod is Pending"]
    assert [p.pod for p in v.panics] == ["etcd-1"] and [c.pod for c in v.crash_loops] == ["etcd-1"]


def test_judge_without_snapshots():
    v = judge(history(operations=[ok(t) for t in range(101, 131)]), outage_budget=5.0)
    assert v.reasons == ["not-recovered"]
    assert v.problems_at_end == ["no snapshot taken"]


# --- alarms: why a member could not take part -------------------------------------------------

# etcd 3.5 zap lines, as the members write them (stack traces shortened).
ALREADY_BOOTSTRAPPED = (
    '{"level":"fatal","ts":"2023-05-02T10:00:01.123Z","caller":"etcdmain/etcd.go:204","msg":"discovery failed",'
    '"error":"member 8e9e05c52164694d has already been bootstrapped",'
    '"stacktrace":"go.etcd.io/etcd/server/v3/etcdmain.startEtcdOrProxyV2\\n\\tetcdmain/etcd.go:204"}'
)
CLUSTER_ID_MISMATCH = (
    '{"level":"warn","ts":"2023-05-02T10:00:02.000Z","caller":"rafthttp/stream.go:653",'
    '"msg":"request sent was ignored by remote peer due to cluster ID mismatch","remote-peer-id":"91bc3c398fb3c146",'
    '"remote-peer-cluster-id":"cdf818194e3a8c32","local-member-id":"8e9e05c52164694d",'
    '"local-member-cluster-id":"2037210783374497","error":"cluster ID mismatch"}'
)
REMOVED = (
    '{"level":"warn","ts":"2023-05-02T10:00:03.000Z","caller":"etcdserver/server.go:1159","msg":"server error",'
    '"error":"the member has been permanently removed from the cluster"}\n'
    '{"level":"warn","ts":"2023-05-02T10:00:03.001Z","caller":"etcdserver/server.go:1160",'
    '"msg":"data-dir used by this member must be removed"}'
)
NOT_IN_INITIAL_CLUSTER = (
    '{"level":"fatal","ts":"2023-05-02T10:00:04.000Z","caller":"etcdmain/etcd.go:204","msg":"discovery failed",'
    '"error":"couldn\'t find local name \\"etcd-3\\" in the initial cluster configuration","stacktrace":"..."}'
)
NO_SNAPSHOT_FILE = (
    '{"level":"panic","ts":"2023-05-02T10:00:05.000Z","caller":"etcdserver/server.go:515",'
    '"msg":"failed to recover v3 backend from snapshot",'
    '"error":"failed to find database snapshot file (snap: snapshot file doesn\'t exist)"}'
)

# etcd 3.5's corruption checks (server/etcdserver/corrupt.go, apply.go) and member-add refusal (server.go).
INITIAL_CORRUPT_CHECK = (
    '{"level":"fatal","ts":"2023-05-02T10:00:06.000Z","caller":"etcdmain/etcd.go:204","msg":"discovery failed",'
    '"error":"8e9e05c52164694d found data inconsistency with peers"}'
)
CORRUPT_ALARM = (
    '{"level":"warn","ts":"2023-05-02T10:00:07.000Z","caller":"etcdserver/apply.go:738","msg":"alarm raised",'
    '"alarm":"CORRUPT","from":"0"}'
)
HASH_MISMATCH = (
    '{"level":"warn","ts":"2023-05-02T10:00:08.000Z","caller":"etcdserver/corrupt.go:300",'
    '"msg":"same compact revision then hashes must match","leader-compact-revision":0,"leader-hash":1,'
    '"follower-compact-revision":0,"follower-hash":2,"follower-peer-id":"91bc3c398fb3c146"}'
)
NOSPACE_ALARM = '{"level":"warn","msg":"alarm raised","alarm":"NOSPACE","from":"8e9e05c52164694d"}'
ADD_REJECTED = (
    '{"level":"warn","ts":"2023-05-02T10:00:09.000Z","caller":"etcdserver/server.go:1636",'
    '"msg":"rejecting member add request; local member has not been connected to all peers, reconfigure breaks '
    'active quorum","local-member-id":"8e9e05c52164694d","requested-member-add":"{ID:1}",'
    '"error":"etcdserver: unhealthy cluster"}'
)


@pytest.mark.parametrize(
    ("log", "label", "line"),
    [
        (INITIAL_CORRUPT_CHECK, "corrupt", "discovery failed: 8e9e05c52164694d found data inconsistency with peers"),
        (CORRUPT_ALARM, "corrupt", "alarm raised"),
        (HASH_MISMATCH, "corrupt", "same compact revision then hashes must match"),
        (
            ADD_REJECTED,
            "member-add-rejected",
            "rejecting member add request; local member has not been connected to all peers, reconfigure breaks "
            "active quorum: etcdserver: unhealthy cluster",
        ),
        (
            ALREADY_BOOTSTRAPPED,
            "already-bootstrapped",
            "discovery failed: member 8e9e05c52164694d has already been bootstrapped",
        ),
        (
            CLUSTER_ID_MISMATCH,
            "cluster-id-mismatch",
            "request sent was ignored by remote peer due to cluster ID mismatch: cluster ID mismatch",
        ),
        (REMOVED, "removed-member", "server error: the member has been permanently removed from the cluster"),
        (
            NOT_IN_INITIAL_CLUSTER,
            "membership-mismatch",
            'discovery failed: couldn\'t find local name "etcd-3" in the initial cluster configuration',
        ),
        (
            NO_SNAPSHOT_FILE,
            "data-dir-broken",
            "failed to recover v3 backend from snapshot: failed to find database snapshot file "
            "(snap: snapshot file doesn't exist)",
        ),
    ],
)
def test_alarm_labels_with_message_and_error_as_the_line(log, label, line):
    assert find_alarms({"etcd-2": ["", f"{CLEAN}\n{log}\n"]}) == [Alarm("etcd-2", 1, label, line)]


def test_one_alarm_per_label_per_container_run_in_log_order():
    run0 = "\n".join([CLUSTER_ID_MISMATCH, REMOVED, CLUSTER_ID_MISMATCH, REMOVED])
    run1 = "\n".join([CLUSTER_ID_MISMATCH] * 3)
    found = find_alarms({"etcd-1": [run0, run1], "etcd-0": [ALREADY_BOOTSTRAPPED]})
    assert [(a.pod, a.run, a.label) for a in found] == [
        ("etcd-0", 0, "already-bootstrapped"),
        ("etcd-1", 0, "cluster-id-mismatch"),
        ("etcd-1", 0, "removed-member"),
        ("etcd-1", 1, "cluster-id-mismatch"),
    ]
    assert found[2].line == "server error: the member has been permanently removed from the cluster"


def test_an_alarm_in_a_plain_text_line_is_the_line_itself():
    line = "2017-11-29 21:17:42.101622 E | rafthttp: request cluster ID mismatch (got 5c8 want 9fb)"
    assert find_alarms({"etcd-0": [f"  {line}  \n"]}) == [Alarm("etcd-0", 0, "cluster-id-mismatch", line)]


def test_clean_logs_raise_no_alarm():
    assert find_alarms({"etcd-0": [CLEAN, ZAP_LOG, CAPNSLOG, NOSPACE_ALARM], "etcd-1": []}) == []


# --- crash loops: the cause -------------------------------------------------------------------

CRASHING = [exited("etcd-1", "crash", 0), exited("etcd-1", "crash", 1)]


def test_a_crash_loop_names_the_panic_of_the_latest_run_over_an_older_alarm():
    logs = {"etcd-1": [REMOVED, ZAP_LOG]}
    [loop] = find_crash_loops(CRASHING, find_panics(logs), find_alarms(logs))
    cause = "tocommit(37) is out of range [lastIndex(0)]. Was the raft log corrupted, truncated, or lost?"
    assert loop == CrashLoop("etcd-1", crashes=2, restart_count=2, cause=cause)


def test_a_crash_loop_names_the_alarm_of_the_latest_run_over_an_older_panic():
    logs = {"etcd-1": [ZAP_LOG, REMOVED, ""]}  # the last run logged nothing yet
    [loop] = find_crash_loops(CRASHING, find_panics(logs), find_alarms(logs))
    assert loop.cause == "server error: the member has been permanently removed from the cluster"


def test_an_alarm_that_is_also_the_fatal_line_gives_its_fuller_text_as_the_cause():
    logs = {"etcd-1": [ALREADY_BOOTSTRAPPED]}
    assert [p.message for p in find_panics(logs)] == ["discovery failed"]
    [loop] = find_crash_loops(CRASHING, find_panics(logs), find_alarms(logs))
    assert loop.cause == "discovery failed: member 8e9e05c52164694d has already been bootstrapped"


def test_causes_are_per_pod_and_a_loop_without_one_has_none():
    logs = {"etcd-0": [ZAP_LOG], "etcd-2": [CLUSTER_ID_MISMATCH]}
    events = CRASHING + [exited("etcd-2", "crash", 0)]
    assert find_crash_loops(events, find_panics(logs), find_alarms(logs)) == [CrashLoop("etcd-1", 2, 2, "")]
