"""Which cluster a kubeconfig points at, and whether it looks like one nobody should disrupt.

The existing backend deletes pods, evicts them and removes namespaces: run
against the wrong context it is an outage. So before anything is sent, the
context is resolved the way the ``kubernetes`` client will resolve it, and a
context, cluster or server whose name says production is refused unless the
user opts in: a mistyped ``--context`` must end with one line, not with a
drained node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kubernetes.config import ConfigException
from kubernetes.config.kube_config import KUBE_CONFIG_DEFAULT_LOCATION, list_kube_config_contexts

# A word of the name, between separators: "prod-eu", "gke_acme_prod", "live.example" match; "product" does not.
PRODUCTION_WORDS = re.compile(r"(?:^|[^a-z0-9])(prod|production|prd|live)(?:[^a-z0-9]|$)", re.IGNORECASE)


class ContextError(ValueError):
    """The kubeconfig or the context cannot be used; the message is one line with the fix."""


@dataclass(frozen=True)
class Target:
    kubeconfig: Path
    context: str
    cluster: str
    server: str

    def production_hint(self) -> str | None:
        """Which of the context's names says production, or None."""
        for what, value in (("context", self.context), ("cluster", self.cluster), ("server", self.server)):
            if PRODUCTION_WORDS.search(value):
                return f"its {what} is {value!r}"
        return None


def resolve(kubeconfig: Path | None, context: str | None) -> Target:
    """The context ``--kubeconfig``/``--context`` select, or the kubeconfig's current one, as the client reads it."""
    path = Path(kubeconfig or KUBE_CONFIG_DEFAULT_LOCATION).expanduser()
    if not path.is_file():
        raise ContextError(f"--backend existing: no kubeconfig at {path}; pass --kubeconfig FILE")
    try:
        contexts, current = list_kube_config_contexts(config_file=str(path))
    except ConfigException as error:
        raise ContextError(f"--backend existing: {path}: {error}") from None
    by_name = {entry["name"]: entry for entry in contexts}
    chosen = by_name.get(context) if context else current
    if chosen is None:
        names = ", ".join(sorted(by_name)) or "none"
        raise ContextError(f"--context {context}: {path} has no such context (its contexts: {names})")
    cluster = (chosen.get("context") or {}).get("cluster", "")
    server = _server(path, cluster)
    return Target(path, chosen["name"], cluster, server)


def _server(path: Path, cluster: str) -> str:
    import yaml

    document = yaml.safe_load(path.read_text()) or {}
    for entry in document.get("clusters") or []:
        if entry.get("name") == cluster:
            return (entry.get("cluster") or {}).get("server", "")
    return ""
