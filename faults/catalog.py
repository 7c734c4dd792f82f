"""Every fault by name, the default matrix, and what a random schedule step draws from."""

from __future__ import annotations

from faults.base import Fault, FaultError
from faults.network_faults import (
    DnsStale,
    Latency,
    Partition,
    PartitionInbound,
    PartitionOutbound,
)
from faults.node_faults import NodeDown, NodeDrain
from faults.pod_faults import (
    InplaceRestart,
    InplaceRestartWiped,
    LeaderKill,
    Pause,
    PodDelete,
    SimultaneousRebuild,
)
from faults.rollout_faults import RollingDowngrade, RollingRestart, RollingUpgrade, Scale

CATALOG: dict[str, type[Fault]] = {
    cls.name: cls
    for cls in (
        PodDelete,
        SimultaneousRebuild,
        InplaceRestart,
        InplaceRestartWiped,
        LeaderKill,
        Pause,
        NodeDrain,
        NodeDown,
        Partition,
        PartitionInbound,
        PartitionOutbound,
        Latency,
        DnsStale,
        RollingRestart,
        RollingUpgrade,
        RollingDowngrade,
        Scale,
    )
}

# What the matrix runs when no --fault is given: every fault at its default
# target, and the partition that cuts the leader off from the majority.
DEFAULT_MATRIX: tuple[str, ...] = (*sorted(n for n, cls in CATALOG.items() if cls.in_default_matrix), "partition:leader")

# Drawn by the ``random`` schedule step: every fault of the default matrix.
RANDOM_POOL: list[type[Fault]] = [cls for _, cls in sorted(CATALOG.items()) if cls.in_default_matrix]


def make(spec: str) -> Fault:
    """Build a fault from ``name`` or ``name:target``."""
    name, _, target = spec.partition(":")
    if name not in CATALOG:
        raise FaultError(f"unknown fault {name!r}; known faults: {', '.join(sorted(CATALOG))}")
    fault = CATALOG[name](target or None)
    fault.check_target()
    return fault
