"""Cluster DNS as each pod's /etc/hosts.

A headless Service publishes ``<pod>.<svc>`` (and the longer forms) for a pod
with an IP that is Ready, or for any such pod, terminating ones included, when
``publishNotReadyAddresses`` is set. The kubelet also writes the pod's own FQDN.
Files are rewritten in place because they are bind-mounted into containers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clusters.local.kubelet import Pod

CLUSTER_DOMAIN = "cluster.local"


@dataclass(frozen=True)
class Zone:
    service: str
    namespace: str
    publish_not_ready: bool

    def names(self, pod: str | None = None) -> list[str]:
        base = f"{pod}.{self.service}" if pod else self.service
        return [base, f"{base}.{self.namespace}", f"{base}.{self.namespace}.svc", f"{base}.{self.namespace}.svc.{CLUSTER_DOMAIN}"]

    def published(self, pods: Iterable[Pod]) -> list[Pod]:
        return [
            p
            for p in pods
            if p.ip and p.phase == "Running" and (self.publish_not_ready or (p.ready and not p.terminating))
        ]

    def records(self, pods: Iterable[Pod]) -> list[tuple[str, list[str]]]:
        """The address records the Service's DNS would answer with now."""
        published = sorted(self.published(pods), key=lambda p: p.ordinal)
        lines = [(p.ip or "", self.names(p.name)) for p in published]
        lines += [(p.ip or "", self.names()) for p in published]
        return lines

    def hosts_file(self, own: Pod, records: list[tuple[str, list[str]]]) -> str:
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
        if own.ip:
            lines.append(f"{own.ip}\t{own.name}.{self.service}.{self.namespace}.svc.{CLUSTER_DOMAIN}\t{own.name}")
        lines += [f"{ip}\t{' '.join(names)}" for ip, names in records]
        return "\n".join(lines) + "\n"


@dataclass
class CachedAnswer:
    """What a DNS cache keeps answering for one pod name: the old ``ip``, until ``seconds`` after the record changed."""

    ip: str
    seconds: float
    until: float | None = None


Change = tuple[str, str, dict[str, Any]]


def serve_cached(
    zone: Zone, records: list[tuple[str, list[str]]], cache: dict[str, CachedAnswer], now: float
) -> tuple[list[tuple[str, list[str]]], list[Change]]:
    """The records as peers see them through the cache; expired entries leave ``cache``.

    The clock starts when the real record changes (or disappears), since a
    cache only holds an answer it got before the move: the worst case is an
    answer fetched just before it, living its whole TTL.
    """
    changes: list[Change] = []
    for name, cached in list(cache.items()):
        names = zone.names(name)
        current = next((ip for ip, n in records if n == names), None)
        if cached.until is None and current != cached.ip:
            cached.until = now + cached.seconds
            changes.append(("dns-cached", name, {"stale_ip": cached.ip, "new_ip": current, "seconds": cached.seconds}))
        if cached.until is not None and now >= cached.until:
            del cache[name]
            changes.append(("dns-cache-expired", name, {}))
            continue
        records = [(cached.ip, n) if n == names else (ip, n) for ip, n in records]
        if current is None:
            records.append((cached.ip, names))
    return records, changes


def write_in_place(path: Path, text: str) -> None:
    """Rewrite without replacing the inode, so bind mounts see the change."""
    if path.exists() and path.read_text() == text:
        return
    with open(path, "a+") as handle:
        handle.seek(0)
        handle.truncate()
        handle.write(text)


RESOLV_CONF = "nameserver 127.0.0.1\noptions ndots:1 timeout:1 attempts:1\n"
"""Names outside the hosts file fail at once: the pod's own loopback answers 53 with a refusal."""
