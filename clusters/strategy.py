"""A deployment strategy: a directory of manifests plus ``strategy.yaml``.

This is the public contract users extend: the same directory is applied to
kind or to a real cluster and run by the local backend, and its metadata says
which faults it is known to fail and why, so the suite can hold reality to
the declared table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from clusters.manifests import ManifestError, Manifests, load

BUILTIN_DIR = Path(__file__).parent / "strategies"


@dataclass(frozen=True)
class KnownFailure:
    """A fault this strategy is declared to fail, with the reason the checks must report."""

    reason: str
    why: str
    # The failure depends on a race (which raft message reaches a restarted
    # member first, say): a pass is as expected as a failure for ``reason``.
    sometimes: bool = False


@dataclass(frozen=True)
class Strategy:
    name: str
    description: str
    directory: Path
    manifests: Manifests
    known_failures: dict[str, KnownFailure] = field(default_factory=dict)

    def expected(self, *keys: str) -> KnownFailure | None:
        """The declared failure for the first key declared: a test id (``partition-leader``), then a name."""
        for key in keys:
            if key in self.known_failures:
                return self.known_failures[key]
        return None


def load_strategy(directory: Path) -> Strategy:
    meta_path = directory / "strategy.yaml"
    if not meta_path.is_file():
        raise ManifestError(f"{directory}: no strategy.yaml (a strategy directory needs one; see README)")
    try:
        meta = yaml.safe_load(meta_path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ManifestError(f"{meta_path}: not valid YAML ({err})") from None
    if not isinstance(meta, dict):
        raise ManifestError(f"{meta_path}: must be a mapping with name, description, known_failures")
    for key in ("name", "description"):
        if not meta.get(key):
            raise ManifestError(f"{meta_path}: field {key} is required")
    unknown = set(meta) - {"name", "description", "known_failures"}
    if unknown:
        raise ManifestError(f"{meta_path}: unknown fields {sorted(unknown)}")
    failures = {}
    for fault, entry in (meta.get("known_failures") or {}).items():
        if not isinstance(entry, dict) or not entry.get("reason"):
            raise ManifestError(f"{meta_path}: known_failures.{fault} needs a reason")
        failures[fault] = KnownFailure(
            entry["reason"], str(entry.get("why", "")).strip(), bool(entry.get("sometimes", False))
        )
    return Strategy(meta["name"], " ".join(meta["description"].split()), directory, load(directory), failures)


def discover(extra_paths: list[Path] | None = None) -> dict[str, Strategy]:
    """Built-in strategies plus the user's, by name; a user's may replace a built-in."""
    directories = sorted(p for p in BUILTIN_DIR.iterdir() if (p / "strategy.yaml").is_file())
    for path in extra_paths or []:
        path = Path(path)
        if (path / "strategy.yaml").is_file():
            directories.append(path)
        elif path.is_dir():
            directories += sorted(p for p in path.iterdir() if (p / "strategy.yaml").is_file())
        else:
            raise ManifestError(f"--strategy-path {path}: no such directory")
    strategies: dict[str, Strategy] = {}
    for directory in directories:
        strategy = load_strategy(directory)
        strategies[strategy.name] = strategy
    return strategies
