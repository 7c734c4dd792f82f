"""What a strategy's manifests must be before a cluster starts: the rest is the API server's to judge."""

import pytest

import faults
from clusters.manifests import ManifestError, parse
from clusters.strategy import BUILTIN_DIR, discover, load_strategy
from harness.verdict import REASONS


def test_the_statefulset_gives_the_members_with_kubernetes_defaults(docs):
    m = parse(docs)
    assert m.statefulset.name == "etcd"
    assert m.statefulset.replicas == 3
    assert m.statefulset.grace_period == 30.0  # terminationGracePeriodSeconds' default
    assert [d["kind"] for d in m.documents] == [d["kind"] for d in docs]


def test_replicas_default_to_one_and_zero_leaves_nothing_to_test(docs):
    del docs[0]["spec"]["replicas"]
    assert parse(docs).statefulset.replicas == 1
    docs[0]["spec"]["replicas"] = 0
    with pytest.raises(ManifestError, match="spec.replicas: 0 leaves no pod to test"):
        parse(docs)


@pytest.mark.parametrize("keep", [0, 2])
def test_exactly_one_statefulset(docs, keep):
    statefulsets = [docs[0]] * keep
    with pytest.raises(ManifestError, match=f"exactly one StatefulSet .*found {keep}"):
        parse(statefulsets + docs[1:])


def test_any_kind_the_api_server_may_serve_is_accepted(docs):
    """A custom resource, a second Service, a Role: the cluster decides, not an allow-list of ours."""
    extra = [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "etcd-client"}, "spec": {"ports": [{"port": 2379}]}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "reader"}, "rules": []},
        {"apiVersion": "example.com/v1", "kind": "EtcdBackup", "metadata": {"name": "nightly"}, "spec": {"any": "thing"}},
    ]
    assert [d["kind"] for d in parse(docs + extra).documents][-3:] == ["Service", "Role", "EtcdBackup"]


def test_a_built_in_kind_is_still_held_to_its_schema(docs):
    docs[0]["spec"]["replicas"] = "three"
    with pytest.raises(ManifestError, match="spec.replicas: must be an integer"):
        parse(docs)


def test_a_document_needs_a_name(docs):
    del docs[1]["metadata"]["name"]
    with pytest.raises(ManifestError, match="metadata.name"):
        parse(docs)


def test_document_that_is_not_a_mapping_is_refused(docs):
    with pytest.raises(ManifestError, match="a YAML document is str, not a Kubernetes object"):
        parse([*docs, "stray text"])


BUILTIN = sorted(p for p in BUILTIN_DIR.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def declarable(key: str) -> bool:
    """A fault name, a test id such as partition-leader, or a schedule spec."""
    if key in faults.CATALOG or any(key.startswith(f"{name}-") for name in faults.CATALOG):
        return True
    try:
        faults.schedule.outline(key)
    except faults.FaultError:
        return False
    return True


@pytest.mark.parametrize("directory", BUILTIN, ids=[p.name for p in BUILTIN])
def test_builtin_strategy_loads(directory):
    strategy = load_strategy(directory)
    assert strategy.description.strip()
    assert strategy.manifests.statefulset.replicas >= 1
    for fault, entries in strategy.known_failures.items():
        assert declarable(fault), f"known_failures names an unknown fault or schedule {fault!r}"
        for known in entries:
            assert known.reason in REASONS, f"{fault}: reason {known.reason!r} is never reported by the checks"


def test_builtin_strategy_names_are_unique():
    assert len(discover()) == len(BUILTIN)
