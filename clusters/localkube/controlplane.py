"""The control plane: its own etcd, the API server, the controller manager and the scheduler.

Configured as kubeadm and kind configure theirs (RBAC and Node authorization,
the API server's default admission plus NodeRestriction, controllers with
their own service-account credentials), because the verdicts depend on the
real controllers' behaviour: the StatefulSet controller's ordering, the
disruption controller's PDB status, the endpoint-slice controller's ready and
serving conditions. Leader election is off: there is one of each.

The API server advertises ``CONTROL_PLANE_IP``: a loopback address would be
refused ("may not be in the loopback range"), and pods must reach it through
the ``kubernetes`` Service.
"""

from __future__ import annotations

from clusters.localkube import build, layout, pki
from clusters.localkube.layout import Layout
from clusters.localkube.record import Record

# (file, CN, groups): the names RBAC's bootstrap policy binds
CLIENTS = (
    ("admin", "etcd-chaos-admin", ("system:masters",)),
    ("controller-manager", "system:kube-controller-manager", ()),
    ("scheduler", "system:kube-scheduler", ()),
    ("kube-proxy", "system:kube-proxy", ()),
    # the API server's client to kubelets (logs, exec, port-forward); kubeadm's has system:masters too
    ("apiserver-kubelet-client", "kube-apiserver-kubelet-client", ("system:masters",)),
)


def make_pki(root: Layout) -> None:
    """Every key, certificate and kubeconfig of the cluster, fresh."""
    authority = pki.Authority(root.pki)
    authority.issue(
        pki.Identity(
            "apiserver", "kube-apiserver", server=True, client=False,
            dns_names=("kubernetes", "kubernetes.default", "kubernetes.default.svc",
                       f"kubernetes.default.svc.{layout.CLUSTER_DOMAIN}", "localhost"),
            ips=("127.0.0.1", layout.CONTROL_PLANE_IP, layout.API_SERVICE_IP),
        )
    )
    for file, common_name, groups in CLIENTS:
        crt, key = authority.issue(pki.Identity(file, common_name, groups))
        pki.kubeconfig(root.pki / f"{file}.kubeconfig", root.api_url, authority, crt, key, common_name)
    for node in root.nodes:
        crt, key = authority.issue(pki.Identity(f"kubelet-client-{node.name}", f"system:node:{node.name}", ("system:nodes",)))
        pki.kubeconfig(root.pki / f"kubelet-{node.name}.kubeconfig", root.api_url, authority, crt, key, node.name)
        authority.issue(pki.Identity(f"kubelet-{node.name}", node.name, server=True, client=False,
                                     dns_names=(node.name,), ips=(node.ip,)))
    pki.service_account_keys(root.pki)
    root.kubeconfig.write_text((root.pki / "admin.kubeconfig").read_text())
    root.kubeconfig.chmod(0o600)


def start_etcd(root: Layout, tools: build.Toolset, record: Record) -> None:
    client = f"http://127.0.0.1:{layout.ETCD_CLIENT_PORT}"
    record.start("etcd", [
        str(tools.etcd_bin / "etcd"), "--name", "control-plane", "--data-dir", str(root.root / "etcd"),
        "--listen-client-urls", client, "--advertise-client-urls", client,
        "--listen-peer-urls", f"http://127.0.0.1:{layout.ETCD_PEER_PORT}",
        "--initial-advertise-peer-urls", f"http://127.0.0.1:{layout.ETCD_PEER_PORT}",
        "--initial-cluster", f"control-plane=http://127.0.0.1:{layout.ETCD_PEER_PORT}",
        "--log-level", "warn",
    ], root.logs / "etcd.log")


def start_apiserver(root: Layout, tools: build.Toolset, record: Record) -> None:
    p = root.pki
    record.start("kube-apiserver", [
        str(tools.kube("kube-apiserver")),
        f"--etcd-servers=http://127.0.0.1:{layout.ETCD_CLIENT_PORT}",
        f"--bind-address={layout.CONTROL_PLANE_IP}", f"--advertise-address={layout.CONTROL_PLANE_IP}",
        f"--secure-port={layout.API_PORT}",
        f"--tls-cert-file={p / 'apiserver.crt'}", f"--tls-private-key-file={p / 'apiserver.key'}",
        f"--client-ca-file={p / 'ca.crt'}",
        "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
        f"--kubelet-client-certificate={p / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={p / 'apiserver-kubelet-client.key'}",
        f"--kubelet-certificate-authority={p / 'ca.crt'}",
        "--kubelet-preferred-address-types=InternalIP",  # else `kubectl logs` dials the node's name
        "--service-account-issuer=https://kubernetes.default.svc",
        f"--service-account-key-file={p / 'sa.pub'}", f"--service-account-signing-key-file={p / 'sa.key'}",
        f"--service-cluster-ip-range={layout.SERVICE_CIDR}", "--allow-privileged=true",
        "--profiling=false",
    ], root.logs / "kube-apiserver.log")


def start_controller_manager(root: Layout, tools: build.Toolset, record: Record) -> None:
    p = root.pki
    kubeconfig = p / "controller-manager.kubeconfig"
    record.start("kube-controller-manager", [
        str(tools.kube("kube-controller-manager")),
        f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}", "--leader-elect=false", "--bind-address=127.0.0.1",
        f"--service-account-private-key-file={p / 'sa.key'}", f"--root-ca-file={p / 'ca.crt'}",
        f"--cluster-signing-cert-file={p / 'ca.crt'}", f"--cluster-signing-key-file={p / 'ca.key'}",
        "--use-service-account-credentials=true", f"--service-cluster-ip-range={layout.SERVICE_CIDR}",
        "--profiling=false",
    ], root.logs / "kube-controller-manager.log")


def start_scheduler(root: Layout, tools: build.Toolset, record: Record) -> None:
    kubeconfig = root.pki / "scheduler.kubeconfig"
    record.start("kube-scheduler", [
        str(tools.kube("kube-scheduler")),
        f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}", "--leader-elect=false", "--bind-address=127.0.0.1",
        "--profiling=false",
    ], root.logs / "kube-scheduler.log")


def start_kube_proxy(root: Layout, tools: build.Toolset, record: Record) -> None:
    """One kube-proxy serves every node: they share this machine's network namespace, where its rules live."""
    record.start("kube-proxy", kube_proxy_argv(root, tools), root.logs / "kube-proxy.log")


def kube_proxy_argv(root: Layout, tools: build.Toolset, *extra: str) -> list[str]:
    return [
        str(tools.kube("kube-proxy")), f"--kubeconfig={root.pki / 'kube-proxy.kubeconfig'}",
        "--proxy-mode=nftables", f"--cluster-cidr={layout.CLUSTER_CIDR}", f"--hostname-override={root.nodes[0].name}",
        "--metrics-bind-address=127.0.0.1:10249", "--healthz-bind-address=127.0.0.1:10256", *extra,
    ]
