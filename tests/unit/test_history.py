import gzip
import json

import pytest

from clusters.events import Event
from clusters.observe import MemberView, Snapshot
from harness.history import CLOCK, OUTCOMES, FaultWindow, History, Operation


def recorded(make_snapshot, make_views, meta: dict) -> History:
    """A history as a run records it, with every time between 100 and 130.5 s on its clock."""
    views = make_views()
    views[1] = MemberView("etcd-1", None, error="pod is Pending")
    return History(
        meta={"strategy": "static-dns", "fault": "pod-delete", "seed": 7, **meta},
        operations=[
            Operation("w", "put", "/k/1", "v1", "http://10.0.0.1:2379", 101.0, 101.2, "ok", revision=5),
            Operation("w", "put", "/k/2", "v2", "http://10.0.0.2:2379", 102.0, 103.0, "unknown", error="timeout"),
            Operation("w", "put", "/k/3", None, "http://10.0.0.2:2379", 104.0),
        ],
        events=[Event(101.5, "container-exited", "etcd-1", {"cause": "crash", "exit_code": 2}), Event(102.0, "bridge-up")],
        snapshots=[make_snapshot(time=100.5), make_snapshot(views, time=110.0)],
        faults=[FaultWindow("pod-delete", ["etcd-0"], 105.0, 105.5)],
        logs={"etcd-0": ["run 0\n", "run 1\n"], "etcd-1": []},
    )


def test_save_load_round_trip(tmp_path, make_snapshot, make_views):
    original = recorded(make_snapshot, make_views, {"started": 100.0, "ended": 130.5, "clock": CLOCK, "outcomes": OUTCOMES})
    path = original.save(tmp_path / "scenario")
    assert path == tmp_path / "scenario" / "history.json"
    json.loads(path.read_text())  # plain JSON
    loaded = History.load(path)
    assert loaded == original
    assert isinstance(loaded.snapshots[1], Snapshot) and not loaded.snapshots[1].healthy
    assert (loaded.started, loaded.ended, loaded.healed) == (100.0, 130.5, 105.5)


def test_healed_defaults_to_the_start_without_faults():
    assert History(meta={"started": 3.0, "ended": 4.0}).healed == 3.0


def test_a_wall_clock_history_loads_relative_to_its_start(tmp_path, make_snapshot, make_views):
    """Histories written before times were monotonic re-check the same: every time moves by the start."""
    old = recorded(make_snapshot, make_views, {"started": 100.0, "ended": 130.5})
    loaded = History.load(old.save(tmp_path / "old"))
    assert (loaded.started, loaded.ended, loaded.healed) == (0.0, 30.5, 5.5)
    assert loaded.meta["wall_started"] == 100.0 and loaded.meta["clock"].startswith(CLOCK)
    assert [(op.invoke, op.complete) for op in loaded.operations] == [(1.0, pytest.approx(1.2)), (2.0, 3.0), (4.0, None)]
    assert [e.time for e in loaded.events] == [1.5, 2.0]
    assert [s.time for s in loaded.snapshots] == [0.5, 10.0]
    assert [(w.start, w.end) for w in loaded.faults] == [(5.0, 5.5)]


def test_a_gzipped_history_loads(tmp_path, make_snapshot, make_views):
    original = recorded(make_snapshot, make_views, {"started": 0.0, "ended": 30.5, "clock": CLOCK, "outcomes": OUTCOMES})
    path = original.save(tmp_path / "scenario")
    packed = path.with_suffix(".json.gz")
    packed.write_bytes(gzip.compress(path.read_bytes()))
    assert History.load(packed) == original


def test_shift_moves_every_time_and_nothing_else(make_snapshot, make_views):
    history = recorded(make_snapshot, make_views, {"started": 100.0, "ended": 130.5, "clock": CLOCK})
    history.faults[0].injected = 105.2
    history.shift(-100.0)
    assert history.operations[0].invoke == 1.0 and history.operations[2].complete is None
    assert history.faults[0].injected == pytest.approx(5.2)
    assert history.meta["started"] == 100.0  # the metadata is the caller's to set


def test_an_older_history_has_its_failed_calls_judged_again_by_their_messages(tmp_path):
    """Calls recorded as failed before the not-applied rule: only the provably refused stay failed."""
    eof = 'http://10.0.0.2:2379/v3/kv/put: HTTP 503 {"error":"error reading from server: EOF","code":14}'
    learner = 'http://10.0.0.2:2379/v3/kv/put: HTTP 503 {"error":"etcdserver: rpc not supported for learner","code":14}'
    errors = [eof, learner, "http://10.0.0.2:2379/v3/kv/put: [Errno 111] Connection refused",
              "http://10.0.0.2:2379/v3/kv/put: [Errno 104] Connection reset by peer",
              "http://10.0.0.2:2379/v3/kv/put: Remote end closed connection without response"]
    old = History(
        meta={"started": 10.0, "ended": 20.0},
        operations=[
            Operation("c", "put", "/k", f"v{i}", "http://10.0.0.2:2379", 11.0 + i, 11.5 + i, "fail", error=e, member="etcd-1")
            for i, e in enumerate(errors)
        ],
    )
    loaded = History.load(old.save(tmp_path / "old"))
    assert [op.outcome for op in loaded.operations] == ["unknown", "fail", "fail", "unknown", "unknown"]
    assert loaded.meta["outcomes"].startswith(OUTCOMES)
    assert len(loaded.meta["reclassified"]) == 3
    assert loaded.meta["reclassified"][0].startswith("c put /k 'v0' at 1.000 s on etcd-1: fail -> unknown (")


def test_a_current_history_keeps_its_outcomes(tmp_path):
    op = Operation("c", "put", "/k", "v", "http://10.0.0.2:2379", 1.0, 1.5, "fail", error="HTTP 503 odd")
    current = History(meta={"started": 0.0, "ended": 2.0, "clock": CLOCK, "outcomes": OUTCOMES}, operations=[op])
    assert History.load(current.save(tmp_path / "new")).operations[0].outcome == "fail"


def test_member_releases_follow_what_each_member_answers_through_an_upgrade():
    def at(time, *views):
        return Snapshot(time, 3, tuple(views))

    def member(pod, version, image=None, error=""):
        return MemberView(pod, "http://x", error=error, image_release=image or version, version="" if error else version)

    h = History(
        meta={"started": 0.0, "ended": 9.0},
        snapshots=[
            at(1.0, member("etcd-0", "3.5.1"), member("etcd-1", "3.5.1")),
            at(5.0, member("etcd-0", "3.5.1"), member("etcd-1", "3.6.16")),
            at(6.0, member("etcd-0", "3.5.1"), member("etcd-1", "3.6.16"), member("etcd-2", "", image="3.6.16", error="pod is Pending")),
        ],
        events=[
            Event(2.5, "container-started", "etcd-1", {"release": "3.6.16"}),  # while the fault waited for the rollout
            Event(3.0, "container-started", "coredns", {"release": ""}),
        ],
    )
    assert h.member_releases() == {
        "etcd-0": [(1.0, "3.5.1")],
        "etcd-1": [(1.0, "3.5.1"), (2.5, "3.6.16")],
        "etcd-2": [(6.0, "3.6.16")],  # never answered: what its image holds
    }
