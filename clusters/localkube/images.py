"""Container images made here, without a registry: one layer each, as OCI image layouts.

Every image the cluster runs is built from files this machine already has:
Debian's static busybox, the etcd binaries we ship, and the Go programs the
build made (among them the strategy image's getent, which busybox lacks).
Layers are written reproducibly (fixed times, owners and order, gzip without
a timestamp), so the same inputs give the same digest and a
rebuilt image is recognised as unchanged. The node imports the tars with
``ctr images import``; pods name the images with ``imagePullPolicy`` left at
its default, which never pulls an image that is present.

The strategy image is the one the built-in strategies' scripts run in. kind
gets the very same tree: ``write_rootfs`` lays it out for the Dockerfile
beside this module, which only copies it (see ``Dockerfile``).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from clusters.image_names import fully_qualified

LAYER_MEDIA = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG_MEDIA = "application/vnd.oci.image.config.v1+json"
MANIFEST_MEDIA = "application/vnd.oci.image.manifest.v1+json"
STRATEGY_PATH = "/usr/local/bin:/bin"

# Not in busybox's applets, yet scripts and kubelets expect them.
BASE_FILES = {
    "etc/passwd": b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    "etc/group": b"root:x:0:\nnogroup:x:65534:\n",
}
BASE_DIRS = {"tmp": 0o1777, "root": 0o700, "var": 0o755, "var/lib": 0o755, "etc": 0o755, "bin": 0o755}


@dataclass(frozen=True)
class Image:
    """An image: a name, the files of its one layer and how its process starts."""

    name: str  # fully qualified, as containerd stores it: docker.io/etcd-chaos/etcd:3.5.1
    files: dict[str, Path] = field(default_factory=dict)  # path in the image -> file on this machine
    links: dict[str, str] = field(default_factory=dict)  # path in the image -> symlink target
    data: dict[str, bytes] = field(default_factory=dict)  # path in the image -> contents
    dirs: dict[str, int] = field(default_factory=dict)  # path in the image -> mode
    entrypoint: tuple[str, ...] = ()
    env: tuple[str, ...] = (f"PATH={STRATEGY_PATH}",)

    def fingerprint(self) -> str:
        """Changes whenever the image would: its settings, and each input file's size and time."""
        described = {
            "name": self.name, "entrypoint": self.entrypoint, "env": self.env, "dirs": self.dirs, "links": self.links,
            "data": {p: hashlib.sha256(c).hexdigest() for p, c in self.data.items()},
            "files": {p: [f.stat().st_size, f.stat().st_mtime_ns, str(f)] for p, f in self.files.items()},
        }
        return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()

    @property
    def file_name(self) -> str:
        return self.name.split("/", 1)[-1].replace("/", "_").replace(":", "_") + ".tar"


def busybox_links(busybox: Path) -> dict[str, str]:
    """A symlink per applet, so any tool a strategy's script calls resolves as on a busybox image."""
    listed = subprocess.run([str(busybox), "--list"], check=True, capture_output=True, text=True, timeout=10).stdout
    return {f"bin/{applet}": "busybox" for applet in listed.split() if applet != "busybox"}


def strategy_image(etcd_bin_dir: Path, etcd_version: str, busybox: Path, getent: Path) -> Image:
    """busybox for every tool the scripts call, getent beside it, and etcd, etcdctl and etcdutl at ``etcd_version``.

    busybox has no getent, and the scripts that follow Bitnami's (written for
    a glibc image) resolve the headless Service with ``getent ahosts``.
    etcdutl came with 3.5: an older release's image has none.
    """
    files = {"bin/busybox": busybox, "usr/local/bin/getent": getent}
    tools = ("etcd", "etcdctl", *(("etcdutl",) if (etcd_bin_dir / "etcdutl").exists() else ()))
    files.update({f"usr/local/bin/{tool}": etcd_bin_dir / tool for tool in tools})
    files.update(shared_libraries([etcd_bin_dir / tool for tool in tools]))
    return Image(
        fully_qualified(f"etcd-chaos/etcd:{etcd_version}"),
        files=files,
        links=busybox_links(busybox),
        data=BASE_FILES,
        dirs={**BASE_DIRS, "usr": 0o755, "usr/local": 0o755, "usr/local/bin": 0o755},
        entrypoint=("/bin/sh",),
    )


def shared_libraries(binaries: list[Path]) -> dict[str, Path]:
    """The loader and libraries dynamically linked binaries need, at the paths they look for them.

    etcd's own releases and the Go module proxy's builds are static; Debian
    builds its etcd against glibc, and in a busybox image its ``etcd: not
    found`` is the missing loader. This machine's copies are the ones Debian
    built against (the same package lists gave both). ``ldd`` prints nothing
    to use for a static binary.
    """
    found: dict[str, Path] = {}
    for binary in binaries:
        listed = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, timeout=10, check=False).stdout
        for line in listed.splitlines():
            path = line.split("=>")[-1].split("(")[0].strip()
            if path.startswith("/"):
                found[path.lstrip("/")] = Path(path).resolve()
    return found


def program_image(name: str, binary: Path, args: tuple[str, ...] = ()) -> Image:
    """A static Go program alone (pause, CoreDNS)."""
    path = f"bin/{binary.name}"
    return Image(
        fully_qualified(name), files={path: binary}, data=BASE_FILES, dirs={"bin": 0o755, "etc": 0o755, "tmp": 0o1777},
        entrypoint=(f"/{path}", *args), env=("PATH=/bin",),
    )


def _entries(image: Image) -> list[tuple[str, tarfile.TarInfo, bytes | None]]:
    """Every layer entry, parents before children, sorted: the order is part of the digest."""
    entries: dict[str, tuple[tarfile.TarInfo, bytes | None]] = {}

    def add_dir(path: str, mode: int = 0o755) -> None:
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):
            sub = "/".join(parts[:depth])
            if sub not in entries:
                info = tarfile.TarInfo(sub)
                info.type, info.mode = tarfile.DIRTYPE, image.dirs.get(sub, mode)
                entries[sub] = (info, None)

    for path, mode in image.dirs.items():
        add_dir(path, mode)
    for path, source in image.files.items():
        add_dir(path.rsplit("/", 1)[0])
        content = source.read_bytes()
        info = tarfile.TarInfo(path)
        info.size, info.mode = len(content), 0o755
        entries[path] = (info, content)
    for path, content in image.data.items():
        add_dir(path.rsplit("/", 1)[0])
        info = tarfile.TarInfo(path)
        info.size, info.mode = len(content), 0o644
        entries[path] = (info, content)
    for path, target in image.links.items():
        add_dir(path.rsplit("/", 1)[0])
        info = tarfile.TarInfo(path)
        info.type, info.linkname, info.mode = tarfile.SYMTYPE, target, 0o777
        entries[path] = (info, None)
    for info, _ in entries.values():
        info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "root", "root"
    return [(path, *entries[path]) for path in sorted(entries)]


def layer(image: Image) -> bytes:
    """The uncompressed layer tar."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for _, info, content in _entries(image):
            tar.addfile(info, io.BytesIO(content) if content is not None else None)
    return buffer.getvalue()


def _blob(tar: tarfile.TarFile, content: bytes) -> dict[str, object]:
    digest = "sha256:" + hashlib.sha256(content).hexdigest()
    info = tarfile.TarInfo(f"blobs/sha256/{digest.split(':', 1)[1]}")
    info.size, info.mtime, info.mode = len(content), 0, 0o644
    tar.addfile(info, io.BytesIO(content))
    return {"digest": digest, "size": len(content)}


def write_layout(image: Image, out_dir: Path) -> Path:
    """Write ``image`` as an OCI image-layout tar, unless the same image was written there before."""
    target = out_dir / image.file_name
    stamp = target.with_suffix(".fingerprint")
    if target.is_file() and stamp.is_file() and stamp.read_text() == image.fingerprint():
        return target
    raw = layer(image)
    compressed = gzip.compress(raw, compresslevel=6, mtime=0)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": list(image.env), "Entrypoint": list(image.entrypoint), "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]},
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    # One per process: pytest-xdist's workers may all find the image stale and write it at once.
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    with tarfile.open(partial, "w") as tar:
        layer_ref = {"mediaType": LAYER_MEDIA, **_blob(tar, compressed)}
        config_ref = {"mediaType": CONFIG_MEDIA, **_blob(tar, _json(config))}
        manifest = {"schemaVersion": 2, "mediaType": MANIFEST_MEDIA, "config": config_ref, "layers": [layer_ref]}
        manifest_ref = {"mediaType": MANIFEST_MEDIA, **_blob(tar, _json(manifest))}
        manifest_ref["annotations"] = {
            "io.containerd.image.name": image.name,
            "org.opencontainers.image.ref.name": image.name.rsplit(":", 1)[1],
        }
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [manifest_ref]}
        for name, content in (("oci-layout", _json({"imageLayoutVersion": "1.0.0"})), ("index.json", _json(index))):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(content), 0, 0o644
            tar.addfile(info, io.BytesIO(content))
    partial.rename(target)
    stamp.write_text(image.fingerprint())
    return target


def write_rootfs(image: Image, directory: Path) -> None:
    """Lay the image's tree out as files, for a Dockerfile that copies it (kind's image)."""
    with tarfile.open(fileobj=io.BytesIO(layer(image))) as tar:
        tar.extractall(directory, filter="tar")


def write_build_context(image: Image, directory: Path) -> None:
    """``directory`` made into what ``docker build`` takes for ``image``: ``rootfs/`` and the Dockerfile beside this module."""
    write_rootfs(image, directory / "rootfs")
    shutil.copy(Path(__file__).parent / "Dockerfile", directory / "Dockerfile")


def _json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
