"""Apply a strategy's documents as ``kubectl apply --server-side --validate=strict`` would.

The API server is the judge of a manifest, not us: any kind it serves is
accepted (ServiceAccounts, Roles, Secrets, NetworkPolicies, several Services,
custom resources once their CRD is applied), and what it refuses ends the
scenario with its own message in one line. Namespaced objects go into the
scenario's namespace whatever their manifest says, so two scenarios never
share an object and deleting the namespace removes everything.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from kubernetes import dynamic

from clusters.kube.api import Api, ApiError, refusal

FIELD_MANAGER = "etcd-chaos"
# A CRD's kind is served a moment after the CRD is applied: its custom
# resources wait for discovery this long before their refusal is final.
DISCOVERY_WAIT = 10.0


class ApplyError(ValueError):
    """A document the API server refused; the message names the object and quotes the server."""


def label(doc: dict[str, Any]) -> str:
    return f"{doc.get('kind', '?')}/{(doc.get('metadata') or {}).get('name', '(no name)')}"


def in_namespace(doc: dict[str, Any], namespace: str, namespaced: bool) -> dict[str, Any]:
    """A copy of ``doc`` placed in ``namespace`` (namespaced kinds) or left cluster-wide."""
    placed = copy.deepcopy(doc)
    metadata = placed.setdefault("metadata", {})
    if namespaced:
        metadata["namespace"] = namespace
    else:
        metadata.pop("namespace", None)
    return placed


def apply_all(api: Api, documents: list[dict[str, Any]], namespace: str) -> None:
    """Apply in the order given (a CRD before its resources, a ConfigMap before the pods that mount it)."""
    for doc in documents:
        _apply(api, doc, namespace, _resource(api, doc, DISCOVERY_WAIT), dry_run=False)


def dry_run(api: Api, documents: list[dict[str, Any]], namespace: str) -> None:
    """Have the API server judge every document without storing any (``dryRun=All``).

    Validation, defaulting and admission run as for a real apply, so what a
    real start would refuse is refused here, before a single scenario spends
    its time on it. A custom resource whose CRD is among the documents is the
    one thing left to the real apply: a dry run installs no CRD, so its kind
    is not served yet and its schema cannot judge it.
    """
    own_kinds = {_defined_kind(doc) for doc in documents if doc.get("kind") == "CustomResourceDefinition"}
    for doc in documents:
        if (str(doc.get("apiVersion", "")).split("/")[0], doc.get("kind")) in own_kinds:
            continue
        _apply(api, doc, namespace, _resource(api, doc, 0.0), dry_run=True)


def _apply(api: Api, doc: dict[str, Any], namespace: str, resource: Any, dry_run: bool) -> None:
    body = in_namespace(doc, namespace, resource.namespaced)
    query = [("fieldValidation", "Strict")] + ([("dryRun", "All")] if dry_run else [])
    try:
        resource.server_side_apply(
            body=body,
            namespace=namespace if resource.namespaced else None,
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
            query_params=query,
        )
    except dynamic.exceptions.DynamicApiError as error:
        raise ApplyError(f"{label(doc)}: the API server refused it: {refusal(error)}") from None


def _defined_kind(crd: dict[str, Any]) -> tuple[str, str]:
    spec = crd.get("spec") or {}
    return str(spec.get("group", "")), str((spec.get("names") or {}).get("kind", ""))


def _resource(api: Api, doc: dict[str, Any], wait: float) -> Any:
    deadline = time.monotonic() + wait
    while True:
        try:
            return api.dynamic.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
        except dynamic.exceptions.ResourceNotFoundError:
            if time.monotonic() >= deadline:
                raise ApplyError(
                    f"{label(doc)}: the API server serves no kind {doc['kind']} in {doc['apiVersion']}; "
                    "check apiVersion and kind, or apply its CustomResourceDefinition first"
                ) from None
            api.dynamic.resources.invalidate_cache()
            time.sleep(0.5)
        except ApiError as error:
            raise ApplyError(f"{label(doc)}: {error}") from None
