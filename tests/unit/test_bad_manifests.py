"""Every bad input a user has written, with the one line they must see.

Each case builds a strategy directory (statefulset.yaml, service.yaml, maybe
more) from the minimal documents, breaks one thing, and holds ``load_strategy``
to the exact message; ``{dir}`` stands for the strategy directory.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from clusters import schema
from clusters.manifests import ManifestError
from clusters.strategy import load_strategy

Files = dict[str, str]


def files(docs: list[dict[str, Any]]) -> Files:
    return {"statefulset.yaml": yaml.safe_dump(docs[0]), "service.yaml": yaml.safe_dump(docs[1])}


Docs = list[dict[str, Any]]


def changed(change: Callable[[Docs], object]) -> Callable[[Docs], Files]:
    """The minimal strategy (the ``docs`` fixture) after ``change``."""

    def make(docs: Docs) -> Files:
        change(docs)
        return files(docs)

    return make


def plus(name: str, text: str) -> Callable[[Docs], Files]:
    """The minimal strategy with file ``name`` holding ``text`` (replacing it if it exists)."""
    return lambda docs: {**files(docs), name: text}


def spec(docs):
    return docs[0]["spec"]


def pod(docs):
    return docs[0]["spec"]["template"]["spec"]


def container(docs):
    return pod(docs)["containers"][0]


STS = "{dir}/statefulset.yaml: StatefulSet/etcd: "
SVC = "{dir}/service.yaml: Service/etcd: "
PDB = "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {{name: {}}}\nspec: {{minAvailable: 2}}\n"

BAD = {
    "replicas-a-word": (
        changed(lambda d: spec(d).update(replicas="three")),
        STS + "spec.replicas: must be an integer, not 'three'; write a plain number, without quotes or units",
    ),
    "grace-period-with-unit": (
        changed(lambda d: pod(d).update(terminationGracePeriodSeconds="30s")),
        STS + "spec.template.spec.terminationGracePeriodSeconds: must be an integer, not '30s'; "
        "write a plain number, without quotes or units",
    ),
    "command-a-string": (
        changed(lambda d: container(d).update(command="etcd --name x")),
        STS + "spec.template.spec.containers[0].command: must be a list, not 'etcd --name x'; "
        "write one list item per argument, e.g. ['etcd', '--name', 'x']",
    ),
    "replicas-zero": (
        changed(lambda d: spec(d).update(replicas=0)),
        STS + "spec.replicas: 0 leaves no pod to test; set at least 1 (3 for a quorum that survives a fault)",
    ),
    "replicas-negative": (
        changed(lambda d: spec(d).update(replicas=-1)),
        STS + "spec.replicas: -1 leaves no pod to test; set at least 1 (3 for a quorum that survives a fault)",
    ),
    "misspelled-field": (
        changed(lambda d: container(d).update(comand=["etcd"])),
        STS + "spec.template.spec.containers[0].comand: unknown field (not in the Kubernetes 1.37 schema); "
        "did you mean command?",
    ),
    "container-without-name": (
        changed(lambda d: container(d).pop("name")),
        STS + "spec.template.spec.containers[0].name: required field is missing; add it",
    ),
    "container-name-null": (
        changed(lambda d: container(d).update(name=None)),
        STS + "spec.template.spec.containers[0].name: required field is missing; add it",
    ),
    "selector-null": (
        changed(lambda d: spec(d).update(selector=None)),
        STS + "spec.selector: required field is missing; add it",
    ),
    "container-list-item-null": (
        changed(lambda d: pod(d).update(containers=[None])),
        STS + "spec.template.spec.containers[0]: an empty (null) list item; remove the '-' line or fill it in",
    ),
    "port-a-string": (
        changed(lambda d: container(d)["ports"][0].update(containerPort="2379")),
        STS + "spec.template.spec.containers[0].ports[0].containerPort: must be an integer, not '2379'; "
        "write a plain number, without quotes or units",
    ),
    "env-value-a-number": (
        changed(lambda d: container(d).update(env=[{"name": "A", "value": 5}])),
        STS + "spec.template.spec.containers[0].env[0].value: must be a string, not 5; quote the value",
    ),
    "boolean-quoted": (
        changed(lambda d: d[1]["spec"].update(publishNotReadyAddresses="true")),
        SVC + "spec.publishNotReadyAddresses: must be true or false, not 'true'; write true or false, without quotes",
    ),
    "service-wrong-apiVersion": (
        changed(lambda d: d[1].update(apiVersion="apps/v1")),
        SVC + "apiVersion: Service is not served at apps/v1; write apiVersion: v1",
    ),
    "pdb-removed-apiVersion": (
        plus("pdb.yaml", PDB.format("etcd").replace("policy/v1", "policy/v1beta1")),
        "{dir}/pdb.yaml: PodDisruptionBudget/etcd: apiVersion: PodDisruptionBudget is not served at policy/v1beta1; "
        "write apiVersion: policy/v1",
    ),
    "list-where-a-mapping-belongs": (
        changed(lambda d: d[0]["metadata"].update(labels=["app=etcd"])),
        STS + "metadata.labels: must be a mapping, not ['app=etcd']; write a mapping of key: value lines here, "
        "not a list or a scalar",
    ),
    "mapping-where-a-list-belongs": (
        changed(lambda d: pod(d).update(containers={"name": "etcd"})),
        STS + "spec.template.spec.containers: must be a list, not {'name': 'etcd'}; write it as a list, "
        "one '- ' line per item",
    ),
    "no-kind": (
        plus("extra.yaml", "apiVersion: v1\nmetadata: {name: x}\n"),
        "{dir}/extra.yaml: a document has no kind (or not a string); add it",
    ),
    "no-metadata-name": (
        changed(lambda d: d[1]["metadata"].pop("name")),
        "{dir}/service.yaml: Service/(no name): metadata.name: required (the harness applies each document by name); add it",
    ),
    "document-a-list": (
        plus("extra.yaml", "- a\n- b\n"),
        "{dir}/extra.yaml: a YAML document is list, not a Kubernetes object; write a mapping with apiVersion, kind, metadata",
    ),
    "empty-statefulset-file": (
        plus("statefulset.yaml", ""),
        "{dir}: a strategy needs exactly one StatefulSet (its pods are the members), found 0 (none in its *.yaml files); "
        "add the StatefulSet that runs etcd",
    ),
    "invalid-yaml": (
        plus("service.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: etcd\nspec: {}\n"),
        "{dir}/service.yaml:4:5: not valid YAML: while parsing a flow mapping expected ',' or '}', but got ':'; "
        "fix the syntax there",
    ),
    "not-utf-8": (
        plus("extra.yaml", "kind: Service\nmetadata: {name: caf\udce9}\n"),
        "{dir}/extra.yaml: not UTF-8 text (byte 34); save it as UTF-8",
    ),
    "two-statefulsets": (
        lambda docs: {**files(docs), "more.yaml": yaml.safe_dump(dict(docs[0], metadata={"name": "etcd2"}))},
        "{dir}: a strategy needs exactly one StatefulSet (its pods are the members), found 2 "
        "(etcd2 in more.yaml, etcd in statefulset.yaml); keep the etcd one",
    ),
}

# Loaded as they are: the API server judges them when the scenario applies them
# (a kind it serves or not, a field, a Service that is not headless), and the
# cluster's own behaviour is the verdict; see tests/integration/test_kube_backend.py.
ACCEPTED = {
    "custom-resource": plus("extra.yaml", "apiVersion: example.com/v1\nkind: EtcdCluster\nmetadata: {name: e}\n"),
    "a-deployment-beside": plus("extra.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: e}\nspec: {selector: {}, template: {}}\n"),
    "no-service": lambda docs: {"statefulset.yaml": files(docs)["statefulset.yaml"]},
    "two-budgets": plus("pdb.yaml", PDB.format("a") + "---\n" + PDB.format("b")),
    "init-containers": changed(lambda d: pod(d).update(initContainers=[{"name": "init", "image": "busybox"}])),
    "mount-under-usr": changed(lambda d: container(d)["volumeMounts"][0].update(mountPath="/usr/data")),
    "pod-management-policy-lowercase": changed(lambda d: spec(d).update(podManagementPolicy="parallel")),
    "service-not-headless": changed(lambda d: d[1]["spec"].update(clusterIP="10.96.0.20")),
    "config-map-key-missing": lambda docs: {
            **changed(
                lambda d: pod(d).update(volumes=[{"name": "s", "configMap": {"name": "cm", "items": [{"key": "run", "path": "r"}]}}])
            )(docs),
            "cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata: {start: exec etcd}\n",
        },
}


def write(directory: Path, content: Files) -> Path:
    directory.mkdir()
    for name, text in content.items():
        (directory / name).write_text(text, errors="surrogateescape")  # lets a case hold bytes that are not UTF-8
    (directory / "strategy.yaml").write_text("name: mine\ndescription: a strategy with one mistake\n")
    return directory


@pytest.mark.parametrize(("make", "message"), list(BAD.values()), ids=list(BAD))
def test_bad_input_is_one_line_naming_file_object_and_field(tmp_path, docs, make, message):
    directory = write(tmp_path / "mine", make(docs))
    with pytest.raises(ManifestError) as caught:
        load_strategy(directory)
    assert str(caught.value) == message.replace("{dir}", str(directory))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("make", list(ACCEPTED.values()), ids=list(ACCEPTED))
def test_what_only_the_api_server_can_judge_is_left_to_it(tmp_path, docs, make):
    assert load_strategy(write(tmp_path / "mine", make(docs))).manifests.statefulset.name == "etcd"


def test_helm_null_fields_mean_absent(tmp_path, docs):
    container(docs)["envFrom"] = None
    pod(docs)["affinity"] = {"podAffinity": None, "podAntiAffinity": None}
    docs[0]["metadata"]["annotations"] = None
    pod(docs)["volumes"] = [{"name": "scratch", "emptyDir": None}]
    container(docs)["volumeMounts"].append({"name": "scratch", "mountPath": "/scratch"})
    strategy = load_strategy(write(tmp_path / "mine", files(docs)))
    applied = next(d for d in strategy.manifests.documents if d["kind"] == "StatefulSet")  # what goes to the API server: the nulls left out, as it reads them
    assert "annotations" not in applied["metadata"] and applied["spec"]["template"]["spec"]["affinity"] == {}
    assert applied["spec"]["template"]["spec"]["volumes"] == [{"name": "scratch"}]


def test_missing_replicas_default_to_one(tmp_path, docs):
    del spec(docs)["replicas"]
    assert load_strategy(write(tmp_path / "mine", files(docs))).manifests.statefulset.replicas == 1


def test_strip_nulls_removes_null_fields_at_any_depth_and_keeps_list_items():
    raw = {"a": None, "b": {"c": None, "d": [{"e": None, "f": 1}, None]}, "g": 0, "h": ""}
    assert schema.strip_nulls(raw) == {"b": {"d": [{"f": 1}, None]}, "g": 0, "h": ""}


def test_null_item_finds_the_first_null_list_item():
    assert schema.null_item({"a": [{"b": [1, None]}]}) == "a[0].b[1]"
    assert schema.null_item({"a": [{"b": [1, 2]}], "c": {"d": "x"}}) is None


def test_schema_check_accepts_a_valid_object_and_names_the_first_problem(docs):
    assert schema.check(docs[0]) is None
    service = docs[1]
    service["spec"]["ports"] = [{"port": "2379"}]
    assert schema.check(service) == "spec.ports[0].port: must be an integer, not '2379'; write a plain number, without quotes or units"


def test_bad_manifest_is_a_one_line_usage_error_before_any_cluster(pytester: pytest.Pytester, tmp_path, docs):
    make, message = BAD["replicas-a-word"]
    directory = write(tmp_path / "mine", make(docs))
    result = pytester.runpytest("--strategy-path", str(directory), "-m", "chaos")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    expected = message.replace("{dir}", str(directory))
    assert result.stderr.str().strip().splitlines() == [f"ERROR: {expected}"]
