"""kind's strategy image is made without building Kubernetes: busybox and getent only, in a tree of their own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clusters.localkube import build, cli, debian


@pytest.fixture
def light_inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """A cache whose busybox tree is unpacked already and a getent that is built already; Kubernetes' build fails."""
    seen: dict[str, object] = {}
    busybox_root = tmp_path / "cache" / "debian-busybox" / "root"
    (busybox_root / "bin").mkdir(parents=True)
    busybox = busybox_root / "bin" / "busybox"
    busybox.write_text("#!/bin/sh\nprintf 'sh\\nsleep\\n'\n")
    busybox.chmod(0o755)
    getent = tmp_path / "getent"
    getent.write_bytes(b"binary getent")
    etcd_bin = tmp_path / "etcdbin"
    etcd_bin.mkdir()
    for tool in ("etcd", "etcdctl", "etcdutl"):
        (etcd_bin / tool).write_bytes(f"binary {tool}".encode())

    def unpack(cache: Path, progress: object, packages: tuple[str, ...], into: str) -> Path:
        seen["unpack"] = (packages, into)
        return cache / into / "root"

    def local_program(source: Path, name: str, cache: Path, progress: object) -> Path:
        seen["program"] = name
        return getent

    monkeypatch.setattr(build.debian, "unpack", unpack)
    monkeypatch.setattr(build.gobuild, "local_program", local_program)
    monkeypatch.setattr(build.gobuild, "build", lambda *a, **k: pytest.fail(f"built a Go module: {a[0]}"))
    monkeypatch.setattr(build.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setenv("ETCD_CHAOS_CACHE", str(tmp_path / "cache"))
    return {"seen": seen, "etcd_bin": etcd_bin, "busybox": busybox, "getent": getent}


def test_the_strategy_image_alone_takes_busybox_and_getent_but_no_kubernetes(light_inputs: dict) -> None:
    image = build.strategy_image(light_inputs["etcd_bin"], "3.5.1", lambda line: None)
    assert light_inputs["seen"] == {"unpack": (("busybox-static",), "debian-busybox"), "program": "getent"}
    assert image.name == "docker.io/etcd-chaos/etcd:3.5.1"
    assert image.files["bin/busybox"] == light_inputs["busybox"]
    assert image.files["usr/local/bin/getent"] == light_inputs["getent"]
    assert image.files["usr/local/bin/etcdctl"] == light_inputs["etcd_bin"] / "etcdctl"


def test_image_rootfs_writes_the_build_context_without_the_kubernetes_build(
    light_inputs: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli.build, "prepare", lambda *a, **k: pytest.fail("image-rootfs prepared the whole cluster"))
    monkeypatch.setattr(cli.build, "etcd_version", lambda etcd_bin: "3.5.1")
    out = tmp_path / "context"
    assert cli.main(["--etcd-bin-dir", str(light_inputs["etcd_bin"]), "image-rootfs", str(out)]) == 0
    context = out / "3.5.1"
    assert (context / "rootfs" / "bin" / "sh").readlink() == Path("busybox")
    assert (context / "rootfs" / "usr" / "local" / "bin" / "getent").read_bytes() == b"binary getent"
    assert "FROM scratch" in (context / "Dockerfile").read_text()
    assert f"docker build -t docker.io/etcd-chaos/etcd:3.5.1 {context}" in capsys.readouterr().out


def test_the_busybox_tree_does_not_replace_the_full_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """unpack replaces a tree whose package set differs: the light set must live in its own directory."""
    monkeypatch.setattr(debian.shutil, "which", lambda name: f"/usr/bin/{name}")
    for into, packages in (("debian", debian.versions.DEBIAN_PACKAGES), ("debian-busybox", ("busybox-static",))):
        (tmp_path / into / "root").mkdir(parents=True)
        (tmp_path / into / "versions.json").write_text(json.dumps({name: "1" for name in packages}))
    monkeypatch.setattr(debian, "_run", lambda *a, **k: pytest.fail(f"ran {a[0]}: the trees were there"))
    assert debian.unpack(tmp_path, lambda line: None, ("busybox-static",), into="debian-busybox") == (
        tmp_path / "debian-busybox" / "root")
    assert debian.unpack(tmp_path, lambda line: None) == tmp_path / "debian" / "root"
