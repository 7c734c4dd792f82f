"""Ownership records for run directories, so a killed run is swept next time.

Pods die with the harness on their own (parent-death signal), so what a killed
run leaves is its bridge and its directory. Each run writes ``owner.json`` with
its PID and start time; a later run removes whatever belongs to an owner that
no longer exists, and nothing else.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from clusters.local import host

BASE_DIR = Path(tempfile.gettempdir()) / "etcd-chaos"


def claim(run_dir: Path, bridge: str) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    owner = {"pid": os.getpid(), "start": host.start_time(os.getpid()), "bridge": bridge}
    (run_dir / "owner.json").write_text(json.dumps(owner))


def release(run_dir: Path, bridge: str) -> None:
    host.run("ip", "link", "del", bridge, check=False)
    shutil.rmtree(run_dir, ignore_errors=True)


def sweep(base: Path = BASE_DIR) -> list[str]:
    """Remove bridges and directories of runs whose owner is gone; return what was removed."""
    removed = []
    if not base.is_dir():
        return removed
    for owner_file in base.glob("*/owner.json"):
        try:
            owner = json.loads(owner_file.read_text())
        except (OSError, ValueError):
            continue
        if owner.get("start") is not None and host.start_time(owner["pid"]) == owner["start"]:
            continue
        release(owner_file.parent, owner["bridge"])
        removed.append(f"{owner_file.parent} (bridge {owner['bridge']})")
    return removed
