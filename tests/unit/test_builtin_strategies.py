"""Built-in strategies that are meant to share an entrypoint keep it identical."""

from clusters.strategy import discover


def test_ephemeral_selfheal_is_startup_selfheal_on_empty_dir():
    found = discover()
    persistent, ephemeral = found["startup-selfheal"], found["ephemeral-selfheal"]
    # The ConfigMap is copied, since a strategy directory is applied as it is.
    assert ephemeral.manifests.config_maps == persistent.manifests.config_maps
    kinds = {s.name: {v.name: v.kind for v in s.manifests.statefulset.volumes} for s in (persistent, ephemeral)}
    assert kinds["startup-selfheal"]["data"] == "claim"
    assert kinds["ephemeral-selfheal"]["data"] == "emptyDir"
