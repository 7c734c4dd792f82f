"""Parse a strategy's Kubernetes manifests into the subset the backends act on.

The same YAML is applied unchanged to a real cluster, so the parser is strict in
one direction only: a field that would change how the pods behave and that the
local backend does not emulate is refused with its path, never skipped, because
a silently ignored field would make the local verdict lie about the real one.
Fields with no behavioural effect here (labels, resources, images, ...) pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml


class ManifestError(ValueError):
    """A manifest the harness cannot run faithfully; the message names the field."""


# A schema node is either a dict of allowed keys, ``ANY`` (an opaque leaf with no
# behaviour to emulate) or a list holding the schema of its items.
ANY = "any"

_PROBE = {
    "tcpSocket": {"port": ANY, "host": ANY},
    "httpGet": {"port": ANY, "path": ANY, "scheme": ANY, "host": ANY, "httpHeaders": ANY},
    "exec": {"command": ANY},
    "initialDelaySeconds": ANY,
    "periodSeconds": ANY,
    "timeoutSeconds": ANY,
    "successThreshold": ANY,
    "failureThreshold": ANY,
    "terminationGracePeriodSeconds": ANY,
}
_CONTAINER = {
    "name": ANY,
    "image": ANY,
    "imagePullPolicy": ANY,
    "command": ANY,
    "args": ANY,
    "workingDir": ANY,
    "ports": ANY,
    "env": [{"name": ANY, "value": ANY, "valueFrom": {"fieldRef": {"fieldPath": ANY, "apiVersion": ANY}}}],
    "volumeMounts": [{"name": ANY, "mountPath": ANY, "readOnly": ANY}],
    "readinessProbe": _PROBE,
    "livenessProbe": _PROBE,
    "startupProbe": _PROBE,
    "lifecycle": {"preStop": {"exec": {"command": ANY}}},
    "resources": ANY,
    "securityContext": ANY,
    "terminationMessagePath": ANY,
    "terminationMessagePolicy": ANY,
}
_AFFINITY_TERM = {"labelSelector": ANY, "topologyKey": ANY}
_POD_SPEC = {
    "containers": [_CONTAINER],
    "volumes": [
        {
            "name": ANY,
            "emptyDir": ANY,
            "configMap": {"name": ANY, "defaultMode": ANY, "items": [{"key": ANY, "path": ANY, "mode": ANY}]},
        }
    ],
    "terminationGracePeriodSeconds": ANY,
    "restartPolicy": ANY,
    "affinity": {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [_AFFINITY_TERM],
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": ANY, "podAffinityTerm": _AFFINITY_TERM}
            ],
        }
    },
    "securityContext": ANY,
    "serviceAccountName": ANY,
    "enableServiceLinks": ANY,
}
_META = {"name": ANY, "namespace": ANY, "labels": ANY, "annotations": ANY}
SCHEMAS: dict[str, dict[str, Any]] = {
    "StatefulSet": {
        "apiVersion": ANY,
        "kind": ANY,
        "metadata": _META,
        "spec": {
            "serviceName": ANY,
            "replicas": ANY,
            "podManagementPolicy": ANY,
            "selector": ANY,
            "updateStrategy": ANY,
            "revisionHistoryLimit": ANY,
            "template": {"metadata": {"labels": ANY, "annotations": ANY}, "spec": _POD_SPEC},
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": ANY, "labels": ANY},
                    "spec": {"accessModes": ANY, "resources": ANY, "storageClassName": ANY},
                }
            ],
        },
    },
    "Service": {
        "apiVersion": ANY,
        "kind": ANY,
        "metadata": _META,
        "spec": {"clusterIP": ANY, "publishNotReadyAddresses": ANY, "selector": ANY, "ports": ANY},
    },
    "PodDisruptionBudget": {
        "apiVersion": ANY,
        "kind": ANY,
        "metadata": _META,
        "spec": {"minAvailable": ANY, "maxUnavailable": ANY, "selector": ANY, "unhealthyPodEvictionPolicy": ANY},
    },
    "ConfigMap": {"apiVersion": ANY, "kind": ANY, "metadata": _META, "data": ANY},
}


def check_fields(obj: Any, schema: Any, path: str) -> None:
    """Raise ManifestError for the first field of ``obj`` that ``schema`` does not allow."""
    if schema == ANY or obj is None:
        return
    if isinstance(schema, list):
        if not isinstance(obj, list):
            raise ManifestError(f"{path} must be a list")
        for i, item in enumerate(obj):
            check_fields(item, schema[0], f"{path}[{i}]")
        return
    if not isinstance(obj, dict):
        raise ManifestError(f"{path} must be a mapping")
    for key, value in obj.items():
        if key not in schema:
            raise ManifestError(f"field {path}.{key} is not supported by the local backend")
        check_fields(value, schema[key], f"{path}.{key}")


@dataclass(frozen=True)
class Probe:
    """One probe, with Kubernetes' defaults filled in (they decide outcomes)."""

    kind: Literal["tcpSocket", "httpGet", "exec"]
    port: int | None = None
    path: str = "/"
    command: tuple[str, ...] = ()
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str = ""
    field_path: str | None = None


@dataclass(frozen=True)
class Mount:
    volume: str
    path: str
    read_only: bool = False


@dataclass(frozen=True)
class Volume:
    """A pod volume: ``claim`` outlives the pod, ``emptyDir`` dies with it."""

    name: str
    kind: Literal["claim", "emptyDir", "configMap"]
    config_map: str | None = None
    default_mode: int = 0o644
    items: tuple[tuple[str, str, int | None], ...] = ()


@dataclass(frozen=True)
class Container:
    name: str
    command: tuple[str, ...]
    env: tuple[EnvVar, ...]
    mounts: tuple[Mount, ...]
    readiness: Probe | None
    liveness: Probe | None
    startup: Probe | None
    pre_stop: tuple[str, ...] | None
    working_dir: str | None


@dataclass(frozen=True)
class StatefulSet:
    name: str
    namespace: str
    service_name: str
    replicas: int
    parallel: bool
    container: Container
    volumes: tuple[Volume, ...]
    grace_period: float
    anti_affinity: Literal["required", "preferred", "none"]


@dataclass(frozen=True)
class Service:
    name: str
    publish_not_ready: bool


@dataclass(frozen=True)
class DisruptionBudget:
    name: str
    min_available: int | str | None
    max_unavailable: int | str | None
    unhealthy_pod_eviction_policy: str = "IfHealthyBudget"


@dataclass(frozen=True)
class Manifests:
    """Everything one strategy applies, parsed and checked."""

    statefulset: StatefulSet
    service: Service
    budget: DisruptionBudget | None
    config_maps: dict[str, dict[str, str]] = field(default_factory=dict)
    documents: tuple[dict[str, Any], ...] = ()


def _port(value: Any, container: dict[str, Any], where: str) -> int:
    if isinstance(value, int):
        return value
    for port in container.get("ports") or []:
        if port.get("name") == value:
            return int(port["containerPort"])
    raise ManifestError(f"{where}: named port {value!r} is not declared in the container's ports")


def _probe(raw: dict[str, Any] | None, container: dict[str, Any], where: str) -> Probe | None:
    if not raw:
        return None
    kinds = [k for k in ("tcpSocket", "httpGet", "exec") if k in raw]
    if len(kinds) != 1:
        raise ManifestError(f"{where} needs exactly one of tcpSocket, httpGet, exec")
    kind = kinds[0]
    if kind == "httpGet" and raw["httpGet"].get("scheme", "HTTP") != "HTTP":
        raise ManifestError(f"field {where}.httpGet.scheme: only HTTP is supported by the local backend")
    if raw[kind].get("host") or (kind == "httpGet" and raw["httpGet"].get("httpHeaders")):
        raise ManifestError(f"field {where}.{kind}: host and httpHeaders are not supported by the local backend")
    if "terminationGracePeriodSeconds" in raw:
        raise ManifestError(f"field {where}.terminationGracePeriodSeconds is not supported by the local backend")
    return Probe(
        kind=kind,
        port=_port(raw[kind]["port"], container, where) if kind != "exec" else None,
        path=raw[kind].get("path", "/") if kind == "httpGet" else "/",
        command=tuple(raw["exec"]["command"]) if kind == "exec" else (),
        initial_delay=float(raw.get("initialDelaySeconds", 0)),
        period=float(raw.get("periodSeconds", 10)),
        timeout=float(raw.get("timeoutSeconds", 1)),
        success_threshold=int(raw.get("successThreshold", 1)),
        failure_threshold=int(raw.get("failureThreshold", 3)),
    )


_FIELD_PATHS = {"metadata.name", "metadata.namespace", "status.podIP", "spec.nodeName", "status.hostIP"}


def _container(raw: dict[str, Any], where: str) -> Container:
    if not raw.get("command"):
        raise ManifestError(
            f"{where}.command is required: the local backend runs no image, so the entrypoint must be explicit"
        )
    env = []
    for var in raw.get("env") or []:
        if "valueFrom" in var:
            path = var["valueFrom"]["fieldRef"]["fieldPath"]
            if path not in _FIELD_PATHS:
                raise ManifestError(f"{where}.env[{var['name']}]: fieldPath {path} is not supported")
            env.append(EnvVar(var["name"], field_path=path))
        else:
            env.append(EnvVar(var["name"], str(var.get("value", ""))))
    mounts = tuple(
        Mount(m["name"], m["mountPath"], bool(m.get("readOnly", False))) for m in raw.get("volumeMounts") or []
    )
    pre_stop = (raw.get("lifecycle") or {}).get("preStop")
    return Container(
        name=raw["name"],
        command=tuple(str(c) for c in raw["command"]) + tuple(str(a) for a in raw.get("args") or []),
        env=tuple(env),
        mounts=mounts,
        readiness=_probe(raw.get("readinessProbe"), raw, f"{where}.readinessProbe"),
        liveness=_probe(raw.get("livenessProbe"), raw, f"{where}.livenessProbe"),
        startup=_probe(raw.get("startupProbe"), raw, f"{where}.startupProbe"),
        pre_stop=tuple(pre_stop["exec"]["command"]) if pre_stop else None,
        working_dir=raw.get("workingDir"),
    )


def _anti_affinity(pod: dict[str, Any]) -> Literal["required", "preferred", "none"]:
    anti = (pod.get("affinity") or {}).get("podAntiAffinity") or {}
    terms = anti.get("requiredDuringSchedulingIgnoredDuringExecution") or []
    preferred = [t["podAffinityTerm"] for t in anti.get("preferredDuringSchedulingIgnoredDuringExecution") or []]
    for term in terms + preferred:
        if term.get("topologyKey") != "kubernetes.io/hostname":
            raise ManifestError("podAntiAffinity: only topologyKey kubernetes.io/hostname is supported")
    return "required" if terms else "preferred" if preferred else "none"


def _statefulset(doc: dict[str, Any]) -> StatefulSet:
    spec = doc["spec"]
    name = doc["metadata"]["name"]
    where = f"StatefulSet {name}: spec.template.spec"
    pod = spec["template"]["spec"]
    if pod.get("restartPolicy", "Always") != "Always":
        raise ManifestError(f"{where}.restartPolicy must be Always for a StatefulSet")
    if len(pod["containers"]) != 1:
        raise ManifestError(f"{where}.containers: the local backend runs exactly one container per pod")
    policy = spec.get("podManagementPolicy", "OrderedReady")
    if policy not in ("OrderedReady", "Parallel"):
        raise ManifestError(f"StatefulSet {name}: unknown podManagementPolicy {policy}")
    update = spec.get("updateStrategy") or {}
    if update.get("type", "RollingUpdate") != "RollingUpdate" or update.get("rollingUpdate"):
        raise ManifestError(f"StatefulSet {name}: field spec.updateStrategy supports only the default RollingUpdate")
    volumes: list[Volume] = []
    for v in pod.get("volumes") or []:
        if "configMap" in v:
            cm = v["configMap"]
            items = tuple((i["key"], i["path"], i.get("mode")) for i in cm.get("items") or [])
            volumes.append(Volume(v["name"], "configMap", cm["name"], int(cm.get("defaultMode", 0o644)), items))
        elif "emptyDir" in v:
            if v["emptyDir"] and v["emptyDir"].get("medium"):
                raise ManifestError(f"{where}.volumes[{v['name']}].emptyDir.medium is not supported")
            volumes.append(Volume(v["name"], "emptyDir"))
        else:
            raise ManifestError(f"{where}.volumes[{v['name']}]: only configMap and emptyDir volumes are supported")
    volumes += [Volume(t["metadata"]["name"], "claim") for t in spec.get("volumeClaimTemplates") or []]
    container = _container(pod["containers"][0], f"{where}.containers[0]")
    known = {v.name for v in volumes}
    for mount in container.mounts:
        if mount.volume not in known:
            raise ManifestError(f"{where}: volumeMount {mount.volume} names no volume or claim template")
    return StatefulSet(
        name=name,
        namespace=doc["metadata"].get("namespace", "default"),
        service_name=spec["serviceName"],
        replicas=int(spec.get("replicas", 1)),
        parallel=policy == "Parallel",
        container=container,
        volumes=tuple(volumes),
        grace_period=float(pod.get("terminationGracePeriodSeconds", 30)),
        anti_affinity=_anti_affinity(pod),
    )


def parse(documents: list[dict[str, Any]], source: str = "manifests") -> Manifests:
    """Check and parse the documents of one strategy."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for doc in documents:
        if not isinstance(doc, dict):
            raise ManifestError(f"{source}: every YAML document must be a mapping, found {type(doc).__name__}")
        kind = doc.get("kind")
        if kind not in SCHEMAS:
            raise ManifestError(f"{source}: kind {kind!r} is not supported (StatefulSet, Service, PodDisruptionBudget, ConfigMap)")
        name = (doc.get("metadata") or {}).get("name", "?")
        check_fields(doc, SCHEMAS[kind], f"{kind} {name}")
        by_kind.setdefault(kind, []).append(doc)
    if len(by_kind.get("StatefulSet", [])) != 1 or len(by_kind.get("Service", [])) != 1:
        raise ManifestError(f"{source}: a strategy needs exactly one StatefulSet and one Service")
    if len(by_kind.get("PodDisruptionBudget", [])) > 1:
        raise ManifestError(f"{source}: at most one PodDisruptionBudget")
    try:
        sts = _statefulset(by_kind["StatefulSet"][0])
        svc_doc = by_kind["Service"][0]
        if svc_doc["spec"].get("clusterIP") != "None":
            raise ManifestError(
                f"{source}: Service {svc_doc['metadata']['name']} must be headless (spec.clusterIP: None) "
                "for pods to get <pod>.<service> DNS names"
            )
        service = Service(svc_doc["metadata"]["name"], bool(svc_doc["spec"].get("publishNotReadyAddresses", False)))
        budget = None
        for pdb in by_kind.get("PodDisruptionBudget", []):
            budget = DisruptionBudget(
                pdb["metadata"]["name"],
                pdb["spec"].get("minAvailable"),
                pdb["spec"].get("maxUnavailable"),
                pdb["spec"].get("unhealthyPodEvictionPolicy") or "IfHealthyBudget",
            )
    except KeyError as missing:
        raise ManifestError(f"{source}: required field {missing} is missing") from None
    if service.name != sts.service_name:
        raise ManifestError(f"{source}: StatefulSet serviceName {sts.service_name} does not match Service {service.name}")
    config_maps = {d["metadata"]["name"]: dict(d.get("data") or {}) for d in by_kind.get("ConfigMap", [])}
    for volume in sts.volumes:
        if volume.kind == "configMap" and volume.config_map not in config_maps:
            raise ManifestError(f"{source}: ConfigMap {volume.config_map} used by volume {volume.name} is not defined")
    return Manifests(sts, service, budget, config_maps, tuple(documents))


def load(directory: Path) -> Manifests:
    """Read every ``*.yaml`` in a strategy directory except its metadata file."""
    documents: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.yaml")):
        if path.name == "strategy.yaml":
            continue
        try:
            documents += [d for d in yaml.safe_load_all(path.read_text()) if d]
        except yaml.YAMLError as err:
            raise ManifestError(f"{path}: not valid YAML ({err})") from None
    return parse(documents, str(directory))
