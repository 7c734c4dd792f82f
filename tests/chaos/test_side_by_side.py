"""Scenarios side by side (pytest-xdist): one results.json, and a node fault never shares its nodes.

The run under test is a second pytest session with two workers on the
session's local cluster. Whether that cluster has a lane to spare or not
(five nodes: the scenario with a node fault runs while no other does; more:
it runs in a lane of its own), no scenario that ran while it did may have
had a pod on its nodes.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from harness import results
from harness.history import History

pytestmark = pytest.mark.chaos

CELLS = ("pod-delete", "node-drain", "pause")


def test_two_workers_write_one_results_json_and_a_node_fault_runs_alone(local_kubernetes, tmp_path: Path) -> None:
    report = tmp_path / "report"
    argv = [sys.executable, "-m", "pytest", "-m", "chaos", "tests/chaos/test_matrix.py", "-n", "2", "--node-lanes", "0",
            "--strategy", "static-dns", *(f"--fault={cell}" for cell in CELLS), "--report-dir", str(report),
            "-p", "no:cacheprovider"]
    done = subprocess.run(argv, cwd=Path(__file__).parents[2], capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    records = results.load(report)
    assert sorted(r["fault"] for r in records) == sorted(CELLS)
    assert "[3/3] static-dns × " in done.stdout  # the progress line of the last scenario
    spans, nodes = {}, {}
    for record in records:
        history = History.load(Path(record["report"]) / "history.json")
        began = history.meta["wall_started"]
        spans[record["fault"]] = (began, began + history.ended)
        nodes[record["fault"]] = {e.detail["node"] for e in history.events if e.kind == "pod-scheduled"}
    drain = spans.pop("node-drain")
    assert nodes["node-drain"]
    for fault, (start, end) in spans.items():
        if start < drain[1] and end > drain[0]:
            assert not nodes[fault] & nodes["node-drain"], f"{fault} had pods on node-drain's nodes while it ran"
    assert (report / "index.html").is_file() and (report / "summary.md").is_file()
