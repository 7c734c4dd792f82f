"""What the kind backend checks before it makes a cluster, and the one line the chaos tests are skipped with."""

from __future__ import annotations

from pathlib import Path

import pytest
from kind_fakes import FakeRunner

from clusters.kind import preflight

INFO = ("docker", "info", "--format", "{{.ServerVersion}}")
KIND_OK = "kind v0.33.0 go1.25.4 linux/amd64\n"
ENOUGH = {"max_user_watches": "524288\n", "max_user_instances": "512\n"}


def on_path(*present: str):
    return lambda name: f"/usr/bin/{name}" if name in present else None


def reader(values: dict[str, str]):
    def read(path: Path) -> str:
        if path.name not in values:
            raise FileNotFoundError(2, "No such file or directory", str(path))
        return values[path.name]
    return read


def healthy() -> FakeRunner:
    return FakeRunner().on(*INFO, out="29.1.0\n").on("kind", "version", out=KIND_OK)


def test_nothing_is_missing_on_a_machine_with_docker_and_kind() -> None:
    runner = healthy()
    assert preflight.unavailable(runner, on_path("docker", "kind")) is None
    assert preflight.problems(runner, on_path("docker", "kind"), reader(ENOUGH), euid=0) == []
    assert [list(INFO), ["kind", "version"]] == runner.calls[:2]


def test_no_docker_cli() -> None:
    assert preflight.unavailable(healthy(), on_path("kind")) == (
        "docker: no docker CLI on PATH; install Docker (its CLI and engine)")


def test_no_docker_engine() -> None:
    runner = FakeRunner().on(*INFO, rc=1, out="Client:\n Version: 29.1.0\n",
                             err="Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
                                 "Is the docker daemon running?\n")
    assert preflight.unavailable(runner, on_path("docker", "kind")) == (
        "docker: no engine answers (`docker info` failed: Cannot connect to the Docker daemon at "
        "unix:///var/run/docker.sock. Is the docker daemon running?); start Docker")


def test_no_kind() -> None:
    assert preflight.unavailable(healthy(), on_path("docker")) == (
        "kind: not on PATH; install kind v0.33.0 (`go install sigs.k8s.io/kind@v0.33.0`, or its release binary)")


@pytest.mark.parametrize("printed", ["kind v0.32.0 go1.24.0 linux/amd64\n", "kind v0.33.0-alpha+3b1c go1.25.4 linux/amd64\n"])
def test_kind_at_another_version(printed: str) -> None:
    runner = FakeRunner().on(*INFO).on("kind", "version", out=printed)
    found = preflight.unavailable(runner, on_path("docker", "kind"))
    assert found is not None and found.startswith(f"kind: {printed.split()[1]} is on PATH, the kind backend supports v0.33.0 only")
    assert found.endswith("install kind v0.33.0 (`go install sigs.k8s.io/kind@v0.33.0`, or its release binary)")


def test_kind_that_prints_no_version() -> None:
    runner = FakeRunner().on(*INFO).on("kind", "version", out="something else\n")
    assert preflight.unavailable(runner, on_path("docker", "kind")).startswith(
        "kind: `kind version` printed 'something else', not `kind vX.Y.Z ...`")


def test_unavailable_is_one_line_naming_the_first_missing_thing() -> None:
    found = preflight.unavailable(healthy(), on_path())
    assert found is not None and "\n" not in found and found.startswith("docker:")


def test_low_inotify_limits_are_named_with_the_sysctl_that_fixes_them() -> None:
    assert preflight.inotify_problems(reader({"max_user_watches": "8192\n", "max_user_instances": "128\n"})) == [
        "fs.inotify.max_user_watches is 8192, kind's multi-node clusters need 524288: "
        "sudo sysctl fs.inotify.max_user_watches=524288",
        "fs.inotify.max_user_instances is 128, kind's multi-node clusters need 512: "
        "sudo sysctl fs.inotify.max_user_instances=512",
    ]
    assert preflight.inotify_problems(reader(ENOUGH)) == []
    unreadable = preflight.inotify_problems(reader({"max_user_watches": "524288"}))
    assert len(unreadable) == 1 and unreadable[0].startswith("fs.inotify.max_user_instances: cannot read it")


def test_routes_need_root_or_sudo_without_a_password() -> None:
    refused = FakeRunner().on("sudo", "-n", "true", rc=1, err="sudo: a password is required\n")
    assert preflight.root_problem(refused, euid=1000) == (
        "routes to the pods: adding them needs root, and `sudo -n` refused (sudo: a password is required); "
        "run as root, or allow passwordless sudo for ip")
    assert preflight.root_problem(FakeRunner(), euid=1000) is None
    assert preflight.root_problem(refused, euid=0) is None


def test_problems_lists_every_lack_at_once() -> None:
    runner = FakeRunner().on(*INFO, rc=1, err="ERROR: permission denied\n").on("sudo", rc=1, err="no\n")
    found = preflight.problems(runner, on_path("docker"), reader({"max_user_watches": "8192", "max_user_instances": "512"}),
                               euid=1000)
    starts = ("docker: no engine answers", "kind: not on PATH", "routes to the pods:", "fs.inotify.max_user_watches is 8192")
    assert len(found) == len(starts) and all(line.startswith(start) for line, start in zip(found, starts)), found
