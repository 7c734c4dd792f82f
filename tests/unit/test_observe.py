import json
from dataclasses import replace

from clusters.observe import MemberView, Snapshot


def test_healthy_three_member_cluster(make_snapshot, make_views):
    snap = make_snapshot(make_views(leader=1))
    assert snap.problems() == []
    assert snap.healthy
    assert snap.leader_pod() == "etcd-1"


def test_member_that_errors(make_snapshot, make_views):
    views = make_views()
    views[2] = MemberView("etcd-2", "http://10.0.0.3:2379", error="connection refused")
    snap = make_snapshot(views)
    assert snap.problems() == ["etcd-2: connection refused"]
    assert not snap.healthy
    assert snap.leader_pod() == "etcd-0"


def test_a_leader_that_did_not_answer_in_time_is_named_by_its_followers(make_snapshot, make_views):
    views = make_views()
    views[0] = replace(views[0], error="no answer in 0.5s")
    assert make_snapshot(views).leader_pod() == "etcd-0"
    views[2] = replace(views[2], leader="id1")  # followers that disagree name nobody
    assert make_snapshot(views).leader_pod() is None
    views[1] = replace(views[1], error="connection refused")
    views[2] = replace(views[2], leader="id9")  # a leader no member list names as a pod of this cluster
    assert make_snapshot(views).leader_pod() is None


def test_members_disagree_on_the_member_list(make_snapshot, make_views):
    views = make_views()
    views[2] = replace(views[2], members=views[2].members[:2])
    assert make_snapshot(views).problems() == [
        "members disagree on the member list",
        "member list has 2 members, want 3",
    ]


def test_different_cluster_ids(make_snapshot, make_views):
    views = make_views()
    views[1] = replace(views[1], cluster_id="c2")
    assert make_snapshot(views).problems() == ["members report different cluster IDs"]


def test_no_leader(make_snapshot, make_views):
    views = [replace(v, leader="0") for v in make_views()]
    snap = make_snapshot(views)
    assert snap.problems() == ["etcd-0: no leader", "etcd-1: no leader", "etcd-2: no leader"]
    assert snap.leader_pod() is None


def test_learner(make_snapshot, make_views):
    views = make_views()
    members = (views[0].members[0], views[0].members[1], ("id2", "etcd-2", True))
    views = [replace(v, members=members) for v in views]
    views[2] = replace(views[2], is_learner=True)
    assert make_snapshot(views).problems() == ["etcd-2: still a learner", "a listed member is a learner"]


def test_member_added_but_never_started(make_snapshot, make_views):
    views = make_views()
    members = (*views[0].members[:2], ("id9", "", False))
    views = [replace(v, members=members) for v in views[:2]] + [MemberView("etcd-2", None, error="pod is Pending")]
    assert make_snapshot(views).problems() == ["etcd-2: pod is Pending", "a listed member has never started"]


def test_fewer_pods_than_replicas(make_snapshot, make_views):
    snap = make_snapshot(make_views(n=2), replicas=3)
    assert snap.problems() == ["2 of 3 pods exist", "member list has 2 members, want 3"]


def test_snapshot_json_round_trip(make_snapshot, make_views):
    views = make_views()
    views[2] = MemberView("etcd-2", None, error="pod is Pending")
    snap = make_snapshot(views, time=12.5)
    again = Snapshot.from_json(json.loads(json.dumps(snap.to_json())))
    assert again == snap
    assert again.problems() == snap.problems()
    assert isinstance(again.views[0].members[0], tuple)


def with_peer_urls(views, *urls):
    return [replace(v, peer_urls=tuple(urls)) if not v.error else v for v in views]


def test_peer_url_at_an_address_no_pod_has_is_a_hazard_not_a_problem(make_snapshot, make_views):
    # etcd-1 was rebuilt: its pod now answers at 10.0.0.2, but the member list still says 10.0.0.9.
    urls = ("http://10.0.0.1:2380", "http://10.0.0.9:2380", "http://10.0.0.3:2380")
    snap = make_snapshot(with_peer_urls(make_views(), *urls))
    assert snap.healthy
    assert snap.hazards() == ["peer URL http://10.0.0.9:2380 points to an address no pod has (stale after a rebuild)"]


def test_current_ips_and_dns_names_are_not_hazards(make_snapshot, make_views):
    urls = ("http://10.0.0.1:2380", "http://10.0.0.2:2380", "http://etcd-2.etcd:2380")
    assert make_snapshot(with_peer_urls(make_views(), *urls)).hazards() == []


def test_peer_urls_survive_the_json_round_trip(make_snapshot, make_views):
    snap = make_snapshot(with_peer_urls(make_views(), "http://10.0.0.9:2380"))
    assert Snapshot.from_json(json.loads(json.dumps(snap.to_json()))) == snap
