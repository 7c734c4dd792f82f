import os

from clusters.local.dns import CachedAnswer, Zone, serve_cached, write_in_place
from clusters.local.kubelet import Pod


def pod(ordinal, ip=True, ready=True, terminating=False, phase="Running"):
    return Pod(
        f"etcd-{ordinal}",
        ordinal,
        uid=ordinal,
        ip=f"10.0.0.{ordinal + 1}" if ip else None,
        phase=phase,
        ready=ready,
        terminating=terminating,
    )


POD_NAMES = ["etcd-0.etcd", "etcd-0.etcd.db", "etcd-0.etcd.db.svc", "etcd-0.etcd.db.svc.cluster.local"]
SERVICE_NAMES = ["etcd", "etcd.db", "etcd.db.svc", "etcd.db.svc.cluster.local"]


def test_ready_pods_are_published_with_all_name_forms():
    zone = Zone("etcd", "db", publish_not_ready=False)
    records = zone.records([pod(1), pod(0)])
    assert records == [
        ("10.0.0.1", POD_NAMES),
        ("10.0.0.2", [n.replace("etcd-0", "etcd-1") for n in POD_NAMES]),
        ("10.0.0.1", SERVICE_NAMES),
        ("10.0.0.2", SERVICE_NAMES),
    ]


def test_only_ready_running_pods_with_an_ip_are_published_by_default():
    zone = Zone("etcd", "db", publish_not_ready=False)
    pods = [
        pod(0),
        pod(1, ready=False),
        pod(2, terminating=True),
        pod(3, ip=False),
        pod(4, phase="Pending"),
        pod(5, phase="Gone"),
    ]
    assert [ip for ip, names in zone.records(pods) if names == SERVICE_NAMES] == ["10.0.0.1"]


def test_publish_not_ready_includes_not_ready_and_terminating_pods():
    zone = Zone("etcd", "db", publish_not_ready=True)
    pods = [pod(0, ready=False), pod(1, terminating=True, ready=False), pod(2, ip=False), pod(3, phase="Gone")]
    records = zone.records(pods)
    assert [names[0] for _, names in records] == ["etcd-0.etcd", "etcd-1.etcd", "etcd", "etcd"]
    assert [ip for ip, names in records if names == SERVICE_NAMES] == ["10.0.0.1", "10.0.0.2"]


def test_hosts_file_has_localhost_own_fqdn_and_records():
    zone = Zone("etcd", "db", publish_not_ready=False)
    own = pod(2, ready=False)  # not published, yet it knows its own name
    text = zone.hosts_file(own, zone.records([pod(0), own]))
    assert text.splitlines() == [
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "10.0.0.3\tetcd-2.etcd.db.svc.cluster.local\tetcd-2",
        "10.0.0.1\t" + " ".join(POD_NAMES),
        "10.0.0.1\t" + " ".join(SERVICE_NAMES),
    ]
    assert text.endswith("\n")


def test_hosts_file_with_no_records_still_names_the_pod():
    zone = Zone("etcd", "default", publish_not_ready=True)
    text = zone.hosts_file(pod(0), [])
    assert "10.0.0.1\tetcd-0.etcd.default.svc.cluster.local\tetcd-0\n" in text


def test_write_in_place_keeps_the_inode(tmp_path):
    path = tmp_path / "hosts"
    write_in_place(path, "a long first version\n")
    inode = os.stat(path).st_ino
    write_in_place(path, "short\n")
    assert path.read_text() == "short\n"
    assert os.stat(path).st_ino == inode
    write_in_place(path, "short\n")  # unchanged text: nothing to do
    assert path.read_text() == "short\n" and os.stat(path).st_ino == inode


def _records(zone, **ips):
    return [(ip, zone.names(name)) for name, ip in ips.items()]


def test_a_cached_answer_outlives_the_move_by_its_ttl_then_expires():
    zone = Zone("etcd", "default", True)
    cache = {"etcd-1": CachedAnswer("10.0.0.2", 30.0)}
    before = _records(zone, **{"etcd-0": "10.0.0.1", "etcd-1": "10.0.0.2"})
    served, changes = serve_cached(zone, before, cache, now=100.0)
    assert served == before and changes == []  # nothing moved yet: the clock has not started

    gone = _records(zone, **{"etcd-0": "10.0.0.1"})  # deleted, not yet back
    served, changes = serve_cached(zone, gone, cache, now=101.0)
    assert ("10.0.0.2", zone.names("etcd-1")) in served
    assert changes == [("dns-cached", "etcd-1", {"stale_ip": "10.0.0.2", "new_ip": None, "seconds": 30.0})]

    moved = _records(zone, **{"etcd-0": "10.0.0.1", "etcd-1": "10.0.0.9"})
    served, _ = serve_cached(zone, moved, cache, now=130.9)
    assert {tuple(n): ip for ip, n in served}[tuple(zone.names("etcd-1"))] == "10.0.0.2"

    served, changes = serve_cached(zone, moved, cache, now=131.0)
    assert served == moved and changes == [("dns-cache-expired", "etcd-1", {})] and cache == {}
