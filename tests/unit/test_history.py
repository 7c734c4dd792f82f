import json

from clusters.events import Event
from clusters.observe import MemberView, Snapshot
from harness.history import FaultWindow, History, Operation


def test_save_load_round_trip(tmp_path, make_snapshot, make_views):
    views = make_views()
    views[1] = MemberView("etcd-1", None, error="pod is Pending")
    original = History(
        meta={"strategy": "static-dns", "fault": "pod-delete", "started": 100.0, "ended": 130.5, "seed": 7},
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
    path = original.save(tmp_path / "scenario")
    assert path == tmp_path / "scenario" / "history.json"
    json.loads(path.read_text())  # plain JSON
    loaded = History.load(path)
    assert loaded == original
    assert isinstance(loaded.snapshots[1], Snapshot) and not loaded.snapshots[1].healthy
    assert (loaded.started, loaded.ended, loaded.healed) == (100.0, 130.5, 105.5)


def test_healed_defaults_to_the_start_without_faults():
    assert History(meta={"started": 3.0, "ended": 4.0}).healed == 3.0
