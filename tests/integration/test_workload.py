"""harness.workload against one real etcd member, judged by the same checkers a scenario uses.

With no fault, a healthy member must give a history that passes every check:
each acknowledged write in the store at its revision, every key
linearizable, no outage, no split. Only this module writes under the
workload's key prefix, so its keys start absent, as the checkers assume.
"""

from __future__ import annotations

import socket
import time
from dataclasses import replace

import pytest

from clusters import etcd_api, observe
from harness.history import CLOCK, History
from harness.verdict import judge
from harness.workload import KEY_PREFIX, Workload, WorkloadSpec

RUN_SECONDS = 2.0


@pytest.fixture(scope="module")
def run(etcd, loopback_cluster):
    """One workload of three clients over three keys, run for two seconds, and the history it leaves."""
    cluster = loopback_cluster(etcd.endpoint)
    spec = WorkloadSpec(clients=3, keys=3)
    keys = [f"{KEY_PREFIX}{i}" for i in range(spec.keys)]
    assert all(etcd_api.get(etcd.endpoint, k) is None for k in keys), "the workload's keys must start absent"
    workload = Workload(cluster, spec, seed=1)
    started = time.monotonic()
    workload.start()
    time.sleep(RUN_SECONDS)
    operations = workload.stop()
    ended = time.monotonic()
    history = History(
        meta={"started": started, "ended": ended},
        operations=operations,
        snapshots=[observe.snapshot(cluster)],  # the recovery check needs one healthy view of the cluster
        stores=[observe.store(cluster.pod, 10.0)],
    )
    history.shift(-started)  # as a scenario records it: relative to its start
    history.meta.update(started=0.0, ended=ended - started, clock=CLOCK)
    return cluster, spec, workload, history


def test_every_client_calls_and_every_call_is_answered(run):
    cluster, spec, workload, history = run
    assert [c.name for c in workload.clients] == ["client-0", "client-1", "client-2"]
    for client in workload.clients:
        assert len(client.operations) >= 5, f"{client.name} made {len(client.operations)} calls in {RUN_SECONDS}s"
    assert len(history.operations) == sum(len(c.operations) for c in workload.clients)
    assert [op.invoke for op in history.operations] == sorted(op.invoke for op in history.operations)
    for op in history.operations:
        assert op.outcome == "ok", (op.outcome, op.error)
        assert op.complete is not None and op.invoke <= op.complete
        assert history.started <= op.invoke and op.complete <= history.ended
        assert op.endpoint == cluster.pod.endpoint and op.member == cluster.pod.name
        assert op.key in {f"{KEY_PREFIX}{i}" for i in range(spec.keys)}
        assert op.revision and op.revision > 0


def test_the_mix_has_every_kind_of_call(run):
    history = run[3]
    kinds = {(op.kind, op.serializable) for op in history.operations}
    assert kinds == {("put", False), ("get", False), ("get", True), ("cas", False)}
    cas = [op for op in history.operations if op.kind == "cas"]
    assert any(op.succeeded for op in cas), "no compare-and-set applied"
    assert all(op.succeeded is not None for op in cas)


def test_each_client_sees_its_own_calls_in_order(run):
    """A client waits for each reply: its calls do not overlap, and raft revisions never go back."""
    for client in run[2].clients:
        ops = client.operations
        for before, after in zip(ops, ops[1:]):
            assert before.complete <= after.invoke
        revisions = [op.revision for op in ops if not op.serializable]
        assert revisions == sorted(revisions)
        values = [op.value for op in ops if op.kind == "put"]
        assert len(values) == len(set(values)), "put values must be unique per client"


def test_the_store_holds_exactly_the_acknowledged_writes(run):
    """Checked here directly, independently of the lost-writes checker."""
    history = run[3]
    store = history.stores[0]
    assert not store.error, store.error
    written = {
        (op.revision, op.key, op.value)
        for op in history.operations
        if op.kind == "put" or (op.kind == "cas" and op.succeeded)
    }
    held = {(c.revision, c.key, c.value) for c in store.changes if c.key.startswith(KEY_PREFIX)}
    assert held == written
    assert store.revision == etcd_api.status(store.endpoint).revision


def test_a_healthy_member_passes_every_check(run):
    history = run[3]
    verdict = judge(history, 5.0)
    assert verdict.verdict == "pass", (verdict.reasons, verdict.summary(history.started))
    assert verdict.reasons == []
    assert verdict.lost_writes == []
    assert verdict.regressions == []
    assert [f for f in verdict.one_cluster] == []
    assert verdict.recovery_s is not None
    keys = {op.key for op in history.operations}
    assert {k.key for k in verdict.linearizability} == keys
    assert all(k.linearizable is True for k in verdict.linearizability), [k.describe() for k in verdict.linearizability]


def test_a_lost_write_in_this_history_would_be_found(run):
    """The same history with one acknowledged write removed from the store fails: the check is not vacuous."""
    history = run[3]
    store = history.stores[0]
    victim = next(c for c in store.changes if c.key.startswith(KEY_PREFIX) and c.value is not None)
    damaged = History(
        meta=history.meta,
        operations=history.operations,
        snapshots=history.snapshots,
        stores=[replace(store, changes=tuple(c for c in store.changes if c != victim))],
    )
    verdict = judge(damaged, 5.0)
    assert "lost-writes" in verdict.reasons
    assert [(w.operation.key, w.operation.value) for w in verdict.lost_writes] == [(victim.key, victim.value)]


def test_the_same_seed_draws_the_same_calls(closed_endpoint_cluster):
    """Kinds and keys come from each client's seeded generator alone, not from timing or replies.

    Run against an address that refuses at once, so no etcd is touched and
    every call fails fast; what the clients chose to call is still recorded.
    """
    spec = WorkloadSpec(clients=3, keys=3, rate=200, timeout=0.5)
    workloads = [Workload(closed_endpoint_cluster, spec, seed=seed) for seed in (1, 1, 2)]
    for workload in workloads:
        workload.start()
    time.sleep(0.4)
    for workload in workloads:
        workload.stop()
    first, second, other = ([[(op.kind, op.serializable, op.key) for op in c.operations] for c in w.clients] for w in workloads)
    assert all(op.outcome == "fail" for w in workloads for c in w.clients for op in c.operations)
    for a, b in zip(first, second):
        n = min(len(a), len(b))
        assert n >= 10, f"only {n} calls in 0.4 s"
        assert a[:n] == b[:n]
    assert any(a[:10] != c[:10] for a, c in zip(first, other)), "seed 2 drew the same calls as seed 1"
    assert len({tuple(s[:10]) for s in first}) == 3, "the clients of one workload draw alike"


@pytest.fixture
def closed_endpoint_cluster(loopback_cluster):
    """A one-pod cluster at an address nobody listens on."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return loopback_cluster(f"http://127.0.0.1:{port}")
