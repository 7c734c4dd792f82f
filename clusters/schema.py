"""Hold every manifest to the Kubernetes API's own schemas before anything else reads it.

A strategy is applied unchanged to a real cluster, so a manifest the API server
would refuse (``replicas: three``, a string where a list belongs, a misspelled
field) must be refused here too, with one line that says where and what to do,
instead of surfacing later as a traceback or, worse, as a quietly different
pod (a ``command`` string iterated character by character). The schemas are
the OpenAPI ones that kubernetes-validate bundles for one pinned version, in
its strict mode (unknown fields refused, as ``kubectl apply`` does with
server-side field validation ``Strict``); they work offline.
"""

from __future__ import annotations

import difflib
import shlex
from typing import Any

import jsonschema
import kubernetes_validate

# The Kubernetes version whose API schemas every manifest must satisfy.
KUBERNETES_VERSION = "1.37"

# The API group/version of the kinds strategies use most, to say which one to write.
API_VERSIONS = {
    "StatefulSet": "apps/v1", "Service": "v1", "PodDisruptionBudget": "policy/v1", "ConfigMap": "v1", "Secret": "v1",
    "ServiceAccount": "v1", "Role": "rbac.authorization.k8s.io/v1", "RoleBinding": "rbac.authorization.k8s.io/v1",
    "NetworkPolicy": "networking.k8s.io/v1", "Deployment": "apps/v1", "Job": "batch/v1",
}

_TYPE_WORDS = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping",
}


def strip_nulls(value: Any) -> Any:
    """The value with every null mapping entry removed, at any depth.

    The API server decodes a null field as an absent one, and Helm charts
    render empty fields (``envFrom:``, ``annotations:``) as nulls all the
    time; refusing them, or reading them as values, would reject charts the
    API server accepts. List items are kept: a null item is no absent field.
    """
    if isinstance(value, dict):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(item) for item in value]
    return value


def null_item(value: Any, path: tuple[str | int, ...] = ()) -> str | None:
    """The path of the first null list item in ``value``, or None.

    Unlike a null field, a null item is not "absent": the API server decodes
    it as an empty object (a container without a name, say) and refuses it,
    while the schema lets it through.
    """
    children = enumerate(value) if isinstance(value, list) else value.items() if isinstance(value, dict) else ()
    for key, item in children:
        found = field_path([*path, key]) if item is None and isinstance(value, list) else null_item(item, (*path, key))
        if found:
            return found
    return None


def field_path(parts: list[str | int] | tuple[str | int, ...]) -> str:
    """``spec.template.spec.containers[0].command``, as kubectl names fields."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def check(doc: dict[str, Any]) -> str | None:
    """Why the API server of ``KUBERNETES_VERSION`` would refuse ``doc`` (field path first), or None.

    ``doc`` must already be stripped of nulls and carry string ``apiVersion``
    and ``kind`` (the caller names those problems itself).
    """
    kind, api_version = doc["kind"], doc["apiVersion"]
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        if kind in API_VERSIONS:
            return f"apiVersion: {kind} is not served at {api_version}; write apiVersion: {API_VERSIONS[kind]}"
        return None  # a custom resource, or a kind only the cluster knows: its API server judges it
    except jsonschema.ValidationError as err:
        return _explain(err)
    return None


def _explain(err: jsonschema.ValidationError) -> str:
    """One line for a schema violation: the field, what is wrong, what to write instead."""
    where = field_path(list(err.absolute_path)) or "(document)"
    schema = err.schema if isinstance(err.schema, dict) else {}
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = sorted(schema.get("properties", {}))
        unknown = sorted(set(err.instance) - set(allowed))
        name = unknown[0] if unknown else "?"
        close = difflib.get_close_matches(name, allowed, n=1)
        hint = f"did you mean {close[0]}?" if close else "remove it or check its spelling"
        return f"{field_path([*err.absolute_path, name])}: unknown field (not in the Kubernetes {KUBERNETES_VERSION} schema); {hint}"
    if err.validator == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        return f"{field_path([*err.absolute_path, missing])}: required field is missing; add it"
    if err.validator == "type":
        wanted = [t for t in _as_list(err.validator_value) if t != "null"]
        words = " or ".join(_TYPE_WORDS.get(t, t) for t in wanted)
        return f"{where}: must be {words}, not {err.instance!r}; {_type_hint(err.instance, wanted)}"
    if err.validator == "enum":
        return f"{where}: {err.instance!r} is not allowed; write one of {', '.join(map(str, err.validator_value))}"
    return f"{where}: {err.message}; see the Kubernetes {KUBERNETES_VERSION} API reference for this field"


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _type_hint(value: Any, wanted: list[str]) -> str:
    if "array" in wanted:
        if isinstance(value, str) and _splits(value):
            return f"write one list item per argument, e.g. {shlex.split(value)!r}"
        return "write it as a list, one '- ' line per item"
    if "integer" in wanted or "number" in wanted:
        return "write a plain number, without quotes or units"
    if "boolean" in wanted:
        return "write true or false, without quotes"
    if "string" in wanted:
        return "quote the value"
    if "object" in wanted:
        return "write a mapping of key: value lines here, not a list or a scalar"
    return f"see the Kubernetes {KUBERNETES_VERSION} API reference for this field"


def _splits(value: str) -> bool:
    try:
        shlex.split(value)
    except ValueError:
        return False
    return True
