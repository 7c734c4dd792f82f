"""A certificate authority and every certificate a cluster needs, made fresh for each cluster.

Each component gets the identity Kubernetes' own authorizers expect (the
Node authorizer and NodeRestriction know a kubelet by ``system:node:NAME`` in
``system:nodes``; RBAC's bootstrap bindings know ``system:kube-scheduler``,
``system:kube-controller-manager`` and ``system:kube-proxy``), so the cluster
runs with RBAC and Node authorization on, as kubeadm and kind make it, and no
component is trusted more than it would be there. ECDSA P-256 keys: quick to
make, which matters when every smoke test may start a cluster.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_FOR = datetime.timedelta(days=30)


@dataclass(frozen=True)
class Identity:
    """A certificate request: who, in which groups, for serving and/or as a client."""

    file: str
    common_name: str
    groups: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    server: bool = False
    client: bool = True


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _write(path: Path, content: bytes, private: bool) -> None:
    path.write_bytes(content)
    path.chmod(0o600 if private else 0o644)


class Authority:
    """The cluster's CA; it signs every serving and client certificate."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.key = _key()
        now = datetime.datetime.now(datetime.timezone.utc)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "etcd-chaos-ca")])
        self.name = name
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALID_FOR)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .sign(self.key, hashes.SHA256())
        )
        _write(self.ca_file, self.cert.public_bytes(serialization.Encoding.PEM), private=False)
        _write(directory / "ca.key", _pem_key(self.key), private=True)

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key_file(self) -> Path:
        return self.directory / "ca.key"

    def issue(self, who: Identity) -> tuple[Path, Path]:
        """Write ``<file>.crt`` and ``<file>.key``; return their paths."""
        key = _key()
        now = datetime.datetime.now(datetime.timezone.utc)
        subject = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in who.groups]
        subject.append(x509.NameAttribute(NameOID.COMMON_NAME, who.common_name))
        usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if who.server else []) + (
            [ExtendedKeyUsageOID.CLIENT_AUTH] if who.client else []
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(subject))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALID_FOR)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        )
        alt_names: list[x509.GeneralName] = [x509.DNSName(d) for d in who.dns_names]
        alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in who.ips]
        if alt_names:
            builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        crt, key_file = self.directory / f"{who.file}.crt", self.directory / f"{who.file}.key"
        _write(crt, cert.public_bytes(serialization.Encoding.PEM), private=False)
        _write(key_file, _pem_key(key), private=True)
        return crt, key_file


def service_account_keys(directory: Path) -> tuple[Path, Path]:
    """The key pair that signs and checks service-account tokens (``sa.key``, ``sa.pub``)."""
    key = _key()
    private, public = directory / "sa.key", directory / "sa.pub"
    _write(private, _pem_key(key), private=True)
    pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    _write(public, pub, private=False)
    return private, public


def kubeconfig(path: Path, server: str, authority: Authority, cert: Path, key: Path, user: str) -> Path:
    """A kubeconfig with the cluster's CA and one client certificate, by file path (readable, no base64)."""
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: etcd-chaos\n  cluster:\n    server: {server}\n    certificate-authority: {authority.ca_file}\n"
        f"users:\n- name: {user}\n  user:\n    client-certificate: {cert}\n    client-key: {key}\n"
        f"contexts:\n- name: etcd-chaos\n  context:\n    cluster: etcd-chaos\n    user: {user}\n"
        "current-context: etcd-chaos\n"
    )
    path.chmod(0o600)
    return path
