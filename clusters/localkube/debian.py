"""Debian's containerd, runc, CNI plugins and busybox, unpacked into the cache.

Unpacked with ``dpkg -x`` rather than installed: installing containerd would
start (and enable) a system containerd the cluster does not use, and an
unpacked tree can sit beside the machine's own packages at any version. The
versions are whatever the machine's package lists offer; ``versions.json``
beside the tree records them, and the tree is reused until the package set
changes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from clusters.localkube import versions
from clusters.localkube.gobuild import BuildError, Progress


def _run(argv: list[str], cwd: Path, timeout: float = 600) -> str:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise BuildError(f"{' '.join(argv)} failed: {(done.stderr or done.stdout).strip()[-800:]}")
    return done.stdout


def unpack(
    cache: Path, progress: Progress, packages: tuple[str, ...] = versions.DEBIAN_PACKAGES, into: str = "debian"
) -> Path:
    """The root of the unpacked tree (``usr/bin/containerd``, ``usr/lib/cni/bridge``, ...).

    Each package set has its own directory ``into``: a tree is replaced
    whenever its set changes, so a smaller set must not share the full one's.
    """
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        raise BuildError(f"apt-get and dpkg are needed to fetch Debian's {', '.join(packages)}")
    base = cache / into
    root, record = base / "root", base / "versions.json"
    if root.is_dir() and record.is_file() and sorted(json.loads(record.read_text())) == sorted(packages):
        progress(f"debian: {', '.join(packages)} already unpacked ({root})")
        return root
    shutil.rmtree(base, ignore_errors=True)
    downloads = base / "downloads"
    downloads.mkdir(parents=True)
    try:
        _run(["apt-get", "download", *packages], downloads)
    except BuildError as error:
        raise BuildError(f"{error}\n(run `apt-get update` first if the package lists are missing)") from None
    found: dict[str, str] = {}
    for deb in sorted(downloads.glob("*.deb")):
        name, version = _run(["dpkg-deb", "-f", str(deb), "Package", "Version"], base).split("\n")[:2]
        found[name.split(": ", 1)[1]] = version.split(": ", 1)[1]
        _run(["dpkg", "-x", str(deb), str(root)], base)
    shutil.rmtree(downloads)
    if sorted(found) != sorted(packages):
        raise BuildError(f"apt-get download gave {sorted(found)}, not {sorted(packages)}")
    record.write_text(json.dumps(found, indent=2, sort_keys=True))
    progress("debian: unpacked " + ", ".join(f"{name} {version}" for name, version in sorted(found.items())))
    return root
