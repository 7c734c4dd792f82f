"""Fault injectors, by name: ``pod-delete`` or ``pod-delete:leader``."""

from __future__ import annotations

from faults.base import TARGETS, Context, Fault, FaultError, choose_target
from faults.pod_faults import InplaceRestart, PodDelete

CATALOG: dict[str, type[Fault]] = {cls.name: cls for cls in (PodDelete, InplaceRestart)}


def make(spec: str) -> Fault:
    """Build a fault from ``name`` or ``name:target`` (leader, follower, random or a pod)."""
    name, _, target = spec.partition(":")
    if name not in CATALOG:
        raise FaultError(f"unknown fault {name!r}; known faults: {', '.join(sorted(CATALOG))}")
    return CATALOG[name](target or None)


__all__ = ["CATALOG", "TARGETS", "Context", "Fault", "FaultError", "choose_target", "make"]
