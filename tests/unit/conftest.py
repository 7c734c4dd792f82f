"""Hand-made inputs shared by several unit test modules."""

from __future__ import annotations

from typing import Any

import pytest

from clusters.observe import MemberView, Snapshot


def minimal_documents() -> list[dict[str, Any]]:
    """A minimal valid StatefulSet and headless Service, fresh on every call."""
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "etcd"},
        "spec": {
            "serviceName": "etcd",
            "replicas": 3,
            "selector": {"matchLabels": {"app": "etcd"}},
            "template": {
                "metadata": {"labels": {"app": "etcd"}},
                "spec": {
                    "containers": [
                        {
                            "name": "etcd",
                            "image": "etcd:3.5.1",
                            "command": ["etcd"],
                            "args": ["--name=$(POD_NAME)"],
                            "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                            "ports": [{"name": "client", "containerPort": 2379}, {"name": "peer", "containerPort": 2380}],
                            "readinessProbe": {"httpGet": {"path": "/health", "port": "client"}},
                            "volumeMounts": [{"name": "data", "mountPath": "/var/lib/etcd"}],
                        }
                    ]
                },
            },
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}],
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "etcd"},
        "spec": {"clusterIP": "None", "selector": {"app": "etcd"}},
    }
    return [statefulset, service]


@pytest.fixture
def docs() -> list[dict[str, Any]]:
    return minimal_documents()


def member_views(n: int = 3, leader: int = 0, cluster_id: str = "c1") -> list[MemberView]:
    """``n`` pods etcd-0.. that all agree: same member list, same cluster, pod ``leader`` leads."""
    members = tuple((f"id{i}", f"etcd-{i}", False) for i in range(n))
    return [
        MemberView(f"etcd-{i}", f"http://10.0.0.{i + 1}:2379", f"id{i}", cluster_id, f"id{leader}", False, members)
        for i in range(n)
    ]


def snapshot(views: list[MemberView] | None = None, replicas: int = 3, time: float = 0.0) -> Snapshot:
    return Snapshot(time, replicas, tuple(member_views() if views is None else views))


@pytest.fixture
def make_views():
    return member_views


@pytest.fixture
def make_snapshot():
    return snapshot
