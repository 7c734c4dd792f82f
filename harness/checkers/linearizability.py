"""Per-key linearizability of the recorded client operations (register model).

etcd promises that every linearizable request (a put, a compare-and-swap, a
get that is not serializable) takes effect at one instant between its call
and its reply. Whether a recorded history allows such instants is decided
here, after the fact and without a cluster, in the manner of Knossos'
"linear" checker and porcupine: Wing & Gong's search over orders of the
operations, with Lowe's just-in-time linearization and a memo of explored
configurations.

Each key is an independent register, so each is searched alone. What keeps
the search small:

* A configuration is (first operation not yet linearized, bit mask of the
  linearized ones after it, register value, timed-out writes used). All
  operations before the first unlinearized one are settled, so the mask only
  spans the operations in flight: the key is as small at operation 9,000 as
  at operation 9.
* Only configurations whose subtrees were fully explored are remembered
  (they failed; a success ends the search). One that used a superset of the
  timed-out writes of a remembered failure, with everything else equal, is
  pruned too: having used more of them can only take choices away.
* Configurations that differ in nothing the rest of the history can see are
  one: a value no remaining operation reads or compares against is
  forgotten, and so is which of the timed-out puts nobody will read any
  more were used (only how many).
* A read that fits the current value is linearized at once, without
  trying the alternatives (moving a read earlier never breaks an order),
  and writes are tried earliest reply first.
* A write that timed out may take effect at any later time or never. Rather
  than guessing at every step whether it has happened (2^k orders for k of
  them), the search applies it only on demand, just before an acknowledged
  read or compare-and-swap that cannot be explained without it. Any valid
  order can be rearranged into that form (a timed-out write whose effect
  nobody sees until the next write can as well be dropped, and one seen only
  later can as well happen later), so no linearizable history is rejected.
* The search is bounded by a budget of configurations: past it the key is
  reported as unknown rather than checked for hours.

On a violation the finding is made readable: the first operation that no
order gets past, and the shortest run of operations before it that cannot
be linearized either, given only what the key could hold when that run
began, then stripped of reads and unseen writes it does not need. Every
step of that shrinking only loosens the constraints, so the window shown is
a proof on its own: no history containing it is linearizable.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

from harness.history import History, Operation

DEFAULT_BUDGET = 200_000
"""Configurations one key's search may explore before giving up."""

MINIMIZE_CHECKS = 64
"""Sub-searches spent on dropping operations from a violation's window one by one."""

State = str | None


class _Unseen:
    """What the register holds once no operation still to place can tell its value apart."""

    def __repr__(self) -> str:
        return "<unseen>"


_UNSEEN = _Unseen()
_Value = State | _Unseen
"""What a search holds for the register: a value, or the fact that it no longer matters."""
# (first unlinearized, mask of linearized after it, value, timed-out writes used by bit, spent ones used)
_Config = tuple[int, int, _Value, int, int]


@dataclass(frozen=True)
class _Op:
    """An operation as the register model sees it.

    ``complete`` is infinite and ``succeeded`` None when the outcome is not
    known, so an unfinished write constrains nothing after its call.
    """

    source: Operation
    kind: str
    value: State
    expect: State
    succeeded: bool | None
    invoke: float
    complete: float

    @property
    def acknowledged(self) -> bool:
        return self.complete != math.inf

    @property
    def may_write(self) -> bool:
        return self.kind == "put" or (self.kind == "cas" and self.succeeded is not False)

    @property
    def surely_writes(self) -> bool:
        return self.acknowledged and (self.kind == "put" or (self.kind == "cas" and self.succeeded is True))

    def passes(self, state: _Value) -> bool:
        """Whether the reply is what the register would give in ``state``."""
        if self.kind == "get":
            return state == self.value
        if self.kind == "cas" and self.succeeded is not None:
            return (state == self.expect) == self.succeeded
        return True

    def apply(self, state: _Value) -> _Value:
        if self.kind == "put" or (self.kind == "cas" and state == self.expect):
            return self.value
        return state

    def unsettled(self) -> _Op:
        """The same write, relaxed to "may or may not have happened"."""
        return _Op(self.source, self.kind, self.value, self.expect, None, self.invoke, math.inf)


def _compile(op: Operation) -> _Op | None:
    """The model's view of ``op``, or None when it tells the register nothing.

    Failed calls never happened; a read that timed out or was served by one
    member alone (serializable, stale by design) says nothing about the
    linearizable register.
    """
    if op.kind not in ("put", "get", "cas") or op.outcome == "fail":
        return None
    settled = op.outcome == "ok" and op.complete is not None
    if op.kind == "get" and (op.serializable or not settled):
        return None
    complete = op.complete if settled and op.complete is not None else math.inf
    return _Op(op, op.kind, op.value, op.expect, op.succeeded if settled else None, op.invoke, complete)


class _Search:
    """Depth-first search for one order of ``oks`` (with some of ``unknowns``) the register allows.

    ``oks`` must all take effect, sorted by call time; ``unknowns`` are writes
    that may, sorted by call time. One search object may be run from several
    initial values: its memo of failed configurations holds for all of them.

    Two reductions keep configurations that differ in nothing that matters
    from being explored apart. A value no remaining operation reads or
    compares against becomes ``_UNSEEN``. A timed-out put whose value no
    remaining operation reads is "spent": it can only still explain why a
    compare failed, and any spent put serves as well as another, so the
    configuration counts how many spent puts were used instead of naming them.
    """

    def __init__(self, oks: Sequence[_Op], unknowns: Sequence[_Op], budget: int) -> None:
        self.oks = oks
        self.unknowns = unknowns
        self.unknown_invokes = [u.invoke for u in unknowns]
        self.budget = budget
        self.explored = 0
        self.failed: dict[tuple[int, int, _Value], list[tuple[int, int]]] = {}
        self.furthest = -math.inf
        self.blocker: int | None = None
        # a value is unseen from the first unlinearized operation seen_until[value] on
        self.seen_until: dict[_Value, float] = {}
        for i, op in enumerate(oks):
            if op.kind != "put":
                self.seen_until[op.value if op.kind == "get" else op.expect] = i + 1
        for u in unknowns:
            if u.kind == "cas":
                self.seen_until[u.expect] = math.inf  # may start a chain at any time
        self.spent_from = [self.seen_until.get(u.value, 0) if u.kind == "put" else math.inf for u in unknowns]

    def run(self, initial: State) -> bool | None:
        """True: linearizable; False: not; None: the budget ran out first."""
        if not self.oks:
            return True
        start: _Config = (0, 0, self._forget(initial, 0), 0, 0)
        if self._pruned(start):
            return False
        stack = [(start, self._successors(start))]
        while stack:
            config, successors = stack[-1]
            following = next(successors, None)
            if following is None:
                stack.pop()
                self.failed.setdefault(config[:3], []).append(config[3:])
            elif following[0] == len(self.oks):
                return True
            elif not self._pruned(following):
                self.explored += 1
                if self.explored > self.budget:
                    return None
                stack.append((following, self._successors(following)))
        return False

    def _pruned(self, config: _Config) -> bool:
        """Whether a failed configuration had all this one has, with no more timed-out writes used."""
        used, spent = config[3], config[4]
        return any(f | used == used and g <= spent for f, g in self.failed.get(config[:3], ()))

    def _forget(self, value: _Value, base: int) -> _Value:
        return _UNSEEN if self.seen_until.get(value, 0) <= base else value

    def _successors(self, config: _Config) -> Iterator[_Config]:
        """Configurations one acknowledged operation further, the cheap ones first.

        A read (or failed compare) that fits the current value is the only
        successor when there is one: any order that puts it later stays
        valid with it moved to the front, since it changes nothing and no
        unlinearized operation had to come before it. Half of a typical
        history are such reads, so this cuts most of the branching. Writes
        are tried earliest reply first: the call that returned first most
        often took effect first, so valid histories rarely backtrack.
        """
        base, mask, value, used, spent = config
        candidates, deadline = self._candidates(base, mask)
        for i in candidates:
            op = self.oks[i]
            if not op.may_write and op.passes(value):
                yield self._advance(config, i, value, used, spent)
                return
        stuck = []
        for i in sorted(candidates, key=lambda i: self.oks[i].complete):
            op = self.oks[i]
            if op.passes(value):
                yield self._advance(config, i, op.apply(value), used, spent)
            elif op.kind != "put":
                stuck.append(i)
        if not stuck:
            return
        reach = bisect.bisect_right(self.unknown_invokes, deadline)
        available = [k for k in range(reach) if not used >> k & 1 and self.spent_from[k] > base]
        spare = sum(1 for k in range(reach) if self.spent_from[k] <= base) > spent
        for i in stuck:
            op = self.oks[i]
            for end, bits, more in self._enablers(value, op, available, spare):
                yield self._advance(config, i, op.apply(end), used | bits, spent + more)

    def _candidates(self, base: int, mask: int) -> tuple[list[int], float]:
        """Unlinearized operations that may go next, and the earliest reply still owed.

        An operation may go next unless another unlinearized one replied
        before it was called. Sorted by call time, the candidates end at the
        first operation called after the earliest owed reply. Also records
        how far this configuration got, to name the blocking operation if
        the history turns out not linearizable.
        """
        deadline, blocker, found = math.inf, None, []
        for i in range(base, len(self.oks)):
            if mask >> (i - base) & 1:
                continue
            op = self.oks[i]
            if op.invoke > deadline:
                break
            found.append(i)
            if op.complete < deadline:
                deadline, blocker = op.complete, i
        if deadline > self.furthest:
            self.furthest, self.blocker = deadline, blocker
        return found, deadline

    def _advance(self, config: _Config, i: int, value: _Value, used: int, spent: int) -> _Config:
        """Mark ``oks[i]`` linearized, sliding the window past the settled prefix.

        What the move made unseen is forgotten: the value, and the identity
        of used timed-out puts that are now spent.
        """
        base, mask = config[0], config[1] | 1 << (i - config[0])
        shift = ((~mask) & (mask + 1)).bit_length() - 1
        base += shift
        now_spent = 0
        for k in _bits(used):
            if self.spent_from[k] <= base:
                now_spent |= 1 << k
        return base, mask >> shift, self._forget(value, base), used & ~now_spent, spent + now_spent.bit_count()

    def _enablers(self, value: _Value, op: _Op, available: list[int], spare: bool) -> set[tuple[_Value, int, int]]:
        """Ways timed-out writes can make ``op`` pass: (value, writes used by bit, spent puts used).

        ``available`` are the unspent ones called by now and not used yet;
        ``spare`` says whether a spent put is left.

        Only minimal ways count: a failed compare needs one write that
        changes the value (any further ones can as well happen after it),
        and then any spent put will do; a read or successful compare needs a
        simple chain of writes ending in its value.
        """
        if op.kind == "cas" and op.succeeded is False:
            found = {
                (u.value, 1 << k, 0)
                for k in available
                for u in (self.unknowns[k],)
                if u.value != value and (u.kind == "put" or u.expect == value)
            }
            return found | {(_UNSEEN, 0, 1)} if spare else found
        target = op.value if op.kind == "get" else op.expect
        return {(target, bits, 0) for bits in self._chains(value, target, available, frozenset({target}), 0)}

    def _chains(self, value: _Value, target: State, available: list[int], seen: frozenset[State], taken: int) -> Iterator[int]:
        """Sets of timed-out writes that, in some order, take ``value`` to ``target``.

        Built backwards from the write of ``target``; ``seen`` holds the
        values already on the chain, so no chain goes round in a circle.
        """
        for k in available:
            u = self.unknowns[k]
            if u.value != target or taken >> k & 1:
                continue
            if u.kind == "put" or u.expect == value:
                yield taken | 1 << k
            elif u.expect not in seen:
                yield from self._chains(value, u.expect, available, seen | {u.expect}, taken | 1 << k)


def _bits(mask: int) -> Iterator[int]:
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


@dataclass(frozen=True)
class KeyResult:
    """The verdict on one key, and on a violation the smallest proof found.

    ``linearizable`` is None when the search gave up (``reason`` says why).
    ``explored`` counts the configurations of the key's search (not those
    spent on shrinking a violation's window). On a violation, ``failing``
    is the first operation no order gets past,
    ``window`` the operations that alone cannot be linearized (in call order,
    with the acknowledged writes that set what the key held at
    ``window_start``), and ``initial`` what the key could hold then.
    """

    key: str
    linearizable: bool | None
    operations: int
    explored: int
    started: float
    reason: str | None = None
    failing: Operation | None = None
    window: tuple[Operation, ...] = ()
    window_start: float | None = None
    initial: tuple[State, ...] = ()
    summary: str = ""

    def describe(self) -> str:
        if self.linearizable:
            return f"key {self.key}: linearizable ({self.operations} operations)"
        if self.linearizable is None:
            return f"key {self.key}: unknown ({self.reason}; {self.operations} operations)"
        lines = [f"key {self.key}: not linearizable: {self.summary}"]
        if self.window_start is not None:
            held = " or ".join(_show(s) for s in self.initial)
            lines.append(f"  at {self.window_start - self.started:.3f} s the key held {held}, as far as acknowledged writes tell")
        for op in self.window:
            mark = "   <- cannot be linearized" if op is self.failing else ""
            lines.append(f"  {format_operation(op, self.started)}{mark}")
        return "\n".join(lines)


def _show(value: State) -> str:
    return "nothing (absent)" if value is None else f"'{value}'"


def _what(op: Operation) -> str:
    if op.kind == "get":
        return f"get -> {_show(op.value)}"
    if op.kind == "cas":
        verdict = "" if op.succeeded is None else ", succeeded" if op.succeeded else ", failed"
        return f"cas {_show(op.expect)} -> {_show(op.value)}{verdict}"
    return f"{op.kind} {_show(op.value)}"


def format_operation(op: Operation, started: float) -> str:
    """One line per operation, times in seconds since the scenario started."""
    if op.outcome == "ok" and op.complete is not None:
        when = f"{op.invoke - started:.3f}–{op.complete - started:.3f} s"
    else:
        when = f"{op.invoke - started:.3f} s–? ({op.outcome or 'never completed'})"
    return f"{op.client} {_what(op)}, {op.outcome}, {when} on {op.member or op.endpoint}"


def check_linearizable(
    history: History, budget: int = DEFAULT_BUDGET, initial: Mapping[str, State] | None = None
) -> list[KeyResult]:
    """One result per key with at least one operation the register model considers, sorted by key.

    ``initial`` says what keys held before the scenario (default: absent);
    ``budget`` bounds each key's search in configurations explored.
    """
    started = float(history.meta.get("started", min((op.invoke for op in history.operations), default=0.0)))
    by_key: dict[str, list[Operation]] = {}
    for op in history.operations:
        by_key.setdefault(op.key, []).append(op)
    results = []
    for key in sorted(by_key):
        result = _check_key(key, by_key[key], (initial or {}).get(key), started, budget)
        if result is not None:
            results.append(result)
    return results


def _check_key(key: str, recorded: list[Operation], initial: State, started: float, budget: int) -> KeyResult | None:
    compiled = [c for c in map(_compile, recorded) if c is not None]
    if not compiled:
        return None
    oks = sorted((c for c in compiled if c.acknowledged), key=lambda c: (c.invoke, c.complete))
    unknowns = sorted((c for c in compiled if not c.acknowledged and c.may_write), key=lambda c: c.invoke)
    search = _Search(oks, unknowns, budget)
    verdict = search.run(initial)
    found = KeyResult(key, None, operations=len(compiled), explored=search.explored, started=started)
    if verdict is None:
        return replace(found, reason=f"search budget exceeded: {budget} states")
    if verdict:
        return replace(found, linearizable=True)
    assert search.blocker is not None  # a failed search always saw a configuration owing a reply
    failing = oks[search.blocker]
    window = _Window.smallest(oks, unknowns, failing, initial, _Effort(budget))
    ops = tuple(sorted({id(c.source): c.source for c in window.shown()}.values(), key=lambda op: op.invoke))
    return replace(
        found,
        linearizable=False,
        failing=failing.source,
        window=ops,
        window_start=window.start,
        initial=window.initial,
        summary=_explain(failing.source, recorded, ops, started),
    )


@dataclass
class _Effort:
    """States the sub-searches behind one violation's window may still explore, together."""

    left: int


@dataclass(frozen=True)
class _Window:
    """A run of operations starting at ``start``, relaxed so that it stands alone.

    What came before is summed up in ``initial`` (the values the key could
    hold at ``start``) and ``context`` (the acknowledged writes that left
    them, kept for the reader). Writes still in flight or timed out at that
    point are in ``unknowns``: they may take effect in the window or never.
    """

    start: float | None
    initial: tuple[State, ...]
    context: tuple[_Op, ...]
    oks: tuple[_Op, ...]
    unknowns: tuple[_Op, ...]
    failing: _Op

    @classmethod
    def smallest(cls, oks: list[_Op], unknowns: list[_Op], failing: _Op, initial: State, effort: _Effort) -> _Window:
        """The latest-starting window that is still not linearizable, then shrunk.

        A later start loosens the window (less is known about what came
        before), so whether a window proves the violation is, but for rare
        overlaps, monotone in its start: a binary search over call times
        finds the latest start that does. The whole prefix up to the failing
        reply is the fallback: the main search showed it cannot be linearized.
        """
        end = failing.complete
        kept = [c for c in oks if c.complete <= end]
        pending = [c for c in unknowns if c.invoke <= end]
        pending += [c.unsettled() for c in oks if c.invoke <= end < c.complete and c.may_write]
        pending.sort(key=lambda c: c.invoke)
        starts = sorted({c.invoke for c in kept if c.invoke <= failing.invoke})
        best = cls(None, (initial,), (), tuple(kept), tuple(pending), failing)
        lo, hi = 0, len(starts) - 1
        while lo <= hi:
            mid = (lo + hi) // 2
            trial = cls.at(starts[mid], kept, pending, failing, initial)
            if trial.proves(effort):
                best, lo = trial, mid + 1
            else:
                hi = mid - 1
        return best.shrunk(effort)

    @classmethod
    def at(cls, start: float, kept: list[_Op], pending: list[_Op], failing: _Op, initial: State) -> _Window:
        before = [c for c in kept if c.invoke < start]
        done = [c for c in before if c.complete < start and c.may_write]
        # a write is surely overwritten if another acknowledged write was called after it replied
        overwritten_before = max((c.invoke for c in done if c.surely_writes), default=-math.inf)
        context = tuple(c for c in done if c.complete >= overwritten_before)
        values = {c.value for c in context}
        if not any(c.surely_writes for c in done):
            values.add(initial)
        in_flight = [c.unsettled() for c in before if c.complete >= start and c.may_write]
        return cls(
            start,
            tuple(sorted(values, key=lambda v: (v is not None, v or ""))),
            context,
            tuple(c for c in kept if c.invoke >= start),
            tuple(sorted(pending + in_flight, key=lambda c: c.invoke)),
            failing,
        )

    def proves(self, effort: _Effort) -> bool:
        """Whether no initial value lets the window be linearized, as far as ``effort`` allows."""
        search = _Search(self.oks, self.unknowns, effort.left)
        proved = all(search.run(state) is False for state in self.initial)
        effort.left = max(0, effort.left - search.explored)
        return proved

    def shrunk(self, effort: _Effort) -> _Window:
        """Drop what the proof does not need: reads first, then writes nobody saw.

        Dropping a read (or a failed compare) loosens the window, and so does
        dropping a write whose value no remaining read or compare mentions,
        as long as no compare that may have failed could have needed it to
        change the value. Each group goes at once if the window still proves
        the violation without it, else one operation at a time.
        """
        window, checks = self, 0
        for droppable in (_Window.readers, _Window.unseen_writes):
            group = droppable(window)
            if not group:
                continue
            checks += 1
            if (whole := window.without(group)).proves(effort):
                window = whole
                continue
            for op in group:
                if checks >= MINIMIZE_CHECKS:
                    return window
                checks += 1
                window = window.without([op]).or_else(window, effort)
        return window

    def readers(self) -> list[_Op]:
        return [c for c in self.oks if not c.may_write and c is not self.failing]

    def unseen_writes(self) -> list[_Op]:
        """Writes whose dropping can only loosen the window."""
        if any(c.kind == "cas" and c.succeeded is not True for c in self.oks):
            return []
        observed = {c.value if c.kind == "get" else c.expect for c in (*self.oks, *self.unknowns) if c.kind != "put"}
        return [c for c in (*self.oks, *self.unknowns) if c.may_write and c is not self.failing and c.value not in observed]

    def without(self, ops: Sequence[_Op]) -> _Window:
        gone = {id(c) for c in ops}
        return _Window(
            self.start,
            self.initial,
            self.context,
            tuple(c for c in self.oks if id(c) not in gone),
            tuple(c for c in self.unknowns if id(c) not in gone),
            self.failing,
        )

    def or_else(self, fallback: _Window, effort: _Effort) -> _Window:
        return self if self.proves(effort) else fallback

    def shown(self) -> list[_Op]:
        return [*self.context, *self.oks, *self.unknowns]


def _explain(op: Operation, recorded: list[Operation], window: Sequence[Operation], started: float) -> str:
    """The violation in one sentence, for the patterns that have a short name."""

    def at(t: float) -> str:
        return f"{t - started:.3f} s"

    complete = op.complete if op.complete is not None else math.inf
    who = f"{op.kind} by {op.client} at {op.invoke - started:.3f}–{at(complete)} on {op.member or op.endpoint}"
    if op.kind != "get":
        return f"{who} ({_what(op)}) fits no order of the operations below"
    writers = [w for w in recorded if w.kind in ("put", "cas") and w.value == op.value]
    read = f"{who} read {_show(op.value)}"
    if op.value is not None and not writers:
        return f"{read}, which no operation wrote"
    if writers and all(w.outcome == "fail" for w in writers):
        w = writers[0]
        return f"{read}, which only a failed {w.kind} wrote ({w.client} at {at(w.invoke)})"
    if writers and all(w.invoke > complete for w in writers):
        w = min(writers, key=lambda w: w.invoke)
        return f"{read}, which was only written later ({w.kind} by {w.client} called at {at(w.invoke)})"
    newer = [
        w
        for w in window
        if w.outcome == "ok"
        and w.complete is not None
        and w.complete < op.invoke
        and (w.kind == "put" or w.succeeded)
        and all(x.outcome == "ok" and x.complete is not None and x.complete < w.invoke for x in writers if x.outcome != "fail")
    ]
    if newer:
        w = max(newer, key=lambda w: w.complete or 0.0)
        return (
            f"{read}, but {_show(w.value)} was acknowledged at {at(w.complete or 0.0)} "
            f"({w.kind} by {w.client}), before the read was called"
        )
    return f"{read}, which fits no order of the operations below"
