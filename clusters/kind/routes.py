"""Host routes to the pods' own addresses, each node's pod range through that node's container.

The backend contract has the harness's clients reach a member at its pod IP,
as a client inside the cluster would. kind's pods live behind their node
containers, where this machine has no route; one route per node, its
``spec.podCIDR`` via the node's address on docker's network, makes every pod
IP reachable directly. That keeps the history honest: each call is the
client's own TCP connection to the member it names, so every time-out, reset
or refusal recorded is etcd's or the network's. A port-forward instead
(kubectl through the API server and the kubelet) would put a proxy between
the two with failures and time-outs of its own, would answer for a member it
can no longer reach, and would fall over whenever its pod is replaced, which
is what every fault does.

The routes are recorded as they are added and removed at the end, and only
those: nothing else of this machine's routing is touched.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

from clusters.kind.run import KindError, Runner, command, run, why

ROUTE_TIMEOUT = 10.0


@dataclass(frozen=True)
class Route:
    network: str  # a node's spec.podCIDR, 10.244.2.0/24
    via: str  # the node container's address on docker's network


class PodRoutes:
    """The routes this run added, by node; ``ip route`` through ``sudo -n`` unless this process is root."""

    def __init__(self, runner: Runner = run, euid: int | None = None) -> None:
        self.runner = runner
        self.as_root = (os.geteuid() if euid is None else euid) == 0
        self.added: dict[str, Route] = {}

    def _ip(self, *args: str) -> list[str]:
        return [*([] if self.as_root else ["sudo", "-n"]), "ip", *args]

    def attached(self, subnet: ipaddress.IPv4Network) -> list[str]:
        """This machine's own networks inside ``subnet`` (a bridge of another cluster): a route there would break it.

        Routes through a gateway are not in the way: a stale one of an
        earlier run is replaced, and a wider one loses to a node's /24.
        """
        done = self.runner(["ip", "-4", "route", "show"], ROUTE_TIMEOUT)
        if done.returncode != 0:
            raise KindError(f"`ip -4 route show` failed: {why(done)}")
        found = []
        for line in done.stdout.splitlines():
            words = line.split()
            if not words or "via" in words or not words[0][0].isdigit():
                continue
            if ipaddress.ip_network(words[0], strict=False).overlaps(subnet):
                found.append(line.strip())
        return found

    def add(self, node: str, network: str, via: str) -> None:
        argv = self._ip("route", "replace", network, "via", via)
        done = self.runner(argv, ROUTE_TIMEOUT)
        if done.returncode != 0:
            raise KindError(f"`{command(argv)}` failed: {why(done)}; the pods of {node} cannot be reached")
        self.added[node] = Route(network, via)

    def refresh(self, node: str, via: str) -> None:
        """The node came back at another address (docker gives a restarted container any free one): follow it."""
        route = self.added.get(node)
        if route is not None and route.via != via:
            self.add(node, route.network, via)

    def remove_all(self) -> list[str]:
        """Remove every route added; return what could not be removed, one line each. Safe to call twice."""
        left = []
        for node, route in sorted(self.added.items()):
            argv = self._ip("route", "del", route.network, "via", route.via)
            done = self.runner(argv, ROUTE_TIMEOUT)
            if done.returncode != 0 and "No such process" not in (done.stderr or ""):  # gone already
                left.append(f"route {route.network} via {route.via} ({node}): `{command(argv)}` failed: {why(done)}")
        self.added.clear()
        return left
