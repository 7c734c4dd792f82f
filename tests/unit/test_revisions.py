from histories import START, get, history, put

from harness.checkers.revisions import Regression, find_regressions


def seen(client, *revisions, start=0.0):
    """Linearizable gets by ``client``, one a second from ``start``, that saw ``revisions`` in turn."""
    return [get(client, "/k", "v", start + i, revision=r) for i, r in enumerate(revisions)]


def test_a_client_whose_revisions_never_go_back_is_fine():
    assert find_regressions(history(operations=seen("c1", 2, 3, 3, 5, 9))) == []


def test_a_step_back_through_a_linearizable_operation_is_one_regression():
    before = put("c1", "/k", "a", 1, revision=5)
    after = get("c1", "/j", "b", 2, revision=4, member=1)
    [regression] = find_regressions(history(operations=[before, after]))
    assert regression == Regression(before, after)
    assert regression.describe(START) == (
        "c1 saw revision 4 after 5: /k: c1 put 'a', ok, 1.000–1.100 s on http://10.0.0.1:2379, "
        "then /j: c1 get -> 'b', ok, 2.000–2.100 s on http://10.0.0.2:2379"
    )


def test_serializable_gets_may_go_back():
    ops = seen("c1", 5, 6)
    ops.insert(1, get("c1", "/k", "old", 1.5, revision=3, serializable=True))
    assert find_regressions(history(operations=ops)) == []


def test_operations_without_an_acknowledged_revision_are_left_out():
    ops = [
        put("c1", "/k", "a", 1, revision=5),
        put("c1", "/k", "b", 2, revision=3, outcome="fail"),
        get("c1", "/k", "b", 3, revision=3, outcome="unknown"),
        get("c1", "/k", "b", 4, revision=0),
        put("c1", "/k", "c", 5, revision=6),
    ]
    assert find_regressions(history(operations=ops)) == []


def test_a_long_excursion_below_the_newest_is_reported_once_and_a_second_one_again():
    ops = seen("c1", 5, 3, 4, 2, 5, 6, 4, 4, 7)
    assert find_regressions(history(operations=ops)) == [Regression(ops[0], ops[1]), Regression(ops[5], ops[6])]


def test_a_client_follows_its_calls_in_call_order_not_list_order():
    later, earlier = get("c1", "/k", "v", 2, revision=3), get("c1", "/k", "v", 1, revision=5)
    assert find_regressions(history(operations=[later, earlier])) == [Regression(earlier, later)]
    assert find_regressions(history(operations=seen("c1", 3, 5)[::-1])) == []


def test_clients_are_independent():
    ahead, behind = seen("c1", 9, 10, 11), seen("c2", 2, 3, 4, start=0.5)
    assert find_regressions(history(operations=[op for pair in zip(ahead, behind) for op in pair])) == []


def test_regressions_of_several_clients_are_in_time_order():
    c1, c2 = seen("c1", 5, 6, 2, start=0.0), seen("c2", 8, 1, start=0.5)
    assert find_regressions(history(operations=c1 + c2)) == [Regression(c2[0], c2[1]), Regression(c1[1], c1[2])]
