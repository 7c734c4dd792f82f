import ipaddress
import os

import pytest

from clusters.local import host, netfilter

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


def _no_commands(monkeypatch):
    def refuse(*argv, **kwargs):
        raise AssertionError(f"no command may run here, got {argv}")

    monkeypatch.setattr(host, "run", refuse)


def test_our_own_namespace_is_never_cut(monkeypatch):
    # A reused PID that is no longer a pod must not partition the harness itself.
    _no_commands(monkeypatch)
    with pytest.raises(host.HostError, match="namespace is gone"):
        netfilter.cut(os.getpid(), SUBNET, GATEWAY, "both")
    netfilter.restore(os.getpid())


def test_restoring_a_pod_that_is_gone_does_nothing(monkeypatch):
    _no_commands(monkeypatch)
    gone = 2**22 + 1  # above the largest pid_max, so never a process
    netfilter.restore(gone)
    with pytest.raises(host.HostError, match="namespace is gone"):
        netfilter.cut(gone, SUBNET, GATEWAY, "in")
