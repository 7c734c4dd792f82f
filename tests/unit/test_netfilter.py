"""Partition rules (pure) and the local node driver's refusal to load them anywhere but a pod."""

import ipaddress
import os

import pytest

from clusters.kube import netfilter
from clusters.kube.driver import DriverError
from clusters.localkube import driver as local_driver
from clusters.localkube.layout import Layout

SUBNET = ipaddress.IPv4Network("10.213.7.0/24")
GATEWAY = "10.213.7.1"


def rule_lines(text):
    return [line.strip() for line in text.splitlines() if line.strip().endswith("drop")]


def test_both_drops_other_pods_either_way_but_never_the_gateway():
    text = netfilter.ruleset(SUBNET, GATEWAY, "both")
    assert rule_lines(text) == [
        'iifname "eth0" ip saddr 10.213.7.0/24 ip saddr != 10.213.7.1 drop',
        'iifname "eth0" meta nfproto ipv6 drop',
        'oifname "eth0" ip daddr 10.213.7.0/24 ip daddr != 10.213.7.1 drop',
        'oifname "eth0" meta nfproto ipv6 drop',
    ]


def test_in_filters_only_what_arrives_and_out_only_what_leaves():
    inbound = netfilter.ruleset(SUBNET, GATEWAY, "in")
    outbound = netfilter.ruleset(SUBNET, GATEWAY, "out")
    assert "hook input" in inbound and "hook output" not in inbound
    assert "hook output" in outbound and "hook input" not in outbound
    assert all(line.startswith("iifname") for line in rule_lines(inbound))
    assert all(line.startswith("oifname") for line in rule_lines(outbound))


def test_rules_are_stateless_so_open_connections_are_cut_too():
    for direction in netfilter.DIRECTIONS:
        text = netfilter.ruleset(SUBNET, GATEWAY, direction)
        assert "ct " not in text and "established" not in text and "accept\n" not in text.replace("policy accept;", "")


def test_a_cut_replaces_the_table_in_one_script():
    text = netfilter.ruleset(SUBNET, GATEWAY, "both")
    assert text.startswith("table inet etcd_chaos\ndelete table inet etcd_chaos\ntable inet etcd_chaos {\n")
    assert text.count("table inet") == 3 and text.endswith("}\n")


def test_unknown_direction_and_foreign_gateway_are_refused():
    with pytest.raises(ValueError, match="direction 'sideways'"):
        netfilter.ruleset(SUBNET, GATEWAY, "sideways")
    with pytest.raises(ValueError, match="not inside"):
        netfilter.ruleset(SUBNET, "10.213.8.1", "both")
    with pytest.raises(ValueError):
        netfilter.ruleset(SUBNET, "not-an-address", "both")


def test_the_local_driver_never_loads_rules_into_our_own_namespace(monkeypatch, tmp_path):
    """A sandbox PID that names no pod any more (reused, or the host's) must not partition the harness itself."""
    driver = local_driver.LocalNodeDriver(tools=None, root=Layout.of(1, tmp_path))  # type: ignore[arg-type]
    answers = {"pods": {"items": [{"id": "sandbox-1"}]}, "inspectp": {"info": {"pid": os.getpid()}}}
    monkeypatch.setattr(driver, "_crictl_json", lambda node, verb, *args: answers[verb])
    monkeypatch.setattr(local_driver.host, "run", lambda *a, **k: pytest.fail(f"no command may run, got {a}"))
    with pytest.raises(DriverError, match="no network namespace of its own to act in"):
        driver.in_pod_network("node-0", "u-1", ["nft", netfilter.REMOVE])


def test_the_local_driver_empties_only_directories_of_its_cluster(tmp_path):
    driver = local_driver.LocalNodeDriver(tools=None, root=Layout.of(1, tmp_path / "cluster"))  # type: ignore[arg-type]
    outside = tmp_path / "elsewhere"
    (outside / "member").mkdir(parents=True)
    with pytest.raises(DriverError, match="outside the local cluster"):
        driver.wipe("node-0", str(outside))
    inside = tmp_path / "cluster" / "storage" / "pvc-1"
    (inside / "member" / "wal").mkdir(parents=True)
    (inside / "lock").write_text("")
    driver.wipe("node-0", str(inside))
    assert inside.is_dir() and not any(inside.iterdir())
    assert (outside / "member").is_dir()


CLUSTER = ipaddress.IPv4Network("10.244.0.0/16")


def test_the_spared_address_is_the_nodes_own_when_inside_the_pod_network():
    assert netfilter.node_gateway(CLUSTER, "10.244.2.1", "10.244.2.0/24") == "10.244.2.1"  # the local node's bridge


def test_on_kind_the_spared_address_is_the_first_of_the_nodes_pod_range():
    assert netfilter.node_gateway(CLUSTER, "172.18.0.4", "10.244.3.0/24") == "10.244.3.1"  # ptp's host end
    assert netfilter.node_gateway(CLUSTER, "172.18.0.4", None) is None
    assert netfilter.node_gateway(CLUSTER, "172.18.0.4", "192.168.7.0/24") is None, "a range outside the pod network"
