"""A strategy the API server refuses ends the session before any scenario, with the server's words.

The run under test is a second pytest session on the same cluster. It
chooses a sound strategy first and a broken one second, so a judge that
only looked when a strategy's first cell started would have run the sound
one's cell by then.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from clusters.strategy import BUILTIN_DIR

pytestmark = pytest.mark.chaos


def test_a_refused_strategy_ends_the_session_before_any_cell(kube_backend, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(BUILTIN_DIR / "static-dns", broken)
    meta = yaml.safe_load((broken / "strategy.yaml").read_text())
    (broken / "strategy.yaml").write_text(yaml.safe_dump({**meta, "name": "zz-broken", "known_failures": {}}))
    for path in broken.glob("*.yaml"):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        for doc in docs:
            if doc.get("kind") == "StatefulSet":
                doc["spec"]["selector"] = {"matchLabels": {"app": "other"}}
        if path.name != "strategy.yaml":
            path.write_text(yaml.safe_dump_all(docs))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "chaos", "-p", "no:randomly", "-p", "no:cacheprovider",
         "--strategy-path", str(broken), "--strategy", "static-dns", "--strategy", "zz-broken", "--fault", "pod-delete",
         "--report-dir", str(tmp_path / "report"), "tests/chaos/test_matrix.py"],
        cwd=Path(__file__).parents[2], capture_output=True, text=True, timeout=300,
    )
    out = run.stdout + run.stderr
    assert run.returncode == 4, out
    assert f"etcd-chaos: {broken}: StatefulSet/etcd: the API server refused it: " in out
    assert "`selector` does not match template `labels`" in out
    assert " passed" not in out and " failed" not in out, "no cell ran, not even the sound strategy's"
