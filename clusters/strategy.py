"""A deployment strategy: a directory of manifests plus ``strategy.yaml``.

This is the public contract users extend: the same directory is applied
unchanged to whichever cluster runs the scenario, and its metadata says
which faults it is known to fail and why, so the suite can hold reality to
the declared table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

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
    # The etcd releases it holds for, as a version specifier (">=3.5.0,<3.5.3"): a
    # bug of some releases, or a flag only some accept. None: every release.
    etcd: str | None = None

    def holds_for(self, etcd_version: str) -> bool:
        return self.etcd is None or Version(etcd_version) in SpecifierSet(self.etcd)


@dataclass(frozen=True)
class Strategy:
    name: str
    description: str
    directory: Path
    manifests: Manifests
    known_failures: dict[str, tuple[KnownFailure, ...]] = field(default_factory=dict)  # fault key -> its entries

    @property
    def pod_names(self) -> list[str]:
        """The pods its StatefulSet makes: ``<name>-<ordinal>``, what fault targets may name."""
        sts = self.manifests.statefulset
        return [f"{sts.name}-{i}" for i in range(sts.replicas)]

    def expected(self, *keys: str, etcd_version: str) -> KnownFailure | None:
        """The declared failure for the first key declared for this etcd release: a test id (``partition-leader``), then a name."""
        for key in keys:
            for known in self.known_failures.get(key, ()):
                if known.holds_for(etcd_version):
                    return known
        return None


def load_strategy(directory: Path) -> Strategy:
    """Read a strategy directory; every mistake in strategy.yaml is one line naming the file and the key.

    The types are checked here, because YAML reads ``sometimes: 'false'`` as a
    true-looking string and a misspelled key would otherwise never match.
    What the declarations name (faults, reason words) is the harness's
    vocabulary and is checked by ``harness.declarations``.
    """
    meta_path = directory / "strategy.yaml"
    if not meta_path.is_file():
        raise ManifestError(f"{directory}: no strategy.yaml (a strategy directory needs one; see README)")
    try:
        meta = yaml.safe_load(meta_path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ManifestError(f"{meta_path}: not valid YAML ({' '.join(str(err).split())})") from None
    if not isinstance(meta, dict):
        raise ManifestError(f"{meta_path}: must be a mapping with name, description, known_failures")
    for key in ("name", "description"):
        if not meta.get(key) or not isinstance(meta[key], str):
            raise ManifestError(f"{meta_path}: {key} is required, as text")
    unknown = set(meta) - {"name", "description", "known_failures"}
    if unknown:
        raise ManifestError(f"{meta_path}: unknown fields {sorted(unknown)}; allowed: name, description, known_failures")
    declared = meta.get("known_failures") or {}
    if not isinstance(declared, dict):
        raise ManifestError(f"{meta_path}: known_failures must be a mapping of fault -> {{reason, why, sometimes, etcd}}")
    failures = {str(fault): _known_failures(meta_path, str(fault), entry) for fault, entry in declared.items()}
    return Strategy(meta["name"], " ".join(meta["description"].split()), directory, load(directory), failures)


def _known_failures(meta_path: Path, fault: str, entry: object) -> tuple[KnownFailure, ...]:
    """One entry, or a list of them for different etcd releases (the first that holds for a release is its declaration)."""
    if isinstance(entry, list) and entry:
        return tuple(_known_failure(f"{meta_path}: known_failures.{fault}[{i}]", each) for i, each in enumerate(entry))
    return (_known_failure(f"{meta_path}: known_failures.{fault}", entry),)


def _known_failure(where: str, entry: object) -> KnownFailure:
    if not isinstance(entry, dict):
        raise ManifestError(f"{where} must be a mapping with reason, why and optionally sometimes and etcd (or a list of such)")
    unknown = set(entry) - {"reason", "why", "sometimes", "etcd"}
    if unknown:
        raise ManifestError(f"{where}: unknown fields {sorted(unknown)}; allowed: reason, why, sometimes, etcd")
    for key in ("reason", "why"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise ManifestError(f"{where}.{key} is required, as text")
    sometimes = entry.get("sometimes", False)
    if not isinstance(sometimes, bool):
        raise ManifestError(f"{where}.sometimes must be true or false, not {sometimes!r}")
    etcd = entry.get("etcd")
    if etcd is not None:
        try:
            SpecifierSet(str(etcd))
        except InvalidSpecifier:
            raise ManifestError(f"{where}.etcd {etcd!r} is no version range; write one like '>=3.5.0,<3.5.3' or '>=3.6'") from None
        etcd = str(etcd)
    return KnownFailure(entry["reason"].strip(), " ".join(entry["why"].split()), sometimes, etcd)


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
