"""Build the cluster's Go programs from the Go module proxy, as their own modules would.

``go install module@version`` refuses a module whose go.mod has ``replace``
lines, and k8s.io/kubernetes has one for each staging module (``k8s.io/api =>
./staging/src/k8s.io/api``). So every program is built the same way: a
throwaway main module requires the program's module and repeats its replace
lines, with each replacement inside the module (a relative path) taken from
the proxy instead, where Kubernetes publishes its staging modules as v0.X.Y
(and etcd its sibling modules at the release's own version).
Built binaries go to a cache keyed by module version; a later build finds
them and returns at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from clusters.localkube import versions


class BuildError(RuntimeError):
    """A build step failed; the message names the step and what it printed."""


@dataclass(frozen=True)
class GoModule:
    """One module at one version and the programs (main packages) built from it."""

    path: str
    version: str
    programs: tuple[str, ...]  # package paths; a binary is named as `go build` names it (command_name), unless renamed
    relative_replaces: str | None = None  # version of the proxy's modules that stand in for ./ replacements
    version_variables: tuple[str, ...] = ()  # Go variables the release build sets to the version (-X)
    also_required: tuple[str, ...] = ()  # further modules, at the same version, that hold some of the programs
    renamed: dict[str, str] = field(default_factory=dict, hash=False)  # package path -> binary name
    label: str | None = None  # the cache key's name instead of the path's command_name (etcd's would be "server")

    @property
    def key(self) -> str:
        return f"{self.label or command_name(self.path)}-{self.version}"

    def binary(self, program: str) -> str:
        return self.renamed.get(program) or command_name(program)

    def binaries(self) -> list[str]:
        return [self.binary(program) for program in self.programs]


def command_name(path: str) -> str:
    """The name `go build` gives a program: the path's last element, or the one before a major version (``.../etcdctl/v3``)."""
    parent, _, last = path.rpartition("/")
    return parent.rpartition("/")[2] if parent and re.fullmatch(r"v[0-9]+", last) and int(last[1:]) >= 2 else last


KUBERNETES = GoModule(
    "k8s.io/kubernetes",
    versions.KUBERNETES,
    tuple(
        f"k8s.io/kubernetes/cmd/{name}"
        for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl")
    ),
    relative_replaces=versions.staging_version(),
    # what Kubernetes' own release build sets, so that nodes, `kubectl version` and skew checks see v1.X.Y
    version_variables=tuple(
        f"{package}.{variable}"
        for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
        for variable in ("gitVersion", "gitMajor", "gitMinor", "gitTreeState")
    ),
)
COREDNS = GoModule("github.com/coredns/coredns", versions.COREDNS, ("github.com/coredns/coredns",))
CRI_TOOLS = GoModule("sigs.k8s.io/cri-tools", versions.CRI_TOOLS, ("sigs.k8s.io/cri-tools/cmd/crictl",))
MODULES = (KUBERNETES, COREDNS, CRI_TOOLS)

Progress = Callable[[str], None]


def _go(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 3600) -> str:
    done = subprocess.run(
        ["go", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise BuildError(f"go {' '.join(args)} (in {cwd}) failed:\n{tail}")
    return done.stdout


def can_have(path: str, version: str) -> bool:
    """Whether a module ``path`` can be at ``version``: from v2 on, Go wants the major version as the path's end."""
    major = int(version.lstrip("v").split(".")[0])
    return path.endswith(f"/v{major}") if major >= 2 else re.search(r"/v[0-9]+$", path) is None


def replace_arguments(module: GoModule, replaces: list[dict]) -> list[str]:
    """``go mod edit`` arguments that repeat ``module``'s replace lines (``go mod edit -json``'s ``Replace``).

    A path replaced by one inside the module that cannot be at the proxy's
    version is left out: at v3.x, etcd's ``go.etcd.io/etcd =>
    ./FORBIDDEN_DEPENDENCY`` names no module (it only forbids depending on
    it), and its ``go.etcd.io/etcd/client/v2`` is published as v2.305.x,
    which the module's own requirement already names.
    """
    arguments = []
    for replace in replaces:
        old, new = replace["Old"], replace["New"]
        if new["Path"].startswith("."):
            if module.relative_replaces is None:
                raise BuildError(f"{module.path}@{module.version} replaces {old['Path']} by a path inside it")
            if not can_have(old["Path"], module.relative_replaces):
                continue
            target = f"{old['Path']}@{module.relative_replaces}"
        else:
            target = new["Path"] + (f"@{new['Version']}" if new.get("Version") else "")
        source = old["Path"] + (f"@{old['Version']}" if old.get("Version") else "")
        arguments.append(f"-replace={source}={target}")
    return arguments


def _module_replaces(module: GoModule, workdir: Path) -> list[dict]:
    info = json.loads(_go(["mod", "download", "-json", f"{module.path}@{module.version}"], workdir))
    return json.loads(_go(["mod", "edit", "-json", info["GoMod"]], workdir)).get("Replace") or []


def _prepare(module: GoModule, workdir: Path) -> None:
    """The throwaway main module: requires ``module`` (and its also-required ones), repeats its replaces, imports its programs."""
    if (workdir / "go.sum").exists():
        return
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    _go(["mod", "init", "etcd-chaos.build/" + module.key.replace(".", "-")], workdir)
    requires = [f"-require={path}@{module.version}" for path in (module.path, *module.also_required)]
    _go(["mod", "edit", *requires, *replace_arguments(module, _module_replaces(module, workdir))], workdir)
    imports = "\n".join(f'\t_ "{program}"' for program in module.programs)
    (workdir / "programs.go").write_text(f"//go:build programs\n\npackage programs\n\nimport (\n{imports}\n)\n")
    _go(["mod", "tidy"], workdir)


def ldflags(module: GoModule) -> str:
    """Strip symbols; set the version variables as a release build would."""
    major, minor = module.version.lstrip("v").split(".")[:2]
    values = {"gitVersion": module.version, "gitMajor": major, "gitMinor": minor, "gitTreeState": "clean"}
    return " ".join(["-s", "-w", *(f"-X {v}={values[v.rsplit('.', 1)[1]]}" for v in module.version_variables)])


def build(module: GoModule, cache: Path, progress: Progress) -> Path:
    """Build every program of ``module`` into ``cache/bin/<key>/``, skipping what is already there."""
    bin_dir = cache / "bin" / module.key
    flags, stamp = ldflags(module), bin_dir / ".ldflags"
    same_flags = stamp.is_file() and stamp.read_text() == flags
    missing = [b for b in module.binaries() if not (same_flags and (bin_dir / b).is_file())]
    if not missing:
        progress(f"{module.key}: {', '.join(module.binaries())} already built ({bin_dir})")
        return bin_dir
    workdir = cache / "gomod" / module.key
    started = time.monotonic()
    progress(f"{module.key}: resolving modules")
    _prepare(module, workdir)
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
    bin_dir.mkdir(parents=True, exist_ok=True)
    stamp.unlink(missing_ok=True)
    for program in module.programs:
        name = module.binary(program)
        if name not in missing:
            continue
        progress(f"{module.key}: building {name}")
        began = time.monotonic()
        partial = bin_dir / f".{name}.partial"
        _go(["build", "-trimpath", f"-ldflags={flags}", "-o", str(partial), program], workdir, env=env)
        partial.rename(bin_dir / name)
        progress(f"{module.key}: built {name} in {time.monotonic() - began:.0f} s")
    stamp.write_text(flags)
    progress(f"{module.key}: done in {time.monotonic() - started:.0f} s")
    return bin_dir


def local_program(source: Path, name: str, cache: Path, progress: Progress) -> Path:
    """Build a program whose source is in this repository (a single-file main package)."""
    out = cache / "bin" / "own" / name
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    stamp = out.with_suffix(".sha256")
    if out.is_file() and stamp.is_file() and stamp.read_text() == digest:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CGO_ENABLED": "0"}
    _go(["build", "-trimpath", "-ldflags=-s -w", "-o", str(out), str(source)], source.parent, env=env)
    stamp.write_text(digest)
    progress(f"built {name} from {source.name}")
    return out
