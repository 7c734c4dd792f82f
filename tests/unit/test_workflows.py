"""The CI workflows, checked offline as GitHub would read them, and their one source of commands.

A workflow is only run once pushed, so its mistakes would otherwise show as a
red run (or a silent hole: an unpinned action, a template injection). Each
linter runs on the real files and on a copy broken on purpose, which must fail
for that very reason: a check that passes everything proves nothing.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from lint_tools import ROOT, output, run, tool

WORKFLOWS = ROOT / ".github" / "workflows"
CI = WORKFLOWS / "ci.yml"
NIGHTLY = WORKFLOWS / "nightly.yml"
README = ROOT / "README.md"
PINNED = re.compile(r"^\s*(?:-\s*)?uses:\s*[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


def broken_copy(tmp_path: Path, source: Path, old: str, new: str) -> Path:
    """``source`` under tmp_path/.github/workflows with ``old`` replaced; ``old`` must be there, or nothing was broken."""
    text = source.read_text()
    assert old in text, f"{source.name} no longer has {old!r} to break"
    copy = tmp_path / ".github" / "workflows" / source.name
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_text(text.replace(old, new, 1))
    return copy


def steps(workflow: Path) -> list[dict[str, Any]]:
    """Every step of every job, in order."""
    jobs = yaml.safe_load(workflow.read_text())["jobs"]
    return [step for job in jobs.values() for step in job["steps"]]


def readme_block(name: str, text: str | None = None) -> str | None:
    """The sh block between the README's ``<!-- name -->`` markers, read independently of .ci/readme-command."""
    marked = re.search(rf"<!-- {name} -->\n(.*?)<!-- /{name} -->", README.read_text() if text is None else text, re.S)
    fenced = marked and re.search(r"^```sh\n(.*?)\n```$", marked.group(1), re.S | re.M)
    return fenced.group(1) if fenced else None


# check-jsonschema: the workflow schema GitHub's own editor uses, bundled with the tool.

def jsonschema(path: Path) -> Any:
    return run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path)])


@pytest.mark.parametrize("workflow", [CI, NIGHTLY], ids=lambda p: p.name)
def test_workflows_match_the_workflow_schema(workflow: Path) -> None:
    result = jsonschema(workflow)
    assert result.returncode == 0, output(result)


def test_the_schema_refuses_an_unknown_job_key(tmp_path: Path) -> None:
    result = jsonschema(broken_copy(tmp_path, CI, "timeout-minutes:", "timeout_minutes:"))
    assert result.returncode == 1
    assert "'timeout_minutes' was unexpected" in output(result), output(result)


# zizmor: GitHub Actions security audits, offline, at its default persona.

def zizmor(path: Path) -> tuple[int, list[str]]:
    result = run([tool("zizmor"), "--offline", "--format", "json", str(path)])
    return result.returncode, [finding["ident"] for finding in json.loads(result.stdout or "[]")]


def test_zizmor_finds_nothing_in_the_workflows() -> None:
    assert zizmor(WORKFLOWS) == (0, [])


def test_zizmor_finds_an_action_pinned_by_tag(tmp_path: Path) -> None:
    copy = broken_copy(tmp_path, CI, "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1",
                       "actions/checkout@v4")
    code, idents = zizmor(copy)
    assert code != 0 and idents == ["unpinned-uses"]


def test_zizmor_finds_an_expansion_in_a_run_script(tmp_path: Path) -> None:
    copy = broken_copy(tmp_path, CI, 'run: sudo -E env "PATH=$PATH" bash .ci/run',
                       'run: echo "${{ github.event.issue.title }}"')
    code, idents = zizmor(copy)
    assert code != 0 and idents == ["template-injection"]


# actionlint: expressions, contexts, action inputs, and the run scripts through shellcheck.

def actionlint(*paths: Path) -> Any:
    """actionlint given the lint extra's shellcheck by path: found only on PATH, an unactivated venv's would be missed
    and every run script would go unchecked without a word."""
    return run([tool("actionlint"), "-no-color", "-shellcheck", tool("shellcheck"), *map(str, paths)])


def test_actionlint_passes_the_workflows() -> None:
    result = actionlint(CI, NIGHTLY)
    assert result.returncode == 0, output(result)


def test_actionlint_finds_an_undefined_property(tmp_path: Path) -> None:
    copy = broken_copy(tmp_path, NIGHTLY, "if: always()", "if: always() && github.no_such_property")
    result = actionlint(copy)
    assert result.returncode == 1
    assert 'property "no_such_property" is not defined' in output(result), output(result)


def test_actionlint_finds_a_shell_error(tmp_path: Path) -> None:
    copy = broken_copy(tmp_path, NIGHTLY, 'echo "+ $command"', 'if [ "$command" = ]; then :; fi')
    result = actionlint(copy)
    assert result.returncode == 1
    assert "SC1027" in output(result), output(result)  # "Expected another argument for this operator"


# What no linter checks: our own rules for every workflow.

@pytest.mark.parametrize("workflow", [CI, NIGHTLY], ids=lambda p: p.name)
def test_every_action_is_pinned_by_commit_with_its_version(workflow: Path) -> None:
    uses = [line for line in workflow.read_text().splitlines() if re.match(r"^\s*(?:-\s*)?uses:", line)]
    assert uses and [line for line in uses if not PINNED.match(line)] == []


@pytest.mark.parametrize("workflow", [CI, NIGHTLY], ids=lambda p: p.name)
def test_run_scripts_expand_no_expressions(workflow: Path) -> None:
    """Values reach a script through env:, where the shell quotes them, never pasted into its text."""
    assert [step["run"] for step in steps(workflow) if "${{" in step.get("run", "")] == []


# One source for each command: the README, through .ci/readme-command.

def test_readme_command_prints_the_readmes_test_command() -> None:
    result = run(["bash", ".ci/readme-command", "test-command"])
    expected = readme_block("test-command")
    assert expected and (result.returncode, result.stdout) == (0, expected + "\n")


def test_readme_command_without_the_block_exits_2_saying_so(tmp_path: Path) -> None:
    (tmp_path / ".ci").mkdir()
    shutil.copy(ROOT / ".ci" / "readme-command", tmp_path / ".ci")
    (tmp_path / "README.md").write_text("<!-- kind-command -->\nno sh block here\n<!-- /kind-command -->\n")
    result = run(["bash", ".ci/readme-command", "kind-command"], cwd=tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert "README.md has no kind command between <!-- kind-command --> markers" in result.stderr


def test_ci_runs_the_test_command_through_ci_run() -> None:
    assert [s["run"] for s in steps(CI) if "run" in s] == ['sudo -E env "PATH=$PATH" bash .ci/run']


def test_nightly_runs_the_readmes_kind_command() -> None:
    runs = [s["run"] for s in steps(NIGHTLY) if ".ci/readme-command" in s.get("run", "")]
    assert len(runs) == 1 and "command=$(bash .ci/readme-command kind-command)\n" in runs[0]


def test_the_readme_has_the_kind_command() -> None:
    if "<!-- kind-command -->" not in README.read_text():
        pytest.skip("README.md has no <!-- kind-command --> block yet")
    result = run(["bash", ".ci/readme-command", "kind-command"])
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{readme_block('kind-command')}\n"
