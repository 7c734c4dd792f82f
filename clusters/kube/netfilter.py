"""Network partitions between pods, as nftables rules inside one pod's namespace.

A partition isolates a member from its peers, not from the harness: the
harness's clients and probes reach pods from the bridge's own address (the
gateway), so that address is never filtered. The rules are one nftables table
loaded into the pod's network namespace, never the host's, so they vanish with
the pod (a re-created pod is not partitioned: it has a new namespace) and
nothing is left on the host if the harness dies mid-fault.

The rules are stateless per-packet drops with no "accept established" rule in
front of them: etcd's peers keep long-lived streams, and a partition that only
stopped new connections would leave those streams working.

Why nftables in the inet family rather than an egress hook on the device, even
though the latter would hide the drop from local UDP senders: in the output hook
a dropped packet makes the sending call fail with EPERM, which TCP (all etcd
uses) treats like a lost segment and retransmits with the usual exponential
backoff, as over a cut wire; a drop at the device egress is reported to TCP as
local congestion instead, which retransmits every 0.5 s without backoff and so
heals unrealistically fast. The price is that a UDP or ICMP sender in the cut
pod sees EPERM on "out" rather than silence.
"""

from __future__ import annotations

import ipaddress

TABLE = "etcd_chaos"
DIRECTIONS = ("both", "in", "out")
# The pod's end of its veth, as every CNI names it. Filtering on it leaves
# loopback alone, so a pod still reaches its own IP (etcd dials itself).
POD_INTERFACE = "eth0"

# Delete the table if present, without failing if not: nft has no "delete if
# exists" before 1.0.8, and adding an existing table is a no-op.
REMOVE = f"table inet {TABLE}\ndelete table inet {TABLE}\n"


def node_gateway(subnet: ipaddress.IPv4Network, host_ip: str, node_range: str | None) -> str | None:
    """The address a pod's own node reaches it from, the one a partition spares; None when it is not known.

    On the local cluster that is the node's address itself, its bridge's.
    On kind the node's address is on docker's network, outside the pod
    network, and its CNI (ptp with host-local) puts the first address of the
    node's pod range on the node's end of every pod's veth: the kubelet's
    probes come from there. The harness's clients come from docker's bridge,
    outside the pod network, which the rules never drop.
    """
    if ipaddress.ip_address(host_ip) in subnet:
        return host_ip
    if node_range is None:
        return None
    node_net = ipaddress.ip_network(node_range)
    return str(node_net.network_address + 1) if node_net.subnet_of(subnet) else None


def ruleset(subnet: ipaddress.IPv4Network, gateway: str, direction: str) -> str:
    """The nft script that replaces any earlier cut of a pod by this one, atomically.

    IPv6 on the pod's interface is only link-local (the pod network is IPv4)
    and can only reach other pods or the bridge, none of which the harness
    uses, so it is dropped whole: otherwise pods could still talk over it.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown partition direction {direction!r}: expected one of {', '.join(DIRECTIONS)}")
    address = ipaddress.IPv4Address(gateway)
    if address not in subnet:
        raise ValueError(f"gateway {gateway} is not inside the pod network {subnet}")
    chains = []
    if direction in ("both", "in"):
        chains.append(_chain("input", "iifname", "saddr", subnet, address))
    if direction in ("both", "out"):
        chains.append(_chain("output", "oifname", "daddr", subnet, address))
    return REMOVE + f"table inet {TABLE} {{\n" + "".join(chains) + "}\n"


def _chain(hook: str, interface: str, field: str, subnet: ipaddress.IPv4Network, gateway: ipaddress.IPv4Address) -> str:
    match = f'{interface} "{POD_INTERFACE}"'
    return (
        f"\tchain {hook} {{\n"
        f"\t\ttype filter hook {hook} priority filter; policy accept;\n"
        f"\t\t{match} ip {field} {subnet} ip {field} != {gateway} drop\n"
        f"\t\t{match} meta nfproto ipv6 drop\n"
        f"\t}}\n"
    )
