"""The release a scenario runs is the tag its documents' etcd-chaos/etcd image gets; other images are left alone."""

import pytest

from clusters.kube import etcd_image
from clusters.kube.pods import info


def statefulset(image="etcd-chaos/etcd:3.5.1", init_image="etcd-chaos/etcd:3.5.1"):
    return {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "etcd"},
        "spec": {"template": {"spec": {
            "initContainers": [{"name": "prepare", "image": init_image}],
            "containers": [{"name": "etcd", "image": image}, {"name": "sidecar", "image": "busybox:1.36"}],
        }}},
    }


@pytest.mark.parametrize(
    ("image", "ours"),
    [("etcd-chaos/etcd:3.5.1", True), ("docker.io/etcd-chaos/etcd", True), ("etcd-chaos/etcd@sha256:ab", True),
     ("bitnami/etcd:3.5", False), ("registry.local:5000/etcd-chaos/etcd:3.5.1", False), ("etcd-chaos/etcd-tools:1", False)],
)
def test_only_the_harness_image_is_ours(image, ours):
    assert etcd_image.is_ours(image) is ours


def test_every_container_of_the_harness_image_gets_the_release_and_nothing_else_changes():
    doc = statefulset(init_image="bitnami/etcd:3.5")
    placed = etcd_image.at_release(doc, "3.6.16")
    pod = placed["spec"]["template"]["spec"]
    assert [c["image"] for c in pod["containers"]] == ["etcd-chaos/etcd:3.6.16", "busybox:1.36"]
    assert pod["initContainers"][0]["image"] == "bitnami/etcd:3.5", "a strategy's own etcd image is not re-versioned"
    assert doc["spec"]["template"]["spec"]["containers"][0]["image"] == "etcd-chaos/etcd:3.5.1", "the strategy's copy is untouched"


def test_a_pod_kind_at_another_depth_is_found_too():
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "etcd-chaos/etcd:x"}]}}
    assert etcd_image.at_release(pod, "3.4.23")["spec"]["containers"][0]["image"] == "etcd-chaos/etcd:3.4.23"


def test_the_upgrade_patch_names_only_our_containers():
    spec = statefulset()["spec"]["template"]["spec"]
    assert etcd_image.release_patch(spec, "3.6.16") == {
        "initContainers": [{"name": "prepare", "image": "etcd-chaos/etcd:3.6.16"}],
        "containers": [{"name": "etcd", "image": "etcd-chaos/etcd:3.6.16"}],
    }
    assert etcd_image.release_patch({"containers": [{"name": "x", "image": "bitnami/etcd:3.5"}]}, "3.6.16") == {}


def test_a_pod_says_which_release_its_image_holds():
    pod = {"metadata": {"name": "etcd-0", "uid": "u"}, "spec": statefulset("etcd-chaos/etcd:3.6.16")["spec"]["template"]["spec"]}
    assert info(pod).release == "3.6.16"
    pod["spec"]["containers"] = [{"name": "etcd", "image": "bitnami/etcd:3.5"}]
    assert info(pod).release == ""
    pod["spec"]["containers"] = [{"name": "etcd", "image": "docker.io/etcd-chaos/etcd@sha256:ab"}]
    assert info(pod).release == "", "a digest is no release"


def test_flags_reach_our_containers_as_the_variables_etcd_reads():
    doc = statefulset()
    doc["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "ETCD_SNAPSHOT_COUNT", "value": "10000"}, {"name": "A", "value": "b"}]
    pod = etcd_image.at_release(doc, "3.5.1", {"snapshot-count": "100"})["spec"]["template"]["spec"]
    assert pod["containers"][0]["env"] == [{"name": "A", "value": "b"}, {"name": "ETCD_SNAPSHOT_COUNT", "value": "100"}]
    assert "env" not in pod["containers"][1], "another image's container gets none"
    assert etcd_image.flag_variable("experimental-initial-corrupt-check") == "ETCD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK"
