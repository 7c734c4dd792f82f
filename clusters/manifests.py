"""Read a strategy's Kubernetes manifests, and refuse before any cluster starts what no cluster could run.

The API server is the judge of a manifest: the documents are applied to it
unchanged (``clusters.kube.apply``), any kind it serves. What is checked here
is only what can be known offline and would otherwise cost a cluster's start
to learn: the YAML itself, the Kubernetes API's own schema for the built-in
kinds (``clusters.schema``: ``replicas: three`` is one line now, not a
refusal after the scenario began), and what the harness itself needs, which
is one StatefulSet with at least one pod: its pods are the members it
disrupts and measures. Every refusal is one line: file, object, field path,
what to do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from clusters import schema


class ManifestError(ValueError):
    """A manifest no cluster could run as the harness needs; the message names the file and the field."""


@dataclass(frozen=True)
class StatefulSet:
    """The one StatefulSet whose pods are the etcd members: what faults aim at and the harness waits for."""

    name: str
    replicas: int
    grace_period: float  # terminationGracePeriodSeconds: how long a deletion may take


@dataclass(frozen=True)
class Manifests:
    """Everything one strategy applies, in file order, checked."""

    statefulset: StatefulSet
    documents: tuple[dict[str, Any], ...] = ()
    config_maps: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Doc:
    """One document with where it came from, so every error can name the file and the object."""

    origin: str
    body: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.origin}: {self.body['kind']}/{self.body['metadata']['name']}"


@contextmanager
def _about(prefix: str) -> Iterator[None]:
    """Prefix a ManifestError raised inside with the file and the object it concerns."""
    try:
        yield
    except ManifestError as err:
        raise ManifestError(f"{prefix}: {err}") from None


def _checked(raw: Any, origin: str) -> _Doc:
    if not isinstance(raw, dict):
        raise ManifestError(
            f"{origin}: a YAML document is {type(raw).__name__}, not a Kubernetes object; write a mapping with apiVersion, kind, metadata"
        )
    doc = schema.strip_nulls(raw)
    for key in ("apiVersion", "kind"):
        if not isinstance(doc.get(key), str):
            raise ManifestError(f"{origin}: a document has no {key} (or not a string); add it")
    name = doc.get("metadata", {}).get("name") if isinstance(doc.get("metadata"), dict) else None
    with _about(f"{origin}: {doc['kind']}/{name or '(no name)'}"):
        empty = schema.null_item(doc)
        if empty:
            raise ManifestError(f"{empty}: an empty (null) list item; remove the '-' line or fill it in")
        problem = schema.check(doc)
        if problem:
            raise ManifestError(problem)
        if not name:
            raise ManifestError("metadata.name: required (the harness applies each document by name); add it")
    return _Doc(origin, doc)


def _statefulset(docs: list[_Doc], source: str) -> StatefulSet:
    found = [d for d in docs if d.body["kind"] == "StatefulSet"]
    if len(found) != 1:
        listed = ", ".join(f"{d.body['metadata']['name']} in {Path(d.origin).name}" for d in found) or "none in its *.yaml files"
        fix = "keep the etcd one" if found else "add the StatefulSet that runs etcd"
        raise ManifestError(f"{source}: a strategy needs exactly one StatefulSet (its pods are the members), found {len(found)} ({listed}); {fix}")
    doc = found[0]
    with _about(doc.label):
        spec = doc.body["spec"]
        replicas = spec.get("replicas", 1)  # Kubernetes' default
        if replicas < 1:
            raise ManifestError(
                f"spec.replicas: {replicas} leaves no pod to test; set at least 1 (3 for a quorum that survives a fault)"
            )
        pod = (spec.get("template") or {}).get("spec") or {}
        return StatefulSet(doc.body["metadata"]["name"], replicas, float(pod.get("terminationGracePeriodSeconds", 30)))


def parse(documents: list[Any], source: str = "manifests", origins: list[str] | None = None) -> Manifests:
    """Check and read the documents of one strategy; ``origins`` names each document's file."""
    docs = [_checked(raw, origin) for raw, origin in zip(documents, origins or [source] * len(documents))]
    config_maps = {
        d.body["metadata"]["name"]: dict(d.body.get("data") or {}) for d in docs if d.body["kind"] == "ConfigMap"
    }
    return Manifests(_statefulset(docs, source), tuple(d.body for d in docs), config_maps)


def _yaml_problem(path: Path, err: yaml.YAMLError) -> str:
    """``file:line:column: problem``, one line, where PyYAML's own message spans several."""
    mark = getattr(err, "problem_mark", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
    problem = " ".join(str(p) for p in (getattr(err, "context", None), getattr(err, "problem", None)) if p) or str(err).splitlines()[0]
    return f"{where}: not valid YAML: {problem}; fix the syntax there"


def load(directory: Path) -> Manifests:
    """Read every ``*.yaml`` in a strategy directory except its metadata file, in name order."""
    documents: list[Any] = []
    origins: list[str] = []
    for path in sorted(directory.glob("*.yaml")):
        if path.name == "strategy.yaml":
            continue
        try:
            found = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        except yaml.YAMLError as err:
            raise ManifestError(_yaml_problem(path, err)) from None
        except UnicodeDecodeError as err:
            raise ManifestError(f"{path}: not UTF-8 text (byte {err.start}); save it as UTF-8") from None
        documents += found
        origins += [str(path)] * len(found)
    return parse(documents, str(directory), origins)
