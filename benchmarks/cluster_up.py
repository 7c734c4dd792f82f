#!/usr/bin/env python3
"""How long the local Kubernetes takes to come up and go down, and that down leaves nothing.

Each round: ``cluster.up`` (N Ready nodes, CoreDNS and the provisioner
available; from the first preflight check to the return) and ``down``,
timed separately, then the leftover listing, which must be empty. Prints the
median, min and max of each. Needs root and a finished ``etcd-chaos build``.

    .venv/bin/python benchmarks/cluster_up.py --rounds 5 [--nodes 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

from clusters.localkube import build, etcd_releases
from clusters.localkube import cluster as localkube


def _summary(name: str, values: list[float]) -> str:
    return f"{name}: median {statistics.median(values):.1f} s, min {min(values):.1f}, max {max(values):.1f} ({len(values)} rounds)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--nodes", type=int, default=localkube.DEFAULT_NODES)
    args = parser.parse_args()
    tools = build.prepare(etcd_releases.resolve([], None, lambda line: None), lambda line: None)
    ups, downs = [], []
    for round_number in range(1, args.rounds + 1):
        began = time.monotonic()
        running = localkube.up(tools, args.nodes, lambda line: None)
        ups.append(time.monotonic() - began)
        ready = localkube.ready_nodes(running.kubectl)
        began = time.monotonic()
        left = running.down()
        downs.append(time.monotonic() - began)
        print(f"round {round_number}: up {ups[-1]:.1f} s ({len(ready)} Ready), down {downs[-1]:.1f} s, "
              f"left behind: {'; '.join(left) or 'nothing'}", flush=True)
    print(_summary("up", ups))
    print(_summary("down", downs))


if __name__ == "__main__":
    main()
