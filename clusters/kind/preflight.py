"""What the machine must offer before a kind cluster is made, each lack one line with its fix.

``unavailable`` is the short answer the pytest plugin skips the chaos tests
with: the one missing tool (docker's CLI or engine, kind, the supported kind
release) that makes the kind backend impossible here. ``problems`` is every
reason a start would fail, all at once and before anything is created, so
nothing is left half-made by a start that was bound to fail.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from clusters.kind import versions
from clusters.kind.run import Runner, run, why

CHECK_TIMEOUT = 30.0
INSTALL_KIND = f"install kind {versions.KIND} (`go install sigs.k8s.io/kind@{versions.KIND}`, or its release binary)"
VERSION_LINE = re.compile(r"^kind (v\d+\.\d+\.\d+\S*) ")

# kind's known issues: a multi-node cluster runs out of inotify watches and
# instances at common distribution defaults (8192 and 128), and its nodes'
# kubelets then fail with "too many open files".
INOTIFY = {"max_user_watches": 524288, "max_user_instances": 512}
INOTIFY_DIR = Path("/proc/sys/fs/inotify")

Which = Callable[[str], str | None]
Read = Callable[[Path], str]


def docker_problem(runner: Runner = run, which: Which = shutil.which) -> str | None:
    if which("docker") is None:
        return "docker: no docker CLI on PATH; install Docker (its CLI and engine)"
    done = runner(["docker", "info", "--format", "{{.ServerVersion}}"], CHECK_TIMEOUT)
    if done.returncode != 0:
        return f"docker: no engine answers (`docker info` failed: {why(done)}); start Docker"
    return None


def kind_problem(runner: Runner = run, which: Which = shutil.which) -> str | None:
    if which("kind") is None:
        return f"kind: not on PATH; {INSTALL_KIND}"
    done = runner(["kind", "version"], CHECK_TIMEOUT)
    if done.returncode != 0:
        return f"kind: `kind version` failed ({why(done)}); {INSTALL_KIND}"
    found = VERSION_LINE.match(done.stdout.strip())
    if found is None:
        return f"kind: `kind version` printed {done.stdout.strip()!r}, not `kind vX.Y.Z ...`; {INSTALL_KIND}"
    if found.group(1) != versions.KIND:
        return (f"kind: {found.group(1)} is on PATH, the kind backend supports {versions.KIND} only "
                f"(its node image is built for that release); {INSTALL_KIND}")
    return None


def unavailable(runner: Runner = run, which: Which = shutil.which) -> str | None:
    """The one thing that makes the kind backend impossible here, in one line; None when docker and kind are there."""
    return docker_problem(runner, which) or kind_problem(runner, which)


def _read(path: Path) -> str:
    return path.read_text()


def inotify_problems(read: Read = _read, directory: Path = INOTIFY_DIR) -> list[str]:
    found = []
    for name, wanted in INOTIFY.items():
        key = f"fs.inotify.{name}"
        try:
            value = int(read(directory / name).strip())
        except (OSError, ValueError) as error:
            found.append(f"{key}: cannot read it ({error}); kind's nodes need at least {wanted}")
            continue
        if value < wanted:
            found.append(f"{key} is {value}, kind's multi-node clusters need {wanted}: sudo sysctl {key}={wanted}")
    return found


def root_problem(runner: Runner = run, euid: int | None = None) -> str | None:
    """The host routes to the pods need root, or sudo that asks no password."""
    if (os.geteuid() if euid is None else euid) == 0:
        return None
    done = runner(["sudo", "-n", "true"], CHECK_TIMEOUT)
    if done.returncode != 0:
        return ("routes to the pods: adding them needs root, and `sudo -n` refused "
                f"({why(done)}); run as root, or allow passwordless sudo for ip")
    return None


def problems(
    runner: Runner = run, which: Which = shutil.which, read: Read = _read, euid: int | None = None
) -> list[str]:
    """Every reason a kind cluster could not be made and used here; empty when it can."""
    tools = [docker_problem(runner, which), kind_problem(runner, which), root_problem(runner, euid)]
    return [problem for problem in tools if problem] + inotify_problems(read)
