"""kind's cluster config: room for scale's five members, the zones, and the pod network the harness routes and cuts."""

from __future__ import annotations

import yaml

from clusters.kind import cluster as kind_cluster
from clusters.kube.cluster import CLUSTER_CIDR


def test_the_config_has_one_control_plane_and_five_zoned_workers_on_the_pod_network() -> None:
    config = yaml.safe_load(kind_cluster.CONFIG.read_text())
    assert (config["kind"], config["apiVersion"]) == ("Cluster", "kind.x-k8s.io/v1alpha4")
    assert config["networking"]["podSubnet"] == CLUSTER_CIDR
    roles = [node["role"] for node in config["nodes"]]
    assert roles == ["control-plane"] + ["worker"] * kind_cluster.WORKERS
    zones = [node["labels"]["topology.kubernetes.io/zone"] for node in config["nodes"][1:]]
    assert zones == ["zone-a", "zone-b", "zone-c", "zone-a", "zone-b"]
    assert "labels" not in config["nodes"][0]
