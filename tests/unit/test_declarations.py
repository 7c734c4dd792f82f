"""known_failures entries that could never match are refused with one line; every built-in's are valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from clusters.strategy import KnownFailure, Strategy, discover
from harness.declarations import DeclarationError, check


SHIPPED = discover([Path(__file__).parent.parent / "chaos" / "strategies"])


def declaring(key: str, reason: str = "panic") -> Strategy:
    return Strategy("mine", "d", Path("/s/mine"), SHIPPED["static-dns"].manifests, {key: (KnownFailure(reason, "why"),)})


@pytest.mark.parametrize(
    "key",
    ["pod-delete", "partition-leader", "partition:leader", "pod-delete:etcd-2", "pod-delete-etcd-2",
     "pod-delete:etcd-2+simultaneous-rebuild:etcd-0,etcd-1", "random*5", "pause*3", "rolling-upgrade",
     "rolling-upgrade:3.6.17->3.7.4"],
)
def test_a_key_some_fault_spec_looks_up_is_accepted(key):
    check(declaring(key))


def test_a_fault_that_needs_a_target_is_declared_by_its_name_for_every_target():
    import faults

    strategy = declaring("rolling-upgrade", "crash-loop")
    for spec in ("rolling-upgrade:3.6.17->3.7.4", "rolling-upgrade:3.6.17->3.5.21"):
        keys = faults.schedule.outline(spec).declared_keys
        assert strategy.expected(*keys, etcd_version="3.6.17") == KnownFailure("crash-loop", "why")


@pytest.mark.parametrize(
    ("key", "reason", "message"),
    [
        ("pod-delet", "panic", "known_failures.pod-delet: no fault, test id or schedule is called that (did you mean 'pod-delete'?)"),
        ("partition-", "panic", "known_failures.partition-: no fault"),
        ("pod-delete:etcd-0:etcd-1", "panic", "no fault, test id or schedule"),
        ("pod-delete-etcd-9", "panic", "known_failures.pod-delete-etcd-9: mine no pod etcd-9 (its pods: etcd-0, etcd-1, etcd-2)"),
        ("pod-delete", "panik", "known_failures.pod-delete.reason 'panik' is no reason the checks give (did you mean 'panic'?)"),
        ("pod-delete", "quorum lost", "reason 'quorum lost' is no reason the checks give (did you mean 'quorum-lost'?)"),
    ],
    ids=["misspelled-fault", "empty-target-id", "two-targets", "no-such-pod", "misspelled-reason", "reason-with-space"],
)
def test_a_declaration_that_can_never_match_is_refused(key, reason, message):
    with pytest.raises(DeclarationError) as caught:
        check(declaring(key, reason))
    assert str(caught.value).startswith("/s/mine/strategy.yaml: ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_every_shipped_strategy_declares_only_what_can_match(name):
    check(SHIPPED[name])
