import itertools
import random

import pytest

from harness.checkers.linearizability import KeyResult, check_linearizable
from harness.history import History, Operation

START = 1000.0


def op(client, kind, value, invoke, complete, outcome="ok", key="/k", **kw):
    """An operation with times in seconds since the scenario started."""
    return Operation(client, kind, key, value, f"etcd-{client[-1]}", START + invoke, START + complete, outcome, **kw)


def check(*ops, **kw) -> list[KeyResult]:
    return check_linearizable(History(meta={"started": START}, operations=list(ops)), **kw)


def verdict(*ops, **kw) -> bool | None:
    [result] = check(*ops, **kw)
    return result.linearizable


def violation(*ops) -> KeyResult:
    [result] = check(*ops)
    assert result.linearizable is False
    return result


# --- plain registers --------------------------------------------------------------


def test_sequential_puts_and_gets():
    assert verdict(
        op("c1", "get", None, 0, 1),
        op("c1", "put", "a", 2, 3),
        op("c2", "get", "a", 4, 5),
        op("c2", "put", "b", 6, 7),
        op("c1", "get", "b", 8, 9),
    )


@pytest.mark.parametrize("read", ["a", "b"])
def test_a_read_during_concurrent_puts_may_see_either(read):
    assert verdict(op("c1", "put", "a", 0, 3), op("c2", "put", "b", 1, 4), op("c3", "get", read, 2, 5))


@pytest.mark.parametrize("reads, ok", [(("a", "a"), True), (("b", "b"), True), (("a", "b"), False)])
def test_once_concurrent_puts_are_done_the_value_stays(reads, ok):
    first, second = reads
    history = [op("c1", "put", "a", 0, 3), op("c2", "put", "b", 1, 4)]
    history += [op("c3", "get", first, 5, 6), op("c3", "get", second, 7, 8)]
    assert verdict(*history) is ok


def test_stale_read_after_an_acknowledged_write():
    put_v1, put_v2 = op("c1", "put", "v1", 0, 1), op("c2", "put", "v2", 2, 3)
    stale = op("c3", "get", "v1", 4, 5)
    result = violation(put_v1, put_v2, stale)
    assert result.failing is stale
    assert result.window == (put_v2, stale)
    assert (result.window_start, result.initial) == (START + 4, ("v2",))
    assert result.summary == (
        "get by c3 at 4.000–5.000 s on etcd-3 read 'v1', "
        "but 'v2' was acknowledged at 3.000 s (put by c2), before the read was called"
    )
    assert result.describe().splitlines() == [
        f"key /k: not linearizable: {result.summary}",
        "  at 4.000 s the key held 'v2', as far as acknowledged writes tell",
        "  c2 put 'v2', ok, 2.000–3.000 s on etcd-2",
        "  c3 get -> 'v1', ok, 4.000–5.000 s on etcd-3   <- cannot be linearized",
    ]


def test_window_drops_reads_it_does_not_need():
    put_v2, stale = op("c2", "put", "v2", 2, 3), op("c3", "get", "v1", 4.5, 5)
    result = violation(
        op("c1", "put", "v1", 0, 1),
        op("c1", "get", "v1", 1.2, 1.5),
        put_v2,
        op("c4", "get", "v2", 3.5, 4),
        stale,
        op("c5", "get", "v2", 4.6, 4.9),
    )
    assert result.window == (put_v2, stale)


def test_window_keeps_the_read_that_shows_a_slow_write_had_happened():
    put_v1, put_v2 = op("c1", "put", "v1", 0, 1), op("c2", "put", "v2", 2, 5)
    seen, stale = op("c3", "get", "v2", 3, 4), op("c4", "get", "v1", 4.5, 6)
    result = violation(put_v1, put_v2, seen, stale)
    assert result.failing is stale
    assert result.window == (put_v1, put_v2, seen, stale)


def test_read_of_a_value_never_written():
    result = violation(op("c1", "put", "a", 0, 1), op("c2", "get", "zzz", 2, 3))
    assert result.summary.endswith("read 'zzz', which no operation wrote")


def test_read_of_absent_after_an_acknowledged_write():
    result = violation(op("c1", "put", "a", 0, 1), op("c2", "get", None, 2, 3))
    assert "read nothing (absent), but 'a' was acknowledged at 1.000 s" in result.summary


def test_initial_values_can_be_given():
    history = [op("c1", "get", "x", 0, 1), op("c1", "put", "a", 2, 3)]
    assert verdict(*history, initial={"/k": "x"})
    assert violation(*history).initial == (None,)


# --- outcomes ---------------------------------------------------------------------


def test_unknown_put_may_take_effect_later():
    assert verdict(
        op("c1", "put", "a", 0, 1),
        op("c2", "put", "u", 2, 3, "unknown"),
        op("c1", "get", "a", 4, 5),
        op("c1", "get", "u", 30, 31),
        op("c3", "get", "u", 32, 33),
    )


def test_unknown_put_may_never_take_effect():
    assert verdict(op("c1", "put", "a", 0, 1), op("c2", "put", "u", 2, 3, "unknown"), op("c1", "get", "a", 4, 5))


def test_unknown_put_takes_effect_at_most_once():
    history = [
        op("c1", "put", "a", 0, 1),
        op("c2", "put", "u", 2, 3, "unknown"),
        op("c1", "put", "b", 4, 5),
        op("c1", "get", "u", 6, 7),  # u took effect after b
    ]
    assert verdict(*history)
    assert not verdict(*history, op("c3", "get", "b", 8, 9))


def test_value_of_an_unknown_put_read_before_the_put_was_called():
    early = op("c2", "get", "u", 1, 2)
    result = violation(op("c1", "put", "a", 0, 0.5), early, op("c3", "put", "u", 5, 6, "unknown"))
    assert result.failing is early
    assert result.summary.endswith("read 'u', which was only written later (put by c3 called at 5.000 s)")


def test_value_of_a_failed_put_read():
    failed = op("c1", "put", "x", 0, 1, "fail", error="etcdserver: request timed out")
    result = violation(failed, op("c2", "get", "x", 2, 3))
    assert result.summary.endswith("read 'x', which only a failed put wrote (c1 at 0.000 s)")
    assert failed not in result.window


def test_failed_puts_and_unknown_or_serializable_reads_are_ignored():
    assert verdict(
        op("c1", "put", "a", 0, 1),
        op("c2", "put", "x", 2, 3, "fail"),
        op("c3", "get", None, 4, 5, "unknown"),
        op("c3", "get", "stale", 6, 7, serializable=True),
        op("c1", "get", "a", 8, 9),
    )


def test_serializable_stale_read_is_ignored_but_not_a_linearizable_one():
    history = [op("c1", "put", "a", 0, 1), op("c1", "put", "b", 2, 3)]
    assert verdict(*history, op("c2", "get", "a", 4, 5, serializable=True))
    assert not verdict(*history, op("c2", "get", "a", 4, 5))


# --- compare-and-swap -------------------------------------------------------------


def cas(client, expect, value, invoke, complete, succeeded, outcome="ok"):
    return op(client, "cas", value, invoke, complete, outcome, expect=expect, succeeded=succeeded)


@pytest.mark.parametrize(
    "swap, read, ok",
    [
        (cas("c2", "a", "b", 2, 3, True), "b", True),
        (cas("c2", None, "b", 2, 3, False), "a", True),  # create-if-absent on a key that exists
        (cas("c2", "x", "b", 2, 3, False), "a", True),
        (cas("c2", "a", "b", 2, 3, False), "a", False),  # the key held 'a': it must have swapped
        (cas("c2", "x", "b", 2, 3, True), "b", False),  # the key never held 'x'
        (cas("c2", "a", "b", 2, 3, True), "a", False),  # swapped, yet the old value is back
    ],
)
def test_cas_results_match_the_value(swap, read, ok):
    assert verdict(op("c1", "put", "a", 0, 1), swap, op("c1", "get", read, 4, 5)) is ok


def test_concurrent_cas_explains_a_failed_cas():
    assert verdict(
        op("c1", "put", "a", 0, 1),
        cas("c2", "a", "b", 2, 5, True),
        cas("c3", "a", "c", 3, 4, False),
        op("c1", "get", "b", 6, 7),
    )


def test_unknown_cas_may_or_may_not_swap():
    history = [op("c1", "put", "a", 0, 1), cas("c2", "a", "b", 2, 3, None, "unknown")]
    assert verdict(*history, op("c1", "get", "a", 4, 5))
    assert verdict(*history, op("c1", "get", "b", 4, 5))
    assert not verdict(*history, op("c1", "get", "b", 4, 5), op("c1", "get", "a", 6, 7))


def test_chain_of_unknown_writes():
    chain = [op("c1", "put", "a", 0, 1, "unknown"), cas("c2", "a", "b", 2, 3, None, "unknown")]
    assert verdict(*chain, op("c3", "get", "b", 4, 5))
    assert not verdict(chain[1], op("c3", "get", "b", 4, 5))


def test_unknown_put_explains_a_failed_cas_but_then_stays():
    history = [op("c1", "put", "a", 0, 1), op("c2", "put", "u", 2, 3, "unknown"), cas("c3", "a", "c", 4, 5, False)]
    assert verdict(*history)
    assert verdict(*history, op("c1", "get", "u", 6, 7))
    assert not verdict(*history, op("c1", "get", "a", 6, 7))


def test_an_unknown_put_seen_once_cannot_explain_a_failed_cas_as_well():
    history = [op("c1", "put", "a", 0, 1), op("c2", "put", "u", 2, 3, "unknown"), op("c1", "get", "u", 4, 5)]
    history += [op("c1", "put", "a", 6, 7), cas("c3", "a", "c", 8, 9, False)]
    assert not verdict(*history)
    assert verdict(*history[:2], *history[3:])


# --- keys and budget --------------------------------------------------------------


def test_keys_are_independent_registers():
    results = check(
        op("c1", "put", "a", 0, 1, key="/b"),
        op("c2", "put", "x", 0, 1, key="/a"),
        op("c1", "get", "a", 2, 3, key="/b"),
        op("c2", "get", "a", 2, 3, key="/a"),
        op("c3", "get", "x", 4, 5, key="/c", serializable=True),
        op("c3", "put", "y", 4, 5, key="/d", outcome="fail"),
    )
    assert [(r.key, r.linearizable, r.operations) for r in results] == [("/a", False, 2), ("/b", True, 2)]
    assert results[1].describe() == "key /b: linearizable (2 operations)"


def test_search_budget_gives_up_with_unknown():
    history = [op(f"c{i}", "put", f"v{i}", 0, 10) for i in range(6)] + [op("c9", "get", "nope", 11, 12)]
    [result] = check(*history, budget=50)
    assert (result.linearizable, result.reason) == (None, "search budget exceeded: 50 states")
    assert result.explored > 50
    assert result.describe() == "key /k: unknown (search budget exceeded: 50 states; 7 operations)"
    assert verdict(*history) is False


# --- simulated registers ----------------------------------------------------------


def simulated(seed: int, clients: int, keys: tuple[str, ...], calls: int = 12) -> list[Operation]:
    """Clients calling a real register: each call takes effect at one instant inside it.

    Some calls fail (no effect) or time out (effect or not, with the instant
    anywhere in the call), so the history is linearizable by construction.
    """
    rng = random.Random(seed)
    planned = []
    for c in range(clients):
        t = rng.uniform(0, 1)
        for n in range(calls):
            kind = rng.choice(["get", "get", "put", "cas"])
            value = None if kind == "get" else f"c{c}-{n}"
            outcome = rng.choices(["ok", "unknown", "fail"], [85, 10, 5])[0]
            call = op(f"c{c}", kind, value, t, t + rng.uniform(0.1, 2.0), outcome, key=rng.choice(keys))
            happens = outcome == "ok" or (outcome == "unknown" and rng.random() < 0.5)
            planned.append((rng.uniform(call.invoke, call.complete), call, happens))
            t = call.complete - START + rng.uniform(0, 0.3)
    register: dict[str, str | None] = {}
    written: dict[str, list[str | None]] = {}
    for _, call, happens in sorted(planned, key=lambda p: p[0]):
        current = register.get(call.key)
        if call.kind == "cas":
            call.expect = current if rng.random() < 0.6 else rng.choice([None, *written.get(call.key, [])])
        if not happens:
            continue
        if call.kind == "get":
            call.value = current
        elif call.kind == "put" or call.expect == current:
            register[call.key] = call.value
            written.setdefault(call.key, []).append(call.value)
        if call.kind == "cas" and call.outcome == "ok":
            call.succeeded = call.expect == current
    return sorted((p[1] for p in planned), key=lambda o: o.invoke)


SHAPES = [(4, ("/a", "/b")), (6, ("/a",))]


@pytest.mark.parametrize("clients, keys", SHAPES)
@pytest.mark.parametrize("seed", range(25))
def test_simulated_registers_are_linearizable(seed, clients, keys):
    results = check(*simulated(seed, clients, keys))
    assert results and all(r.linearizable for r in results), [r.describe() for r in results]


@pytest.mark.parametrize("clients, keys", SHAPES)
@pytest.mark.parametrize("seed", range(10))
def test_simulated_read_of_a_later_write_is_caught_at_that_read(seed, clients, keys):
    ops = simulated(seed, clients, keys)
    pairs = [
        (g, w)
        for g in ops
        if g.kind == "get" and g.outcome == "ok"
        for w in ops
        if w.kind == "put" and w.key == g.key and w.invoke > g.complete
    ]
    assert pairs
    read, later = random.Random(seed).choice(pairs)
    read.value = later.value
    [result] = [r for r in check(*ops) if r.key == read.key]
    assert result.linearizable is False
    assert result.failing is read
    assert read in result.window


# --- against brute force ----------------------------------------------------------


def brute_force(ops: list[Operation]) -> bool:
    """Linearizable by trying every order of every choice of timed-out writes (tiny histories only)."""
    settled = [o for o in ops if o.outcome == "ok" and not (o.kind == "get" and o.serializable)]
    maybe = [o for o in ops if o.outcome == "unknown" and o.kind != "get"]

    def ends(o):
        return o.complete if o.outcome == "ok" else float("inf")

    def valid(order):
        if any(ends(later) < earlier.invoke for i, earlier in enumerate(order) for later in order[i + 1 :]):
            return False
        value = None
        for o in order:
            if o.kind == "get" and o.value != value:
                return False
            if o.kind == "cas":
                if o.outcome == "ok" and (value == o.expect) != o.succeeded:
                    return False
                value = o.value if value == o.expect else value
            if o.kind == "put":
                value = o.value
        return True

    chosen = itertools.chain.from_iterable(itertools.combinations(maybe, n) for n in range(len(maybe) + 1))
    return any(valid(order) for extra in chosen for order in itertools.permutations(settled + list(extra)))


def tiny(seed: int) -> list[Operation]:
    """Three clients, two calls each, over three values, with every outcome: often not linearizable."""
    rng = random.Random(seed)
    ops = []
    for c in range(3):
        t = rng.uniform(0, 2)
        for _ in range(2):
            kind = rng.choice(["get", "put", "cas"])
            outcome = rng.choices(["ok", "unknown", "fail"], [70, 20, 10])[0]
            value = rng.choice(["a", "b", "c", None] if kind == "get" else ["a", "b", "c"])
            call = op(f"c{c}", kind, value, t, t + rng.uniform(0.1, 2), outcome)
            if kind == "cas":
                call.expect = rng.choice(["a", "b", None])
                call.succeeded = rng.random() < 0.5 if outcome == "ok" else None
            ops.append(call)
            t = call.complete - START + rng.uniform(0, 1)
    return ops


def test_verdicts_agree_with_brute_force():
    verdicts = []
    for seed in range(300):
        ops = tiny(seed)
        results = check(*ops)
        expected = brute_force(ops)
        assert [r.linearizable for r in results] == ([expected] if results else []), seed
        if results and not expected:
            assert results[0].failing in results[0].window
        verdicts.append(expected)
    assert 50 < sum(verdicts) < 250  # both kinds were tried
