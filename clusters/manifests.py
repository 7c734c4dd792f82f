"""Parse a strategy's Kubernetes manifests into the subset the backends act on.

Every document passes two checks, in this order, after its null fields are
dropped (the API server reads a null field as an absent one). First the
Kubernetes API's own schema (``clusters.schema``): what a real cluster would
refuse is refused here, before any cluster starts. Then the local backend's
list of what it emulates: the same YAML is applied unchanged to a real
cluster, so a field that would change how the pods behave and that the local
backend does not emulate is refused with its path, never skipped, because a
silently ignored field would make the local verdict lie about the real one.
Fields with no behavioural effect here (labels, resources, images, ...) pass.
Every refusal is one line: file, object, field path, what to do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from clusters import schema
from clusters.local.sandbox import HOST_DIRS


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
    """Raise ManifestError for the first field of ``obj`` that ``schema`` does not allow.

    Runs after the Kubernetes schema check, so types are already right; this
    only refuses what the local backend does not emulate.
    """
    if schema == ANY:
        return
    if isinstance(schema, list):
        for i, item in enumerate(obj):
            check_fields(item, schema[0], f"{path}[{i}]")
        return
    for key, value in obj.items():
        where = f"{path}.{key}" if path else key
        if key not in schema:
            raise ManifestError(f"{where}: {NOT_EMULATED}")
        check_fields(value, schema[key], where)


NOT_EMULATED = "not emulated by the local backend (ignoring it would misjudge the strategy); remove it to run here"


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
    raise ManifestError(f"{where}.port: named port {value!r} is not declared in the container's ports; declare it or use the number")


def _probe(raw: dict[str, Any] | None, container: dict[str, Any], where: str) -> Probe | None:
    if not raw:
        return None
    kinds = [k for k in ("tcpSocket", "httpGet", "exec") if k in raw]
    if len(kinds) != 1:
        raise ManifestError(f"{where}: needs exactly one of tcpSocket, httpGet, exec; keep one")
    kind = kinds[0]
    if kind == "httpGet" and raw["httpGet"].get("scheme", "HTTP") != "HTTP":
        raise ManifestError(f"{where}.httpGet.scheme: only HTTP is emulated by the local backend; remove it to run here")
    for extra in ("host", "httpHeaders"):
        if extra in raw[kind]:
            raise ManifestError(f"{where}.{kind}.{extra}: {NOT_EMULATED}")
    if "terminationGracePeriodSeconds" in raw:
        raise ManifestError(f"{where}.terminationGracePeriodSeconds: {NOT_EMULATED}")
    return Probe(
        kind=kind,
        port=_port(raw[kind]["port"], container, f"{where}.{kind}") if kind != "exec" else None,
        path=raw[kind].get("path", "/") if kind == "httpGet" else "/",
        command=tuple(raw["exec"].get("command", ())) if kind == "exec" else (),
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
            f"{where}.command: required by the local backend, which runs no image and so has no entrypoint; "
            "set the command, e.g. [etcd]"
        )
    env = []
    for i, var in enumerate(raw.get("env") or []):
        if "valueFrom" in var:
            path = var["valueFrom"]["fieldRef"]["fieldPath"]
            if path not in _FIELD_PATHS:
                raise ManifestError(
                    f"{where}.env[{i}].valueFrom.fieldRef.fieldPath: {path} ({var['name']}) is not emulated by the "
                    f"local backend; use one of {', '.join(sorted(_FIELD_PATHS))}"
                )
            env.append(EnvVar(var["name"], field_path=path))
        else:
            env.append(EnvVar(var["name"], str(var.get("value", ""))))
    mounts = tuple(
        Mount(m["name"], m["mountPath"], bool(m.get("readOnly", False))) for m in raw.get("volumeMounts") or []
    )
    for i, mount in enumerate(mounts):
        top = mount.path.strip("/").split("/")[0]
        if top in HOST_DIRS or top in ("dev", "proc") or not mount.path.startswith("/"):
            # The container sees these host directories read-only, or the kernel's
            # (/dev, /proc): a volume there would write into the host's tree.
            raise ManifestError(
                f"{where}.volumeMounts[{i}].mountPath: the local backend cannot mount {mount.path}; "
                "choose an absolute path outside /usr, /etc, /bin, /sbin, /lib*, /dev, /proc (e.g. /var/lib/etcd)"
            )
    pre_stop = (raw.get("lifecycle") or {}).get("preStop")
    return Container(
        name=raw["name"],
        command=tuple(raw["command"]) + tuple(raw.get("args") or ()),
        env=tuple(env),
        mounts=mounts,
        readiness=_probe(raw.get("readinessProbe"), raw, f"{where}.readinessProbe"),
        liveness=_probe(raw.get("livenessProbe"), raw, f"{where}.livenessProbe"),
        startup=_probe(raw.get("startupProbe"), raw, f"{where}.startupProbe"),
        pre_stop=tuple(pre_stop["exec"].get("command", ())) if pre_stop else None,
        working_dir=raw.get("workingDir"),
    )


def _anti_affinity(pod: dict[str, Any], where: str) -> Literal["required", "preferred", "none"]:
    anti = (pod.get("affinity") or {}).get("podAntiAffinity") or {}
    terms = anti.get("requiredDuringSchedulingIgnoredDuringExecution") or []
    preferred = [t["podAffinityTerm"] for t in anti.get("preferredDuringSchedulingIgnoredDuringExecution") or []]
    for term in terms + preferred:
        if term.get("topologyKey") != "kubernetes.io/hostname":
            raise ManifestError(
                f"{where}.affinity.podAntiAffinity: topologyKey {term.get('topologyKey')} is not emulated by the "
                "local backend; use kubernetes.io/hostname"
            )
    return "required" if terms else "preferred" if preferred else "none"


def _volumes(spec: dict[str, Any], where: str, config_maps: dict[str, dict[str, str]]) -> list[Volume]:
    volumes: list[Volume] = []
    for i, v in enumerate(spec["template"]["spec"].get("volumes") or []):
        at = f"{where}.volumes[{i}]"
        if "configMap" in v:
            cm = v["configMap"]
            if not cm.get("name"):
                raise ManifestError(f"{at}.configMap.name: required by the local backend; name the ConfigMap")
            data = config_maps.get(cm["name"])
            if data is None:
                raise ManifestError(f"{at}.configMap.name: ConfigMap {cm['name']} is not defined in the strategy; add it")
            items = tuple((item["key"], item["path"], item.get("mode")) for item in cm.get("items") or [])
            for j, (key, _path, _mode) in enumerate(items):
                if key not in data:
                    raise ManifestError(f"{at}.configMap.items[{j}].key: ConfigMap {cm['name']} has no key {key}; add it or fix the key")
            volumes.append(Volume(v["name"], "configMap", cm["name"], int(cm.get("defaultMode", 0o644)), items))
        else:
            # Any other source was refused by check_fields; a volume with none
            # (``emptyDir:`` rendered as null) is an emptyDir, as the API server defaults it.
            if (v.get("emptyDir") or {}).get("medium"):
                raise ManifestError(f"{at}.emptyDir.medium: {NOT_EMULATED}")
            volumes.append(Volume(v["name"], "emptyDir"))
    for i, template in enumerate(spec.get("volumeClaimTemplates") or []):
        name = (template.get("metadata") or {}).get("name")
        if not name:
            raise ManifestError(f"spec.volumeClaimTemplates[{i}].metadata.name: required field is missing; add it")
        volumes.append(Volume(name, "claim"))
    return volumes


def _replicas(spec: dict[str, Any]) -> int:
    """Kubernetes' default is 1; 0 is a valid StatefulSet but leaves nothing to disrupt or measure."""
    replicas = spec.get("replicas", 1)
    if replicas < 1:
        raise ManifestError(f"spec.replicas: {replicas} leaves no pod to test; set at least 1 (3 for a quorum that survives a fault)")
    return replicas


def _statefulset(doc: dict[str, Any], config_maps: dict[str, dict[str, str]]) -> StatefulSet:
    spec = doc["spec"]
    where = "spec.template.spec"
    pod = spec["template"].get("spec") or {}
    if pod.get("restartPolicy", "Always") != "Always":
        raise ManifestError(f"{where}.restartPolicy: a StatefulSet's pods restart Always; remove it or write Always")
    if len(pod["containers"]) != 1:
        raise ManifestError(f"{where}.containers: the local backend runs exactly one container per pod; keep one")
    policy = spec.get("podManagementPolicy", "OrderedReady")
    if policy not in ("OrderedReady", "Parallel"):
        raise ManifestError(f"spec.podManagementPolicy: {policy!r} is unknown; write OrderedReady or Parallel")
    update = spec.get("updateStrategy") or {}
    if update.get("type", "RollingUpdate") != "RollingUpdate" or update.get("rollingUpdate"):
        raise ManifestError("spec.updateStrategy: only the default RollingUpdate is emulated by the local backend; remove it to run here")
    if not spec.get("serviceName"):
        raise ManifestError("spec.serviceName: required by the local backend (it names the headless Service that gives pods DNS names); add it")
    volumes = _volumes(spec, where, config_maps)
    container = _container(pod["containers"][0], f"{where}.containers[0]")
    known = {v.name for v in volumes}
    for i, mount in enumerate(container.mounts):
        if mount.volume not in known:
            raise ManifestError(
                f"{where}.containers[0].volumeMounts[{i}].name: {mount.volume} names no volume or claim template; "
                "add the volume or fix the name"
            )
    return StatefulSet(
        name=doc["metadata"]["name"],
        namespace=doc["metadata"].get("namespace", "default"),
        service_name=spec["serviceName"],
        replicas=_replicas(spec),
        parallel=policy == "Parallel",
        container=container,
        volumes=tuple(volumes),
        grace_period=float(pod.get("terminationGracePeriodSeconds", 30)),
        anti_affinity=_anti_affinity(pod, where),
    )


def _service(doc: dict[str, Any]) -> Service:
    spec = doc.get("spec") or {}
    if spec.get("clusterIP") != "None":
        raise ManifestError("spec.clusterIP: must be None (headless) for pods to get <pod>.<service> DNS names; write clusterIP: None")
    return Service(doc["metadata"]["name"], bool(spec.get("publishNotReadyAddresses", False)))


def _budget(doc: dict[str, Any]) -> DisruptionBudget:
    spec = doc.get("spec") or {}
    return DisruptionBudget(
        doc["metadata"]["name"],
        spec.get("minAvailable"),
        spec.get("maxUnavailable"),
        spec.get("unhealthyPodEvictionPolicy") or "IfHealthyBudget",
    )


@dataclass(frozen=True)
class _Doc:
    """One document with where it came from, so every error can name the file and the object."""

    origin: str
    body: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.origin}: {self.body['kind']}/{self.body['metadata']['name']}"


@contextmanager
def _about(prefix: str) -> Iterator[None]:
    """Prefix a ManifestError raised inside with the file and the object it concerns."""
    try:
        yield
    except ManifestError as err:
        raise ManifestError(f"{prefix}: {err}") from None
    except KeyError as missing:
        raise ManifestError(f"{prefix}: required field {missing} is missing; add it") from None


def _checked(raw: Any, origin: str) -> _Doc:
    """One document held to the Kubernetes schema first, then to what the local backend emulates."""
    if not isinstance(raw, dict):
        raise ManifestError(f"{origin}: a YAML document is {type(raw).__name__}, not a Kubernetes object; write a mapping with apiVersion, kind, metadata")
    doc = schema.strip_nulls(raw)
    for key in ("apiVersion", "kind"):
        if not isinstance(doc.get(key), str):
            raise ManifestError(f"{origin}: a document has no {key} (or not a string); add it")
    name = doc.get("metadata", {}).get("name") if isinstance(doc.get("metadata"), dict) else None
    with _about(f"{origin}: {doc['kind']}/{name or '(no name)'}"):
        empty = schema.null_item(doc)
        if empty:
            raise ManifestError(f"{empty}: an empty (null) list item; remove the '-' line or fill it in")
        problem = schema.check(doc)
        if problem:
            raise ManifestError(problem)
        if doc["kind"] not in SCHEMAS:
            raise ManifestError(f"kind: {doc['kind']} is not emulated by the local backend; a strategy uses only {', '.join(SCHEMAS)}")
        if not name:
            raise ManifestError("metadata.name: required by the harness (generateName is not emulated); add it")
        check_fields(doc, SCHEMAS[doc["kind"]], "")
    return _Doc(origin, doc)


def _count_error(found: list[_Doc], kind: str, source: str, need: str, fix: str) -> ManifestError:
    listed = ", ".join(f"{d.body['metadata']['name']} in {Path(d.origin).name}" for d in found) or "none in its *.yaml files"
    return ManifestError(f"{source}: a strategy needs {need} {kind}, found {len(found)} ({listed}); {fix}")


def _exactly_one(by_kind: dict[str, list[_Doc]], kind: str, source: str) -> _Doc:
    found = by_kind.get(kind, [])
    if len(found) != 1:
        raise _count_error(found, kind, source, "exactly one", "keep one" if found else "add one")
    return found[0]


def _at_most_one(by_kind: dict[str, list[_Doc]], kind: str, source: str) -> _Doc | None:
    found = by_kind.get(kind, [])
    if len(found) > 1:
        raise _count_error(found, kind, source, "at most one", "keep one or none")
    return found[0] if found else None


def parse(documents: list[Any], source: str = "manifests", origins: list[str] | None = None) -> Manifests:
    """Check and parse the documents of one strategy; ``origins`` names each document's file."""
    docs = [_checked(raw, origin) for raw, origin in zip(documents, origins or [source] * len(documents))]
    by_kind: dict[str, list[_Doc]] = {}
    for doc in docs:
        by_kind.setdefault(doc.body["kind"], []).append(doc)
    sts_doc = _exactly_one(by_kind, "StatefulSet", source)
    svc_doc = _exactly_one(by_kind, "Service", source)
    pdb_doc = _at_most_one(by_kind, "PodDisruptionBudget", source)
    config_maps = {d.body["metadata"]["name"]: dict(d.body.get("data") or {}) for d in by_kind.get("ConfigMap", [])}
    with _about(svc_doc.label):
        service = _service(svc_doc.body)
    with _about(sts_doc.label):
        sts = _statefulset(sts_doc.body, config_maps)
        if service.name != sts.service_name:
            raise ManifestError(f"spec.serviceName: {sts.service_name} names no Service (the strategy's Service is {service.name}); make them match")
    budget = _budget(pdb_doc.body) if pdb_doc else None
    return Manifests(sts, service, budget, config_maps, tuple(d.body for d in docs))


def _yaml_problem(path: Path, err: yaml.YAMLError) -> str:
    """``file:line:column: problem``, one line, where PyYAML's own message spans several."""
    mark = getattr(err, "problem_mark", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
    problem = " ".join(str(p) for p in (getattr(err, "context", None), getattr(err, "problem", None)) if p) or str(err).splitlines()[0]
    return f"{where}: not valid YAML: {problem}; fix the syntax there"


def load(directory: Path) -> Manifests:
    """Read every ``*.yaml`` in a strategy directory except its metadata file."""
    documents: list[Any] = []
    origins: list[str] = []
    for path in sorted(directory.glob("*.yaml")):
        if path.name == "strategy.yaml":
            continue
        try:
            found = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        except yaml.YAMLError as err:
            raise ManifestError(_yaml_problem(path, err)) from None
        except UnicodeDecodeError as err:
            raise ManifestError(f"{path}: not UTF-8 text (byte {err.start}); save it as UTF-8") from None
        documents += found
        origins += [str(path)] * len(found)
    return parse(documents, str(directory), origins)
