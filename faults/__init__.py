"""Fault injectors by name (``pod-delete``, ``pod-delete:leader``), and schedules of them."""

from __future__ import annotations

from faults.base import TARGETS, Context, Fault, FaultError, choose_targets
from faults.catalog import CATALOG, DEFAULT_MATRIX, RANDOM_POOL, make
from faults.schedule import Schedule, plan

__all__ = [
    "CATALOG",
    "DEFAULT_MATRIX",
    "RANDOM_POOL",
    "TARGETS",
    "Context",
    "Fault",
    "FaultError",
    "Schedule",
    "choose_targets",
    "make",
    "plan",
]
