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
import os
import shutil
import subprocess

from clusters.local import host

TABLE = "etcd_chaos"
DIRECTIONS = ("both", "in", "out")
# What sandbox.Sandbox.create names the pod's end of its veth. Filtering on it
# leaves loopback alone, so a pod still reaches its own IP (etcd dials itself).
POD_INTERFACE = "eth0"
TIMEOUT = 10.0

# Delete the table if present, without failing if not: nft has no "delete if
# exists" before 1.0.8, and adding an existing table is a no-op.
REMOVE = f"table inet {TABLE}\ndelete table inet {TABLE}\n"


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


def check_available() -> str | None:
    """None if partitions work here, else one line on why not and what to install.

    Loads a real ruleset into a throwaway namespace rather than only looking for
    the binary: a kernel without nf_tables would otherwise fail mid-scenario.
    """
    if os.geteuid() != 0:
        return "network partitions need root: they load nftables rules inside the pod's network namespace"
    for tool, package in (("nft", "nftables"), ("nsenter", "util-linux"), ("unshare", "util-linux")):
        if shutil.which(tool) is None:
            return f"network partitions need the {tool} command: install it with `apt-get install -y {package}`"
    probe = ruleset(ipaddress.IPv4Network("10.213.0.0/24"), "10.213.0.1", "both")
    try:
        done = host.run("unshare", "--net", "nft", probe, check=False, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"network partitions are unavailable: loading an nftables ruleset took over {TIMEOUT:.0f} s"
    if done.returncode != 0:
        reason = (done.stderr.strip() or done.stdout.strip() or f"exit code {done.returncode}").splitlines()[0]
        return (
            f"network partitions need nftables in the kernel (nf_tables, inet family), which failed here: {reason}"
        )
    return None


def cut(pause_pid: int, subnet: ipaddress.IPv4Network, gateway: str, direction: str) -> None:
    """Partition the pod whose pause process is ``pause_pid`` from the other pods.

    "both" drops everything between this pod and the other pods, "in" only what
    they send to it, "out" only what it sends to them; the gateway always
    passes. A second cut replaces the first. Existing connections stall like
    new ones, since every packet is checked.

    ``pause_pid`` must be a live pause process that the caller has not reaped
    (a ``Sandbox.pause`` still holding its PID), so the PID cannot be reused.
    """
    script = ruleset(subnet, gateway, direction)
    if _namespace(pause_pid) is None:
        raise host.HostError(f"cannot partition pod with pause PID {pause_pid}: its network namespace is gone")
    _nft(pause_pid, script, f"partition ({direction}) of pod with pause PID {pause_pid}")


def restore(pause_pid: int) -> None:
    """Undo ``cut``; nothing to do if the pod was never cut or its namespace is gone.

    A gone namespace took its rules with it, so healing a partition whose pod
    was deleted or re-created in the meantime is not an error.
    """
    if _namespace(pause_pid) is None:
        return
    try:
        _nft(pause_pid, REMOVE, f"healing the partition of pod with pause PID {pause_pid}")
    except host.HostError:
        if _namespace(pause_pid) is None:
            return
        raise


def _namespace(pid: int) -> str | None:
    """The pod's network namespace, or None when it is gone or is our own.

    Our own (the host's) would mean the PID no longer names a pod: loading the
    rules there would partition the harness itself, which must never happen.
    """
    try:
        namespace = os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None
    return None if namespace == os.readlink("/proc/self/ns/net") else namespace


def _nft(pid: int, script: str, what: str) -> None:
    # The script as one argument is one atomic nft transaction, as with -f, and
    # keeps the call bounded through host.run.
    try:
        done = host.run("nsenter", "-t", str(pid), "-n", "nft", script, check=False, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise host.HostError(f"{what}: nft did not finish within {TIMEOUT:.0f} s") from None
    if done.returncode != 0:
        raise host.HostError(f"{what} failed: {done.stderr.strip() or done.stdout.strip()}")
