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
        resource = _resource(api, doc)
        body = in_namespace(doc, namespace, resource.namespaced)
        try:
            resource.server_side_apply(
                body=body,
                namespace=namespace if resource.namespaced else None,
                field_manager=FIELD_MANAGER,
                force_conflicts=True,
                query_params=[("fieldValidation", "Strict")],
            )
        except dynamic.exceptions.DynamicApiError as error:
            raise ApplyError(f"{label(doc)}: the API server refused it: {refusal(error)}") from None


def _resource(api: Api, doc: dict[str, Any]) -> Any:
    deadline = time.monotonic() + DISCOVERY_WAIT
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
