from dataclasses import replace

from histories import START, cas, get, history, put, store, unreadable

from clusters.events import Event
from clusters.observe import MemberView
from harness.checkers.one_cluster import (
    DIVERGED,
    NOT_JOINED,
    SPLIT,
    UNREADABLE,
    Finding,
    acknowledged_splits,
    check_one_cluster,
    cluster_id_splits,
    diverged_stores,
    end_state,
    key_space,
    key_space_hash,
    unjoined_members,
)


def with_cluster(views, pod_index, cluster_id, **kw):
    views = list(views)
    views[pod_index] = replace(views[pod_index], cluster_id=cluster_id, **kw)
    return views


# --- two cluster IDs ----------------------------------------------------------------------------


def test_two_cluster_ids_in_a_snapshot_are_one_split_at_the_first_time_seen(make_snapshot, make_views):
    split = with_cluster(make_views(), 2, "c2")
    snapshots = [
        make_snapshot(time=START + 1),
        make_snapshot(split, time=START + 12.34),
        make_snapshot(with_cluster(make_views(), 0, "c3"), time=START + 20),  # later splits are not repeated
    ]
    h = history(snapshots=snapshots, stores=[store("etcd-0"), store("etcd-1"), store("etcd-2", cluster_id="c2")])
    assert cluster_id_splits(h) == [
        Finding(SPLIT, "two clusters answered at 12.3 s: etcd-0, etcd-1 (cluster c1) vs etcd-2 (cluster c2)")
    ]


def test_members_that_did_not_answer_or_gave_no_cluster_id_are_not_a_second_cluster(make_snapshot, make_views):
    views = with_cluster(make_views(), 2, "c2", error="connection refused")
    views[1] = MemberView("etcd-1", None, error="pod is Pending")
    assert views[1].cluster_id == ""
    assert cluster_id_splits(history(snapshots=[make_snapshot(views, time=START + 1)])) == []


def test_two_cluster_ids_among_the_stores_at_the_end(make_snapshot):
    stores = [store("etcd-0", cluster_id="c9"), store("etcd-1"), store("etcd-2", cluster_id="c9")]
    h = history(snapshots=[make_snapshot(time=START + 1)], stores=stores)
    assert cluster_id_splits(h) == [
        Finding(SPLIT, "two clusters answered at the end: etcd-1 (cluster c1) vs etcd-0, etcd-2 (cluster c9)")
    ]


def test_an_unreadable_store_is_not_a_second_cluster_at_the_end():
    assert cluster_id_splits(history(stores=[store("etcd-0"), store("etcd-1"), unreadable("etcd-2")])) == []


# --- key spaces ---------------------------------------------------------------------------------


def test_key_space_follows_puts_and_deletes_up_to_the_revision():
    s = store("etcd-0", (2, "/a", "x"), (3, "/b", "y"), (4, "/a", None), (5, "/a", "z"))
    assert key_space(s, 1) == {}
    assert key_space(s, 3) == {"/a": "x", "/b": "y"}
    assert key_space(s, 4) == {"/b": "y"}
    assert key_space(s, 5) == {"/a": "z", "/b": "y"}


def test_a_delete_makes_a_different_key_space_from_the_kept_value():
    kept = store("etcd-0", (2, "/a", "x"), (3, "/b", "y"))
    deleted = store("etcd-1", (2, "/a", "x"), (3, "/a", None))
    assert key_space_hash(kept, 3) != key_space_hash(deleted, 3)
    assert key_space_hash(kept, 2) == key_space_hash(deleted, 2)
    [finding] = diverged_stores([kept, deleted])
    assert finding.text.endswith("first difference at revision 3: etcd-1 has /a = None, etcd-0 has no change to /a")


def test_identical_stores_have_not_diverged():
    changes = [(2, "/a", "1"), (3, "/b", "2"), (4, "/a", None)]
    assert diverged_stores([store(f"etcd-{i}", *changes) for i in range(3)]) == []


def test_another_value_at_the_same_revision_under_one_cluster_id_is_a_diverged_member_naming_the_first_difference():
    same = [(2, "/a", "1"), (3, "/b", "2"), (4, "/c", "3")]
    ahead = store("etcd-0", *same, (5, "/d", "4"))
    forced = store("etcd-2", (2, "/a", "9"), *same[1:])  # the same cluster ID, its own history
    stores = [ahead, store("etcd-1", *same), forced]
    assert diverged_stores(stores) == [
        Finding(
            DIVERGED,
            f"etcd-2 and etcd-0 hold different key spaces at revision 4 "
            f"(hash {key_space_hash(forced, 4)} vs {key_space_hash(ahead, 4)}); "
            "first difference at revision 2: etcd-2 has /a = '9', etcd-0 has /a = '1'",
        )
    ]


def test_a_change_only_one_side_has_is_named_as_missing_on_the_other():
    reference = store("etcd-0", (2, "/a", "1"), (3, "/b", "x"), (4, "/d", "w"))  # the newest: the reference
    other = store("etcd-1", (2, "/a", "1"), (3, "/c", "z"))
    [finding] = diverged_stores([other, reference])
    assert finding.text.endswith("first difference at revision 3: etcd-1 has no change to /b, etcd-0 has /b = 'x'")


def test_a_member_merely_behind_is_not_a_split_but_ends_behind():
    stores = [store("etcd-0", (2, "/a", "1"), (3, "/b", "2")), store("etcd-1", (2, "/a", "1"), (3, "/b", "2"))]
    stores.append(store("etcd-2", (2, "/a", "1")))
    h = history(stores=stores)
    assert diverged_stores(stores) == []
    assert end_state(h) == [Finding("behind", "etcd-2 ends at revision 2, others at 3")]


def test_an_unreadable_store_is_not_compared():
    assert diverged_stores([store("etcd-0", (2, "/a", "1")), unreadable("etcd-1")]) == []
    assert len(diverged_stores([store("etcd-0", (2, "/a", "1")), store("etcd-1", (2, "/a", "2"))])) == 1


def test_a_member_behind_does_not_hide_a_divergence_between_the_others():
    behind = store("etcd-2", (2, "/a", "1"))
    stores = [store("etcd-0", (2, "/a", "1"), (3, "/b", "x")), store("etcd-1", (2, "/a", "1"), (3, "/b", "y")), behind]
    assert [f.kind for f in diverged_stores(stores)] == [DIVERGED]


def test_key_spaces_that_differ_under_two_cluster_ids_are_a_split():
    stores = [store("etcd-0", (2, "/a", "1")), store("etcd-1", (2, "/a", "1")), store("etcd-2", (2, "/a", "2"), cluster_id="c2")]
    assert [f.kind for f in diverged_stores(stores)] == [SPLIT]



# A member that skipped revision 3's entry on restart (etcd#13766): every later transaction one revision lower.
CLUSTER = [(2, "/a", "1"), (3, "/b", "2"), (4, "/c", "3"), (5, "/a", "4")]
SKIPPED = [(2, "/a", "1"), (3, "/c", "3"), (4, "/a", "4")]


def test_a_member_that_skipped_one_entry_is_diverged_and_named_as_such():
    [finding] = diverged_stores([store("etcd-0", *CLUSTER), store("etcd-1", *SKIPPED), store("etcd-2", *CLUSTER)])
    assert finding.kind == DIVERGED
    assert finding.text.endswith(
        "first difference at revision 3: etcd-1 has no change to /b, etcd-0 has /b = '2'; from there on etcd-1 holds "
        "etcd-0's transactions one revision lower: it skipped revision 3's entry, as a member killed under load does "
        "on etcd 3.5.0-3.5.2 (etcd#13766)"
    )


def test_a_member_that_differs_otherwise_is_not_said_to_have_skipped_an_entry():
    other = [(2, "/a", "1"), (3, "/c", "3"), (4, "/a", "other")]  # shifted, then a value the cluster never had
    [finding] = diverged_stores([store("etcd-0", *CLUSTER), store("etcd-1", *other)])
    assert "skipped" not in finding.text

# --- two clusters from the client history alone --------------------------------------------------


def test_two_writes_acknowledged_at_one_revision_are_two_clusters():
    ops = [put("c1", "/a", "x", 1, revision=5), put("c2", "/b", "y", 2, revision=5, member=2)]
    [finding] = acknowledged_splits(history(operations=ops))
    assert finding.kind == SPLIT
    assert finding.text == (
        "two clusters acknowledged revision 5 with different contents: /a: c1 put 'x', ok, 1.000–1.100 s on "
        "http://10.0.0.1:2379 and /b: c2 put 'y', ok, 2.000–2.100 s on http://10.0.0.3:2379"
    )



def test_two_writes_at_one_revision_that_one_store_holds_both_of_are_one_history_numbered_two_ways():
    # etcd-1 skipped revision 3: it acknowledged /a = '4' as revision 4, which the cluster holds at 5
    ops = [put("c1", "/c", "3", 1, revision=4), put("c2", "/a", "4", 2, revision=4, member=1)]
    stores = [store("etcd-0", *CLUSTER), store("etcd-1", *SKIPPED)]
    [finding] = acknowledged_splits(history(operations=ops, stores=stores))
    assert finding.kind == DIVERGED
    assert finding.text.startswith("one history numbered two ways: revision 4 was acknowledged with different contents")
    assert finding.text.endswith("and etcd-0 holds both writes, /c = '3' at revision 4 and /a = '4' at revision 5")
    # no store holds both: two clusters, as before
    split = [store("etcd-0", (2, "/a", "1"), (4, "/c", "3")), store("etcd-1", (2, "/a", "1"), (4, "/a", "4"))]
    assert [f.kind for f in acknowledged_splits(history(operations=ops, stores=split))] == [SPLIT]

def test_a_read_at_a_writes_revision_that_saw_another_value_is_two_clusters():
    ops = [get("c2", "/a", "old", 0.5, revision=5, member=2), cas("c1", "/a", None, "x", 1, succeeded=True, revision=5)]
    assert [f.kind for f in acknowledged_splits(history(operations=ops))] == [SPLIT]


def test_two_reads_of_a_key_at_one_revision_that_saw_different_values_are_two_clusters():
    ops = [get("c1", "/a", "x", 1, revision=5), get("c2", "/a", "y", 2, revision=5, member=2)]
    assert [f.kind for f in acknowledged_splits(history(operations=ops))] == [SPLIT]


def test_operations_that_agree_on_each_revision_are_one_cluster():
    ops = [
        put("c1", "/a", "x", 1, revision=5),
        get("c2", "/a", "x", 2, revision=5),
        get("c3", "/b", "other", 2, revision=5),  # another key read at the revision: no claim on /a
        get("c3", "/a", "x", 3, revision=6),
        put("c1", "/a", "y", 4, revision=7, outcome="unknown"),  # not acknowledged: claims nothing
        put("c1", "/a", "z", 5, revision=5, outcome="fail"),
        cas("c2", "/a", "q", "w", 6, succeeded=False, revision=5),  # a failed compare wrote nothing at 5
        get("c2", "/a", "stale", 7, revision=5, serializable=True),
    ]
    assert acknowledged_splits(history(operations=ops)) == []


# --- the end state ------------------------------------------------------------------------------


def test_members_that_disagree_on_the_member_list_at_the_end(make_snapshot, make_views):
    views = make_views()
    views[2] = replace(views[2], members=(("id0", "etcd-0", False), ("id1", "etcd-1", False), ("id3", "", False)))
    early = make_views()
    early[0] = replace(early[0], members=())  # a disagreement before the end does not count
    h = history(snapshots=[make_snapshot(early, time=START + 1), make_snapshot(views, time=START + 29)])
    assert end_state(h) == [
        Finding(
            "member-lists",
            "members disagree on the member list: etcd-0 lists etcd-0, etcd-1, etcd-2; "
            "etcd-1 lists etcd-0, etcd-1, etcd-2; etcd-2 lists etcd-0, etcd-1, id3",
        ),
        Finding(NOT_JOINED, "member id3 (never started) is still listed by etcd-2 but no running etcd answers as it"),
    ]


def test_a_learner_left_in_the_member_list_is_reported_once(make_snapshot, make_views):
    members = (("id0", "etcd-0", False), ("id1", "etcd-1", False), ("id2", "etcd-2", False), ("id3", "etcd-3", True))
    views = [replace(v, members=members) for v in make_views()]
    h = history(snapshots=[make_snapshot(views, time=START + 29)])
    assert end_state(h)[0] == Finding("learner", "etcd-0 still lists learner etcd-3")
    assert end_state(h)[1] == Finding(
        NOT_JOINED,
        "etcd-3 (member id3) is still listed by etcd-0, etcd-1, etcd-2 but no running etcd answers as it "
        "(no pod etcd-3 exists)",
    )


def test_members_that_did_not_answer_at_the_end_do_not_disagree_but_are_named_as_not_joined(make_snapshot, make_views):
    views = make_views()
    views[2] = MemberView("etcd-2", None, error="pod is Pending")
    assert end_state(history(snapshots=[make_snapshot(views, time=START + 29)])) == [
        Finding(NOT_JOINED, "etcd-2 (member id2) is still listed by etcd-0, etcd-1 but no running etcd answers as it "
                "(etcd-2: pod is Pending)")
    ]


REMOVED = '{"level":"warn","msg":"the member has been permanently removed from the cluster"}'
REJECTED = (
    '{"level":"warn","msg":"rejecting member add request; local member has not been connected to all peers, '
    'reconfigure breaks active quorum","local-member-id":"id0"}'
)


def test_a_member_never_rejoined_is_named_with_the_peer_lines_that_refused_it(make_snapshot, make_views):
    views = make_views()
    views[2] = MemberView("etcd-2", "http://10.0.0.3:2379", error="[Errno 111] Connection refused")
    logs = {"etcd-0": [REJECTED, f"{REJECTED}\n{REJECTED}"], "etcd-1": [REJECTED], "etcd-2": [REMOVED, REMOVED]}
    [finding] = unjoined_members(history(snapshots=[make_snapshot(views, time=START + 29)], logs=logs))
    assert finding == Finding(
        NOT_JOINED,
        "etcd-2 (member id2) is still listed by etcd-0, etcd-1 but no running etcd answers as it "
        "(etcd-2: [Errno 111] Connection refused); refused: etcd-0, etcd-1: rejecting member add "
        "request; local member has not been connected to all peers, reconfigure breaks active quorum; "
        "etcd-2: the member has been permanently removed from the cluster",
    )


def test_a_member_the_kubelet_still_held_in_back_off_is_named_with_it(make_snapshot, make_views):
    views = make_views()
    views[2] = MemberView("etcd-2", "http://10.0.0.3:2379", error="[Errno 111] Connection refused")
    message = "back-off 1m20s restarting failed container=etcd pod=etcd-2_ns(u)"
    events = [Event(START + 10, "back-off", "etcd-2", {"container": "etcd", "restart_count": 4, "message": message})]
    [finding] = unjoined_members(history(snapshots=[make_snapshot(views, time=START + 29)], events=events))
    assert finding.text.endswith(
        "(etcd-2: [Errno 111] Connection refused); etcd-2 was held down by the kubelet's restart back-off "
        "(80 s after 4 restarts, from 110.0 s): its next start was due at 190.0 s, after the last look at 129.0 s"
    )


def test_every_listed_member_answering_means_none_is_unjoined(make_snapshot):
    assert unjoined_members(history(snapshots=[make_snapshot(time=START + 29)], logs={"etcd-0": [REJECTED]})) == []


def test_a_store_that_could_not_be_read_is_an_unreadable_finding():
    h = history(stores=[store("etcd-0"), unreadable("etcd-1", "watch: stream ended")])
    assert end_state(h) == [
        Finding(UNREADABLE, "etcd-1's store could not be read (watch: stream ended): its key space was not compared")
    ]


def test_a_clean_history_is_one_cluster(make_snapshot):
    changes = [(2, "/a", "1"), (3, "/b", "2")]
    h = history(
        snapshots=[make_snapshot(time=START + 1), make_snapshot(time=START + 29)],
        stores=[store(f"etcd-{i}", *changes) for i in range(3)],
    )
    assert check_one_cluster(h) == []
