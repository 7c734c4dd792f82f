import re

import pytest

import faults
from clusters.manifests import (
    EnvVar,
    ManifestError,
    Mount,
    Probe,
    Service,
    Volume,
    parse,
)
from clusters.strategy import BUILTIN_DIR, discover, load_strategy
from harness.verdict import REASONS


def sts(docs):
    return docs[0]["spec"]


def pod(docs):
    return docs[0]["spec"]["template"]["spec"]


def container(docs):
    return pod(docs)["containers"][0]


def test_minimal_manifests_parse_with_kubernetes_defaults(docs):
    m = parse(docs)
    s = m.statefulset
    assert (s.name, s.namespace, s.service_name, s.replicas) == ("etcd", "default", "etcd", 3)
    assert s.parallel is False  # OrderedReady
    assert s.grace_period == 30.0
    assert s.anti_affinity == "none"
    assert s.volumes == (Volume("data", "claim"),)
    c = s.container
    assert c.command == ("etcd", "--name=$(POD_NAME)")
    assert c.env == (EnvVar("POD_NAME", field_path="metadata.name"),)
    assert c.mounts == (Mount("data", "/var/lib/etcd"),)
    assert c.readiness == Probe("httpGet", port=2379, path="/health", period=10.0, timeout=1.0, failure_threshold=3)
    assert c.readiness.success_threshold == 1 and c.readiness.initial_delay == 0.0
    assert c.liveness is None and c.startup is None and c.pre_stop is None
    assert m.service == Service("etcd", publish_not_ready=False)
    assert m.budget is None and m.config_maps == {}


def test_explicit_values_override_defaults(docs):
    sts(docs)["podManagementPolicy"] = "Parallel"
    pod(docs)["terminationGracePeriodSeconds"] = 5
    container(docs)["livenessProbe"] = {
        "tcpSocket": {"port": 2380},
        "initialDelaySeconds": 2,
        "periodSeconds": 4,
        "timeoutSeconds": 3,
        "failureThreshold": 7,
    }
    docs[1]["spec"]["publishNotReadyAddresses"] = True
    docs.append({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "pdb"}, "spec": {"minAvailable": 2}})
    m = parse(docs)
    assert m.statefulset.parallel is True
    assert m.statefulset.grace_period == 5.0
    assert m.statefulset.container.liveness == Probe(
        "tcpSocket", port=2380, initial_delay=2.0, period=4.0, timeout=3.0, failure_threshold=7
    )
    assert m.service.publish_not_ready is True
    assert (m.budget.name, m.budget.min_available, m.budget.max_unavailable) == ("pdb", 2, None)


def test_named_probe_ports_resolve_from_container_ports(docs):
    container(docs)["livenessProbe"] = {"tcpSocket": {"port": "peer"}}
    c = parse(docs).statefulset.container
    assert c.readiness.port == 2379
    assert c.liveness.port == 2380


def test_undeclared_named_port_is_refused(docs):
    container(docs)["readinessProbe"] = {"httpGet": {"path": "/health", "port": "metrics"}}
    with pytest.raises(ManifestError, match=r"readinessProbe\.httpGet\.port: named port 'metrics' is not declared"):
        parse(docs)


def _set(path, value):
    """A mutation that sets a nested key of the documents; ``path`` starts with a document index."""

    def mutate(docs):
        node = docs
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


POD = (0, "spec", "template", "spec")
CONTAINER = (*POD, "containers", 0)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (_set((*POD, "initContainers"), [{"name": "init"}]), "StatefulSet/etcd: spec.template.spec.initContainers: not emulated"),
        (_set((*POD, "nodeSelector"), {"disk": "ssd"}), "StatefulSet/etcd: spec.template.spec.nodeSelector: not emulated"),
        (_set((*CONTAINER, "envFrom"), [{"configMapRef": {"name": "x"}}]), "spec.template.spec.containers[0].envFrom"),
        (_set((*POD, "volumes"), [{"name": "h", "hostPath": {"path": "/x"}}]), "spec.template.spec.volumes[0].hostPath"),
        (
            _set((*CONTAINER, "env"), [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]),
            "containers[0].env[0].valueFrom.secretKeyRef",
        ),
        (_set((*CONTAINER, "readinessProbe"), {"grpc": {"port": 2379}}), "containers[0].readinessProbe.grpc"),
        (
            _set((*CONTAINER, "lifecycle"), {"postStart": {"exec": {"command": ["true"]}}}),
            "containers[0].lifecycle.postStart",
        ),
        (
            _set((*CONTAINER, "startupProbe"), {"exec": {"command": ["true"]}, "terminationGracePeriodSeconds": 1}),
            "containers[0].startupProbe.terminationGracePeriodSeconds",
        ),
        (
            _set((*CONTAINER, "readinessProbe"), {"httpGet": {"port": 2379, "scheme": "HTTPS"}}),
            "containers[0].readinessProbe.httpGet.scheme",
        ),
        (
            _set((*POD, "volumes"), [{"name": "cache", "emptyDir": {"medium": "Memory"}}]),
            "spec.template.spec.volumes[0].emptyDir.medium: not emulated",
        ),
        (_set((0, "spec", "updateStrategy"), {"rollingUpdate": {"partition": 1}}), "spec.updateStrategy"),
        (_set((0, "spec", "updateStrategy"), {"type": "OnDelete"}), "spec.updateStrategy"),
        (_set((*POD, "restartPolicy"), "Never"), "spec.template.spec.restartPolicy"),
        (_set((1, "spec", "sessionAffinity"), "ClientIP"), "Service/etcd: spec.sessionAffinity: not emulated"),
        (_set((1, "kind"), "Deployment"), "Deployment/etcd: kind: Deployment (v1) is not a Kubernetes 1.37 kind"),
    ],
)
def test_unsupported_field_is_refused_with_its_path(docs, mutate, field):
    mutate(docs)
    with pytest.raises(ManifestError, match=re.escape(field)):
        parse(docs)


def test_two_containers_are_refused(docs):
    pod(docs)["containers"].append(dict(container(docs), name="sidecar"))
    with pytest.raises(ManifestError, match=r"spec\.template\.spec\.containers: .*exactly one container"):
        parse(docs)


def test_unsupported_downward_api_field_is_refused(docs):
    container(docs)["env"][0]["valueFrom"]["fieldRef"]["fieldPath"] = "metadata.labels['app']"
    with pytest.raises(ManifestError, match=r"env\[0\]\.valueFrom\.fieldRef\.fieldPath: metadata.labels\['app'\] \(POD_NAME\) is not emulated"):
        parse(docs)


def test_container_without_command_is_refused(docs):
    del container(docs)["command"]
    with pytest.raises(ManifestError, match=r"containers\[0\]\.command: required by the local backend"):
        parse(docs)


def test_volume_mount_naming_no_volume_is_refused(docs):
    container(docs)["volumeMounts"].append({"name": "ghost", "mountPath": "/ghost"})
    with pytest.raises(ManifestError, match=r"volumeMounts\[1\]\.name: ghost names no volume or claim template"):
        parse(docs)


def test_service_name_mismatch_is_refused(docs):
    sts(docs)["serviceName"] = "etcd-headless"
    with pytest.raises(ManifestError, match=r"spec\.serviceName: etcd-headless names no Service \(the strategy's Service is etcd\)"):
        parse(docs)


def test_missing_required_field_is_named(docs):
    del sts(docs)["serviceName"]
    with pytest.raises(ManifestError, match="spec.serviceName: required by the local backend"):
        parse(docs)


@pytest.mark.parametrize("keep", [[0], [1], [0, 0, 1]])
def test_exactly_one_statefulset_and_one_service(docs, keep):
    with pytest.raises(ManifestError, match="a strategy needs exactly one (StatefulSet|Service), found"):
        parse([docs[i] for i in keep])


def test_config_map_volume_needs_its_config_map(docs):
    pod(docs)["volumes"] = [
        {"name": "scripts", "configMap": {"name": "etcd-scripts", "defaultMode": 0o755, "items": [{"key": "run", "path": "run.sh"}]}}
    ]
    with pytest.raises(ManifestError, match=r"volumes\[0\]\.configMap\.name: ConfigMap etcd-scripts is not defined in the strategy"):
        parse(docs)
    docs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "etcd-scripts"}, "data": {"run": "exec etcd"}})
    m = parse(docs)
    assert m.config_maps == {"etcd-scripts": {"run": "exec etcd"}}
    assert m.statefulset.volumes[0] == Volume("scripts", "configMap", "etcd-scripts", 0o755, (("run", "run.sh", None),))


def test_anti_affinity_is_read_and_topology_key_checked(docs):
    term = {"labelSelector": {"matchLabels": {"app": "etcd"}}, "topologyKey": "kubernetes.io/hostname"}
    pod(docs)["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    assert parse(docs).statefulset.anti_affinity == "required"
    term["topologyKey"] = "topology.kubernetes.io/zone"
    with pytest.raises(ManifestError, match="topologyKey"):
        parse(docs)


def test_non_headless_service_is_refused(docs):
    docs[1]["spec"]["clusterIP"] = "10.96.0.20"
    with pytest.raises(ManifestError, match="clusterIP"):
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
    for fault, known in strategy.known_failures.items():
        assert declarable(fault), f"known_failures names an unknown fault or schedule {fault!r}"
        assert known.reason in REASONS, f"{fault}: reason {known.reason!r} is never reported by the checks"


def test_builtin_strategy_names_are_unique():
    assert len(discover()) == len(BUILTIN)
