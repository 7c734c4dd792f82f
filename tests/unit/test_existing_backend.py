"""The existing backend: which context it picks, what it refuses to touch, and what it will not do on its own."""

from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

import faults
from clusters.existing import context
from clusters.existing.driver import NoNodeDriver
from clusters.kube.cluster import KubeCluster
from clusters.kube.driver import NODE_CAPABILITIES, DriverError
from clusters.strategy import discover


def kubeconfig(tmp_path: Path, current: str, **servers: str) -> Path:
    """A kubeconfig with one context, cluster and user per name, ``current`` current."""
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": current,
        "clusters": [{"name": f"{name}-cluster", "cluster": {"server": server}} for name, server in servers.items()],
        "users": [{"name": "me", "user": {"token": "t"}}],
        "contexts": [{"name": name, "context": {"cluster": f"{name}-cluster", "user": "me"}} for name in servers],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(document))
    return path


def test_the_current_context_unless_one_is_named(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path, "dev", dev="https://10.0.0.1:6443", staging="https://10.0.0.2:6443")
    assert context.resolve(path, None) == context.Target(path, "dev", "dev-cluster", "https://10.0.0.1:6443")
    assert context.resolve(path, "staging").server == "https://10.0.0.2:6443"


def test_an_unknown_context_names_the_ones_there_are(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path, "dev", dev="https://10.0.0.1:6443", staging="https://10.0.0.2:6443")
    with pytest.raises(context.ContextError, match=r"^--context stagin: .* has no such context \(its contexts: dev, staging\)$"):
        context.resolve(path, "stagin")


def test_a_missing_kubeconfig_says_which_path(tmp_path: Path) -> None:
    with pytest.raises(context.ContextError, match="no kubeconfig at .*/nope; pass --kubeconfig FILE"):
        context.resolve(tmp_path / "nope", None)


@pytest.mark.parametrize(
    ("name", "server", "hint"),
    [
        ("prod-eu", "https://10.0.0.1", "its context is 'prod-eu'"),
        ("gke_acme_production_x", "https://10.0.0.1", "its context is 'gke_acme_production_x'"),
        ("dev", "https://api.live.example.com", "its server is 'https://api.live.example.com'"),
        ("product-dev", "https://10.0.0.1", None),
        ("kind-etcd-chaos", "https://127.0.0.1:6443", None),
    ],
    ids=["context-prod", "cluster-production", "server-live", "product-is-not-prod", "kind"],
)
def test_production_is_a_word_of_a_name(tmp_path: Path, name: str, server: str, hint: str | None) -> None:
    path = kubeconfig(tmp_path, name, **{name: server})
    assert context.resolve(path, None).production_hint() == hint


def test_without_the_opt_in_every_node_action_is_refused_and_its_faults_skip() -> None:
    strategy = discover([])["static-dns"]
    cluster = KubeCluster(strategy, SimpleNamespace(), NoNodeDriver(), "existing", "3.5.1")
    skipped = {
        name: faults.plan(name, 0, strategy.pod_names).faults()[0].unavailable(cluster)
        for name in ("inplace-restart", "inplace-restart-wiped", "leader-kill", "pause", "partition", "node-down", "pod-delete", "node-drain")
    }
    assert skipped["pod-delete"] is None and skipped["node-drain"] is None  # the API's own disruptions
    for name in ("inplace-restart", "inplace-restart-wiped", "leader-kill", "pause", "partition", "node-down"):
        assert skipped[name] is not None and skipped[name].startswith(f"{name} skipped: "), name
        assert "opt in with --node-faults local" in skipped[name]
    assert all(NoNodeDriver().missing(c) for c in NODE_CAPABILITIES)
    assert cluster.missing("dns-cache") == "the existing backend cannot do dns-cache"  # not the node opt-in
    with pytest.raises(DriverError, match="--node-faults local"):
        NoNodeDriver().signal("node-1", "containerd://abc", 9)


def test_a_production_context_is_refused_in_one_line_before_anything_runs(pytester: pytest.Pytester) -> None:
    path = kubeconfig(pytester.path, "prod-eu", **{"prod-eu": "https://10.0.0.1:6443"})
    result = pytester.runpytest("--collect-only", "-q", "--backend", "existing", "--kubeconfig", str(path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --backend existing: context 'prod-eu' looks like production (its context is 'prod-eu') and this "
         "backend deletes pods, evicts them and drains nodes: pass --allow-production-context if that is really meant"]
    )
    assert len([line for line in result.stderr.lines if line.strip()]) == 1, result.stderr.lines
    allowed = pytester.runpytest("--collect-only", "-q", "--backend", "existing", "--kubeconfig", str(path), "--allow-production-context")
    assert allowed.ret == pytest.ExitCode.NO_TESTS_COLLECTED


@pytest.mark.parametrize("args", [["--kubeconfig", "x"], ["--context", "x"], ["--node-faults", "local"], ["--allow-production-context"]],
                         ids=["kubeconfig", "context", "node-faults", "allow-production"])
def test_existing_backend_options_on_another_backend_are_a_usage_error(pytester: pytest.Pytester, args: list[str]) -> None:
    result = pytester.runpytest("--collect-only", "-q", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {args[0]} is for --backend existing (the backend is local)"])
