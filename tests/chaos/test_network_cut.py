"""A partition cuts real pods off each other, open TCP streams included, and never their node's address."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from clusters.kube import pods as podview
from clusters.kube.cluster import KubeCluster
from clusters.localkube import host
from clusters.manifests import parse
from clusters.strategy import Strategy
from harness.plugin import etcd_axis

pytestmark = pytest.mark.chaos

TCP_PORT = 7000
UDP_PORT = 7001

# Prints every line that arrives on any accepted connection, so the test sees
# which connection a line came on without a protocol of its own.
TCP_SERVER = r"""
import socket, sys, threading
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("0.0.0.0", int(sys.argv[1])))
listener.listen()
print("listening", flush=True)
def serve(conn):
    for line in conn.makefile("r"):
        print("got", line.strip(), flush=True)
while True:
    conn, peer = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""

# One long-lived connection opened at start; "send X" writes on it, "new" tries
# a second connection, so the test can tell an open stream from a new one.
TCP_CLIENT = r"""
import socket, sys
address = (sys.argv[1], int(sys.argv[2]))
stream = socket.create_connection(address, timeout=5)
print("connected", flush=True)
for command in sys.stdin:
    word, _, arg = command.strip().partition(" ")
    if word == "send":
        stream.sendall(arg.encode() + b"\n")
        print("sent", arg, flush=True)
    elif word == "new":
        try:
            socket.create_connection(address, timeout=2).close()
            print("new ok", flush=True)
        except OSError as err:
            print("new failed", type(err).__name__, flush=True)
"""

UDP_LISTENER = r"""
import socket, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("0.0.0.0", int(sys.argv[1])))
print("listening", flush=True)
while True:
    data, peer = sock.recvfrom(100)
    print("got", data.decode(), "from", peer[0], flush=True)
"""

UDP_SEND = r"""
import socket, sys
try:
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(sys.argv[3].encode(), (sys.argv[1], int(sys.argv[2])))
    print("sent")
except OSError as err:
    print("send failed", type(err).__name__)
"""


CONNTRACK_ON = """
table inet conntrack_on {
    chain track {
        type filter hook prerouting priority raw
        ct state new counter
    }
}
"""


class Program:
    """A Python program inside a pod's network namespace, read line by line with bounded waits."""

    def __init__(self, pid: int, code: str, *args: str) -> None:
        self.process = subprocess.Popen(
            ["setpriv", "--pdeathsig", "KILL", "--", "nsenter", "-t", str(pid), "-n", "--",
             sys.executable, "-u", "-c", code, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.lines: list[str] = []
        self._partial = b""

    def _pump(self, until: float) -> None:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        while True:
            ready, _, _ = select.select([fd], [], [], max(0.0, until - time.monotonic()))
            if not ready:
                return
            chunk = os.read(fd, 4096)
            if not chunk:
                return
            *complete, self._partial = (self._partial + chunk).split(b"\n")
            self.lines += [line.decode() for line in complete]
            if complete:
                return

    def wait_for(self, line: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while line not in self.lines and time.monotonic() < deadline and self.process.poll() is None:
            self._pump(deadline)
        self._pump(time.monotonic())
        return line in self.lines

    def expect(self, line: str, timeout: float = 5.0) -> None:
        assert self.wait_for(line, timeout), f"no {line!r} within {timeout} s; output so far: {self.lines}"

    def say(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command.encode() + b"\n")
        self.process.stdin.flush()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=5)


def sleepers(image: str) -> list[dict]:
    """Three pods of the strategy image, which has busybox's sleep: no image is made for this test alone."""
    return [{
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "etcd"},
        "spec": {
            "serviceName": "etcd", "replicas": 3, "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {"app": "sleeper"}},
            "template": {
                "metadata": {"labels": {"app": "sleeper"}},
                "spec": {
                    "terminationGracePeriodSeconds": 0,
                    "containers": [{"name": "sleep", "image": image, "command": ["sleep", "3600"]}],
                },
            },
        },
    }]


@dataclass(frozen=True)
class Pod:
    name: str
    ip: str
    gateway: str  # its node's address, which a cut never filters
    netns_pid: int  # the sandbox's process: its network namespace is the pod's


@dataclass
class Net:
    cluster: KubeCluster
    pods: list[Pod]
    udp: list[Program]

    def cut(self, pod: Pod, direction: str) -> None:
        self.cluster.cut_network(pod.name, direction)

    def restore(self, pod: Pod) -> None:
        self.cluster.restore_network(pod.name)

    def udp_send(self, sender: Pod | None, receiver: Pod, payload: str) -> str:
        """Send one datagram from a pod (None: from this machine, i.e. the receiver's gateway); return what the sender saw."""
        if sender is None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.sendto(payload.encode(), (receiver.ip, UDP_PORT))
            return "sent"
        argv = ["nsenter", "-t", str(sender.netns_pid), "-n", "--", sys.executable, "-c", UDP_SEND]
        return host.run(*argv, receiver.ip, str(UDP_PORT), payload).stdout.strip()


@pytest.fixture(scope="module")
def net(kube_backend, request: pytest.FixtureRequest) -> Iterator[Net]:
    """Three pods of a sleeping StatefulSet, one per node, each with a UDP listener in its network namespace."""
    release = etcd_axis(request.config)[0]
    strategy = Strategy("sleepers", "pods that only sleep, to cut", Path(__file__).parent, parse(sleepers(f"etcd-chaos/etcd:{release}")))
    cluster = KubeCluster(strategy, kube_backend.api, kube_backend.driver, kube_backend.name, release)
    udp: list[Program] = []
    try:
        cluster.start()
        assert cluster.watch.wait(lambda pods: sum(podview.is_ready(p) for p in pods) == 3, 90), "three sleepers Ready"
        pods = []
        for info in cluster.pods():
            raw = cluster._pod(info.name)
            pid = kube_backend.driver.sandbox_pid(info.node, info.uid)
            pods.append(Pod(info.name, info.ip, raw["status"]["hostIP"], pid))
        for pod in pods:
            udp.append(Program(pod.netns_pid, UDP_LISTENER, str(UDP_PORT)))
            udp[-1].expect("listening")
        yield Net(cluster, pods, udp)
    finally:
        for program in udp:
            program.kill()
        cluster.stop()


def test_both_cuts_an_open_tcp_stream_and_new_connections_but_not_the_gateway(net: Net) -> None:
    client_pod, cut_pod, other = net.pods
    server = Program(cut_pod.netns_pid, TCP_SERVER, str(TCP_PORT))
    client: Program | None = None
    try:
        # Track connections before the stream opens, as a node with kube-proxy would: then an
        # "accept established" in front of the drops would let the stream through, and fail here.
        host.run("nsenter", "-t", str(cut_pod.netns_pid), "-n", "nft", CONNTRACK_ON)
        server.expect("listening")
        client = Program(client_pod.netns_pid, TCP_CLIENT, cut_pod.ip, str(TCP_PORT))
        client.expect("connected")
        client.say("send before")
        server.expect("got before")

        net.cut(cut_pod, "both")
        client.say("send during")
        client.expect("sent during")
        assert not server.wait_for("got during", 3.0), "a line crossed the partition on the already open stream"
        client.say("new")
        client.expect("new failed TimeoutError", timeout=6.0)

        # The harness's clients come from the gateway: they still reach the cut pod.
        with socket.create_connection((cut_pod.ip, TCP_PORT), timeout=3) as from_host:
            from_host.sendall(b"from-gateway\n")
        server.expect("got from-gateway")
        # Only the cut pod is isolated: the other pods still talk to each other.
        assert net.udp_send(client_pod, other, "bystander") == "sent"
        net.udp[2].expect(f"got bystander from {client_pod.ip}")
        # And the cut pod still reaches its own address (over loopback).
        assert net.udp_send(cut_pod, cut_pod, "self") == "sent"
        net.udp[1].expect(f"got self from {cut_pod.ip}")
        assert "etcd_chaos" not in host.run("nft", "list", "tables").stdout, "rules leaked into the host"

        net.restore(cut_pod)
        # The stalled segment is retransmitted with TCP's backoff: bounded, but not instant.
        server.expect("got during", timeout=30.0)
        client.say("send after")
        server.expect("got after")
        client.say("new")
        client.expect("new ok")
    finally:
        net.restore(cut_pod)
        if client:
            client.kill()
        server.kill()


def _delivered(net: Net, sender: Pod | None, receiver: int, payload: str) -> bool:
    """Whether a datagram arrives, decided by a control datagram from the gateway sent right after it."""
    net.udp_send(sender, net.pods[receiver], payload)
    control = f"control-{payload}"
    net.udp_send(None, net.pods[receiver], control)
    net.udp[receiver].expect(f"got {control} from {net.pods[receiver].gateway}")
    source = sender.ip if sender else net.pods[receiver].gateway
    return net.udp[receiver].wait_for(f"got {payload} from {source}", 0.5)


def test_in_drops_only_what_other_pods_send_to_the_cut_pod(net: Net) -> None:
    peer, cut_pod, _ = net.pods
    try:
        net.cut(cut_pod, "in")
        assert not _delivered(net, peer, 1, "in-peer-to-cut")
        assert _delivered(net, cut_pod, 0, "in-cut-to-peer")
        assert _delivered(net, None, 1, "in-gateway-to-cut")
        net.restore(cut_pod)
        assert _delivered(net, peer, 1, "in-peer-to-cut-healed")
    finally:
        net.restore(cut_pod)


def test_out_drops_only_what_the_cut_pod_sends_to_other_pods(net: Net) -> None:
    peer, cut_pod, _ = net.pods
    gateway_listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        gateway_listener.bind((cut_pod.gateway, 0))
        gateway_listener.settimeout(5)
        net.cut(cut_pod, "out")
        # The output hook reports the drop to a local UDP sender (EPERM); TCP treats it as a loss.
        assert net.udp_send(cut_pod, peer, "out-cut-to-peer") == "send failed PermissionError"
        assert not _delivered(net, cut_pod, 0, "out-cut-to-peer-2")
        assert _delivered(net, peer, 1, "out-peer-to-cut")
        port = gateway_listener.getsockname()[1]
        argv = ["nsenter", "-t", str(cut_pod.netns_pid), "-n", "--", sys.executable, "-c", UDP_SEND]
        assert host.run(*argv, cut_pod.gateway, str(port), "out-cut-to-gateway").stdout.strip() == "sent"
        assert gateway_listener.recvfrom(100)[0] == b"out-cut-to-gateway"
        net.restore(cut_pod)
        assert _delivered(net, cut_pod, 0, "out-cut-to-peer-healed")
    finally:
        gateway_listener.close()
        net.restore(cut_pod)


def test_a_second_cut_replaces_the_first_and_restore_is_idempotent(net: Net) -> None:
    peer, cut_pod, _ = net.pods
    try:
        net.cut(cut_pod, "in")
        net.cut(cut_pod, "out")
        assert _delivered(net, peer, 1, "replaced-peer-to-cut")
        assert not _delivered(net, cut_pod, 0, "replaced-cut-to-peer")
        net.restore(cut_pod)
        net.restore(cut_pod)
        assert _delivered(net, cut_pod, 0, "replaced-cut-to-peer-healed")
    finally:
        net.restore(cut_pod)
