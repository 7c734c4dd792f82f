from dataclasses import replace

import pytest
from histories import START, cas, endpoint, history, put, store, unreadable

from clusters.etcd_api import Change
from clusters.observe import Store
from harness.checkers.lost_writes import (
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


def test_a_store_that_passed_the_revision_with_another_value_lost_the_write(make_snapshot, make_views):
    # etcd-0's address moved to etcd-1 before the put: the put was acknowledged by etcd-1.
    moved = make_views()
    moved[0], moved[1] = replace(moved[0], endpoint=endpoint(1)), replace(moved[1], endpoint=endpoint(0))
    snapshots = [make_snapshot(time=START), make_snapshot(moved, time=START + 5)]
    written = put("c1", "/k", "a", 6, revision=2, member=0)
    stores = [store("etcd-0", (2, "/k", "a")), store("etcd-1", (2, "/k", "a"))]
    stores.append(store("etcd-2", (2, "/k", "x"), (3, "/j", "y")))
    h = history(operations=[written], stores=stores, snapshots=snapshots)

    assert find_lost_writes(h) == [LostWrite(written, "etcd-1", ("etcd-2 holds revision 2 as /k = 'x'",))]
    assert find_lost_writes(h)[0].describe(START) == (
        "/k: c1 put 'a', ok, 6.000–6.100 s on http://10.0.0.1:2379 (acknowledged by etcd-1 at revision 2) "
        "is lost: etcd-2 holds revision 2 as /k = 'x'"
    )


@pytest.mark.parametrize(
    ("there", "shown"),
    [
        ((2, "/other", "y"), "/other = 'y'"),  # another key took the revision
        ((2, "/k", None), "/k = None"),  # the key was deleted there
        ((3, "/k", "a"), "no change to this key"),  # the same value, but at another revision
    ],
)
def test_how_a_diverged_store_holds_the_revision_is_shown(there, shown):
    written = put("c1", "/k", "a", 1, revision=2)
    h = history(operations=[written], stores=[store("etcd-0", (2, "/k", "a")), store("etcd-1", there, revision=3)])
    assert find_lost_writes(h) == [LostWrite(written, endpoint(0), (f"etcd-1 holds revision 2 as {shown}",))]


def test_a_store_only_behind_while_another_holds_the_write_is_not_a_loss():
    h = history(
        operations=[put("c1", "/k", "a", 1, revision=2)],
        stores=[store("etcd-0", (2, "/k", "a")), store("etcd-1", (2, "/k", "a")), store("etcd-2")],
    )
    assert find_lost_writes(h) == []


def test_a_write_no_readable_store_reached_is_lost():
    written = put("c1", "/k", "a", 1, revision=2, member=1)
    h = history(operations=[written], stores=[store("etcd-0"), store("etcd-1"), unreadable("etcd-2")])
    # Without snapshots the acknowledging pod is only known by its address.
    behind = ("etcd-0 ends at revision 1", "etcd-1 ends at revision 1")
    assert find_lost_writes(h) == [LostWrite(written, endpoint(1), behind)]


def test_a_loss_lists_diverged_stores_before_those_behind():
    written = put("c1", "/k", "a", 1, revision=2)
    stores = [store("etcd-0", (2, "/k", "a")), store("etcd-1"), store("etcd-2", (2, "/k", "b"))]
    [lost] = find_lost_writes(history(operations=[written], stores=stores))
    assert lost.missing_on == ("etcd-2 holds revision 2 as /k = 'b'", "etcd-1 ends at revision 1")


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
        LostWrite(swap, endpoint(0), tuple(f"etcd-{i} holds revision 3 as /k = 'c'" for i in range(3)))
    ]


@pytest.mark.parametrize("outcome", ["fail", "unknown"])
def test_puts_that_were_not_acknowledged_are_not_checked(outcome):
    h = history(operations=[put("c1", "/k", "a", 1, revision=2, outcome=outcome)], stores=everywhere((2, "/k", "x")))
    assert find_lost_writes(h) == []


def test_stores_that_could_not_be_read_are_ignored_whatever_they_hold():
    broken = Store("etcd-1", endpoint(1), "c1", "id1", 2, (Change(2, "/k", "x"),), error="watch: stream ended")
    h = history(operations=[put("c1", "/k", "a", 1, revision=2)], stores=[store("etcd-0", (2, "/k", "a")), broken])
    assert find_lost_writes(h) == []


def test_nothing_is_lost_when_no_store_could_be_read():
    h = history(operations=[put("c1", "/k", "a", 1, revision=2)], stores=[unreadable("etcd-0"), unreadable("etcd-1")])
    assert find_lost_writes(h) == []
