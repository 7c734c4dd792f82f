"""One connection to a cluster's API server, and its refusals as one line.

Every call the backend makes goes through the ``kubernetes`` client's typed
APIs (``core``, ``apps``, ``policy``) or, for documents of any kind a strategy
may bring, the dynamic client. Objects are handled as plain dicts in the API's
own camelCase, the shape ``kubectl get -o json`` prints: that is what the pure
functions of ``pods.py`` read, and what a test can write by hand.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

from kubernetes import client, config, dynamic

REQUEST_TIMEOUT = 10.0  # seconds for one call; a watch sets its own


class ApiError(RuntimeError):
    """The API server refused a request; ``status`` is its HTTP status, the message its own words."""

    def __init__(self, message: str, status: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


def refusal(error: client.ApiException | dynamic.exceptions.DynamicApiError) -> ApiError:
    """The API server's ``Status.message`` (what kubectl prints), in one line, with its HTTP status."""
    status = getattr(error, "status", None)
    body = getattr(error, "body", None) or ""
    message, reason = "", str(getattr(error, "reason", "") or "")
    try:
        parsed = json.loads(body)
        message, reason = parsed.get("message", ""), parsed.get("reason", reason)
    except (TypeError, ValueError):
        message = str(body)
    return ApiError(" ".join((message or reason or f"HTTP {status}").split()), status, reason)


class Api:
    """The typed and dynamic clients for one kubeconfig, made once per session."""

    def __init__(self, kubeconfig: Path | None = None, context: str | None = None) -> None:
        self.client = config.new_client_from_config(str(kubeconfig) if kubeconfig else None, context=context)
        self.core = client.CoreV1Api(self.client)
        self.apps = client.AppsV1Api(self.client)
        self.policy = client.PolicyV1Api(self.client)
        self.server: str = self.client.configuration.host

    @cached_property
    def dynamic(self) -> dynamic.DynamicClient:
        """Discovery costs a few requests, so it is done once, when a document first needs it."""
        return dynamic.DynamicClient(self.client)

    def raw(self, call: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Call a typed API method and return its object as the API's JSON, not as a model class."""
        try:
            response = call(*args, _preload_content=False, _request_timeout=REQUEST_TIMEOUT, **kwargs)
        except client.ApiException as error:
            raise refusal(error) from None
        return json.loads(response.data or b"{}")

    def call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        """A typed call whose answer is not needed, its refusal as ``ApiError``."""
        try:
            return method(*args, _request_timeout=REQUEST_TIMEOUT, **kwargs)
        except client.ApiException as error:
            raise refusal(error) from None

    def close(self) -> None:
        self.client.close()
