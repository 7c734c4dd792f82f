from dataclasses import replace

import pytest
from histories import START, cas, endpoint, history, put, store, unreadable

from clusters.etcd_api import Change
from clusters.observe import Store
from harness.checkers.lost_writes import (
    CONTESTED,
    LAGGING,
    LOST,
    UNDECIDED,
    LostWrite,
    acknowledged_writes,
    find_lost_writes,
)


def everywhere(*changes):
    """The same store on etcd-0, etcd-1 and etcd-2."""
    return [store(f"etcd-{i}", *changes) for i in range(3)]


def test_a_put_every_store_holds_at_its_revision_is_not_lost():
    h = history(operations=[put("c1", "/k", "a", 1, revision=2)], stores=everywhere((2, "/k", "a")))
    assert find_lost_writes(h) == []


def test_a_put_overwritten_later_is_not_lost_since_the_history_keeps_both():
    ops = [put("c1", "/k", "a", 1, revision=2), put("c2", "/k", "b", 2, revision=3)]
    h = history(operations=ops, stores=everywhere((2, "/k", "a"), (3, "/k", "b")))
    assert find_lost_writes(h) == []


def test_a_write_the_majority_holds_is_only_lagging_on_a_member_that_diverged(make_snapshot, make_views):
    # etcd-0's address moved to etcd-1 before the put: the put was acknowledged by etcd-1.
    moved = make_views()
    moved[0], moved[1] = replace(moved[0], endpoint=endpoint(1)), replace(moved[1], endpoint=endpoint(0))
    snapshots = [make_snapshot(time=START), make_snapshot(moved, time=START + 5)]
    written = put("c1", "/k", "a", 6, revision=2, member=0)
    stores = [store("etcd-0", (2, "/k", "a")), store("etcd-1", (2, "/k", "a"))]
    stores.append(store("etcd-2", (2, "/k", "x"), (3, "/j", "y")))
    h = history(operations=[written], stores=stores, snapshots=snapshots)

    [found] = find_lost_writes(h)
    assert found == LostWrite(
        written, "etcd-1", ("etcd-2 holds revision 2 as /k = 'x'",), ("etcd-0", "etcd-1"), 3, LAGGING
    )
    assert found.describe(START) == (
        "/k: c1 put 'a', ok, 6.000–6.100 s on http://10.0.0.1:2379 (acknowledged by etcd-1 at revision 2) "
        "survived: held by 2 of 3 voting members (etcd-0, etcd-1); etcd-2 holds revision 2 as /k = 'x'"
    )


def test_a_write_only_one_of_three_members_holds_is_lost():
    written = put("c1", "/k", "a", 1, revision=2)
    stores = [store("etcd-0", (2, "/k", "a")), store("etcd-1", (2, "/k", "b")), store("etcd-2", (2, "/k", "b"))]
    [lost] = find_lost_writes(history(operations=[written], stores=stores))
    assert (lost.kind, lost.held_by, lost.voters) == (LOST, ("etcd-0",), 3)
    assert lost.describe(START).endswith(
        "is lost: held by 1 of 3 voting members (etcd-0); etcd-1 holds revision 2 as /k = 'b'; "
        "etcd-2 holds revision 2 as /k = 'b'"
    )


@pytest.mark.parametrize(
    ("there", "shown"),
    [
        ((2, "/other", "y"), "/other = 'y'"),  # another key took the revision
        ((2, "/k", None), "/k = None"),  # the key was deleted there
        ((3, "/k", "z"), "no change to this key"),  # the key changed only at another revision
    ],
)
def test_how_a_diverged_store_holds_the_revision_is_shown(there, shown):
    written = put("c1", "/k", "a", 1, revision=2)
    h = history(operations=[written], stores=[store("etcd-0", (2, "/k", "a")), store("etcd-1", there, revision=3)])
    # of two voting members, one is not a majority: lost
    assert find_lost_writes(h) == [
        LostWrite(written, endpoint(0), (f"etcd-1 holds revision 2 as {shown}",), ("etcd-0",), 2, LOST)
    ]


def test_a_member_behind_while_the_majority_holds_the_write_is_lagging():
    h = history(
        operations=[put("c1", "/k", "a", 1, revision=2)],
        stores=[store("etcd-0", (2, "/k", "a")), store("etcd-1", (2, "/k", "a")), store("etcd-2")],
    )
    assert [(w.kind, w.missing_on) for w in find_lost_writes(h)] == [(LAGGING, ("etcd-2 ends at revision 1",))]


def test_the_majority_counts_the_voting_members_of_the_final_member_list(make_snapshot, make_views):
    # five voting members listed, three stores read: two holders are not a majority of five
    views = [replace(v, members=tuple((f"id{i}", f"etcd-{i}", False) for i in range(5))) for v in make_views()]
    written = put("c1", "/k", "a", 1, revision=2)
    stores = [store("etcd-0", (2, "/k", "a")), store("etcd-1", (2, "/k", "a")), store("etcd-2", (2, "/k", "b"))]
    [lost] = find_lost_writes(history(operations=[written], stores=stores, snapshots=[make_snapshot(views, 5)]))
    assert (lost.kind, lost.voters) == (LOST, 5)


def test_learners_do_not_count_as_voting_members(make_snapshot, make_views):
    views = [replace(v, members=(*v.members, ("id3", "etcd-3", True))) for v in make_views()]
    h = history(operations=[put("c1", "/k", "a", 1, revision=2)], snapshots=[make_snapshot(views)], stores=[
        store("etcd-0", (2, "/k", "a")), store("etcd-1", (2, "/k", "a")), store("etcd-2", (2, "/k", "b"))])
    assert [(w.kind, w.voters) for w in find_lost_writes(h)] == [(LAGGING, 3)]


def test_a_write_no_readable_store_reached_is_lost():
    written = put("c1", "/k", "a", 1, revision=2, member=1)
    h = history(operations=[written], stores=[store("etcd-0"), store("etcd-1"), unreadable("etcd-2")])
    # Without snapshots the acknowledging pod is only known by its address.
    missing = ("etcd-0 ends at revision 1", "etcd-1 ends at revision 1", "etcd-2's store could not be read: context deadline exceeded")
    assert find_lost_writes(h) == [LostWrite(written, endpoint(1), missing, (), 3, LOST)]


def test_a_loss_lists_diverged_stores_before_those_behind():
    written = put("c1", "/k", "a", 1, revision=2)
    stores = [store("etcd-0", (2, "/k", "a")), store("etcd-1"), store("etcd-2", (2, "/k", "b"))]
    [lost] = find_lost_writes(history(operations=[written], stores=stores))
    assert lost.missing_on == ("etcd-2 holds revision 2 as /k = 'b'", "etcd-1 ends at revision 1")


def test_lost_writes_come_before_lagging_ones_whatever_the_call_order():
    ops = [put("c1", "/k", "a", 1, revision=2), put("c1", "/k", "b", 2, revision=3)]
    stores = [store("etcd-0", (2, "/k", "a"), (3, "/k", "b")), store("etcd-1", (2, "/k", "a"), (3, "/k", "x")),
              store("etcd-2", (2, "/k", "y"), (3, "/k", "x"))]
    assert [(w.operation.value, w.kind) for w in find_lost_writes(history(operations=ops, stores=stores))] == [
        ("b", LOST), ("a", LAGGING)]


def test_a_cas_that_did_not_apply_is_not_a_write():
    ops = [put("c1", "/k", "a", 1, revision=2), cas("c2", "/k", "zzz", "b", 2, succeeded=False, revision=2)]
    h = history(operations=ops, stores=everywhere((2, "/k", "a")))
    assert acknowledged_writes(h) == ops[:1]
    assert find_lost_writes(h) == []


def test_a_cas_that_applied_is_a_write():
    swap = cas("c2", "/k", "a", "b", 2, succeeded=True, revision=3)
    ops = [put("c1", "/k", "a", 1, revision=2), swap]
    h = history(operations=ops, stores=everywhere((2, "/k", "a"), (3, "/k", "c")))
    assert find_lost_writes(h) == [
        LostWrite(swap, endpoint(0), tuple(f"etcd-{i} holds revision 3 as /k = 'c'" for i in range(3)), (), 3, LOST)
    ]


@pytest.mark.parametrize("outcome", ["fail", "unknown"])
def test_puts_that_were_not_acknowledged_are_not_checked(outcome):
    h = history(operations=[put("c1", "/k", "a", 1, revision=2, outcome=outcome)], stores=everywhere((2, "/k", "x")))
    assert find_lost_writes(h) == []


def test_a_store_that_could_not_be_read_is_never_counted_as_holding_the_write():
    broken = Store("etcd-1", endpoint(1), "c1", "id1", 2, (Change(2, "/k", "a"),), error="watch: stream ended")
    stores = [store("etcd-0", (2, "/k", "a")), broken, store("etcd-2", (2, "/k", "a"))]
    [w] = find_lost_writes(history(operations=[put("c1", "/k", "a", 1, revision=2)], stores=stores))
    assert (w.kind, w.held_by, w.missing_on) == (LAGGING, ("etcd-0", "etcd-2"), ("etcd-1's store could not be read: watch: stream ended",))


def test_a_write_short_of_a_majority_only_by_unreadable_members_is_undecided():
    stores = [store("etcd-0", (2, "/k", "a")), unreadable("etcd-1"), store("etcd-2", (2, "/k", "b"))]
    [w] = find_lost_writes(history(operations=[put("c1", "/k", "a", 1, revision=2)], stores=stores))
    assert w.kind == UNDECIDED
    assert " may be lost: held by 1 of 3 voting members (etcd-0); etcd-2 holds" in w.describe(START)


def test_every_write_is_undecided_when_no_store_could_be_read():
    h = history(operations=[put("c1", "/k", "a", 1, revision=2)], stores=[unreadable("etcd-0"), unreadable("etcd-1")])
    assert [w.kind for w in find_lost_writes(h)] == [UNDECIDED]


def test_every_write_is_undecided_when_no_store_was_read_at_all():
    [w] = find_lost_writes(history(operations=[put("c1", "/k", "a", 1, revision=2)]))
    assert (w.kind, w.missing_on) == (UNDECIDED, ("no member's store was read",))


def test_members_that_each_list_only_themselves_still_count_as_three_voters(make_snapshot, make_views):
    # after --force-new-cluster each fragment lists itself alone: one holder is not a majority of the three
    views = [replace(v, members=((f"id{i}", f"etcd-{i}", False),)) for i, v in enumerate(make_views())]
    written = put("c1", "/k", "a", 1, revision=2, member=2)
    stores = [store("etcd-0", (2, "/k", "b")), store("etcd-1", (2, "/k", "b")), store("etcd-2", (2, "/k", "a"))]
    [lost] = find_lost_writes(history(operations=[written], stores=stores, snapshots=[make_snapshot(views)]))
    assert (lost.kind, lost.held_by, lost.voters) == (LOST, ("etcd-2",), 3)


def test_two_acknowledged_writes_at_one_revision_cannot_both_survive(make_snapshot, make_views):
    """Each held by one member, the third unreadable: each alone is undecided, together one at least is lost."""
    first = put("c1", "/k", "a", 1, revision=2, member=0)
    second = put("c2", "/j", "b", 2, revision=2, member=2)
    stores = [store("etcd-0", (2, "/k", "a")), unreadable("etcd-1"), store("etcd-2", (2, "/j", "b"))]
    writes = find_lost_writes(history(operations=[first, second], stores=stores))
    assert [(w.operation.value, w.kind) for w in writes] == [("a", CONTESTED), ("b", CONTESTED)]
    assert "is lost unless it is the one write of its revision that survived" in writes[0].describe(START)
    alone = find_lost_writes(history(operations=[first], stores=stores))
    assert [w.kind for w in alone] == [UNDECIDED]  # without its rival, an unread member may hold it


def test_the_voting_members_are_at_least_the_replicas_the_deployment_runs(make_snapshot, make_views):
    """Two fragments listing themselves while the third member is down still make three voters."""
    views = make_views()
    views = [replace(views[0], error="connection refused"), *(replace(v, members=((f"id{i}", f"etcd-{i}", False),))
                                                             for i, v in enumerate(views) if i)]
    written = put("c1", "/k", "a", 1, revision=2, member=1)
    stores = [unreadable("etcd-0"), store("etcd-1", (2, "/k", "a")), store("etcd-2", (2, "/k", "b"))]
    [w] = find_lost_writes(history(operations=[written], stores=stores, snapshots=[make_snapshot(views)]))
    assert w.voters == 3


def test_a_write_a_skipping_member_acknowledged_one_revision_low_is_held_by_the_others():
    # etcd-1 skipped revision 3's entry on restart (etcd#13766) and acknowledged /a = 'x' as revision 3;
    # the cluster holds that very write (its value is unique) at revision 4: not lost, and etcd-1 holds it too
    cluster = [(2, "/k", "a"), (3, "/k", "b"), (4, "/a", "x")]
    stores = [store("etcd-0", *cluster), store("etcd-1", (2, "/k", "a"), (3, "/a", "x")), store("etcd-2", *cluster)]
    h = history(operations=[put("c1", "/a", "x", 1, revision=3, member=1)], stores=stores)
    assert find_lost_writes(h) == []
    # the write etcd-1 lost in the skip, acknowledged at 3 by the cluster: held by a majority, lagging on etcd-1
    h = history(operations=[put("c2", "/k", "b", 1, revision=3)], stores=stores)
    [write] = find_lost_writes(h)
    assert (write.kind, write.held_by) == (LAGGING, ("etcd-0", "etcd-2"))
