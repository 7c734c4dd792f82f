"""The local Kubernetes' pure parts: versions, addresses, images, certificates, configs, add-ons.

What needs root, Go or a running cluster is in tests/integration/test_kubernetes_smoke.py.
"""

from __future__ import annotations

import gzip
import ipaddress
import hashlib
import io
import json
import signal
import socket
import subprocess
import tarfile
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from clusters import image_names
from clusters.localkube import build, cluster, controlplane, gobuild, images, layout, node, preflight, provisioner, versions
from clusters.localkube import record as record_module
from clusters.localkube.record import Record, changing as record_changing
from clusters.localkube.gobuild import BuildError


def test_staging_modules_are_published_as_v0() -> None:
    assert versions.staging_version("v1.37.2") == "v0.37.2"
    with pytest.raises(ValueError):
        versions.staging_version("v2.0.0")


def test_replace_lines_are_repeated_with_the_proxy_standing_in_for_relative_paths() -> None:
    replaces = [
        {"Old": {"Path": "k8s.io/api"}, "New": {"Path": "./staging/src/k8s.io/api"}},
        {"Old": {"Path": "example.com/a", "Version": "v1.0.0"}, "New": {"Path": "example.com/b", "Version": "v1.2.0"}},
    ]
    assert gobuild.replace_arguments(gobuild.KUBERNETES, replaces) == [
        f"-replace=k8s.io/api=k8s.io/api@{versions.staging_version()}",
        "-replace=example.com/a@v1.0.0=example.com/b@v1.2.0",
    ]
    with pytest.raises(BuildError, match="by a path inside it"):
        gobuild.replace_arguments(gobuild.COREDNS, replaces[:1])


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("etcd-chaos/etcd:3.5.1", "docker.io/etcd-chaos/etcd:3.5.1"),
        ("busybox:1.35", "docker.io/library/busybox:1.35"),
        ("registry.example:5000/x/y:1", "registry.example:5000/x/y:1"),
        ("localhost/x:1", "localhost/x:1"),
    ],
)
def test_image_names_are_qualified_as_containerd_stores_them(given: str, stored: str) -> None:
    assert image_names.fully_qualified(given) == stored


def _read_layout(tar_path: Path) -> tuple[dict, dict, dict, bytes]:
    with tarfile.open(tar_path) as tar:
        index = json.loads(tar.extractfile("index.json").read())

        def blob(digest: str) -> bytes:
            content = tar.extractfile(f"blobs/sha256/{digest.split(':')[1]}").read()
            assert "sha256:" + hashlib.sha256(content).hexdigest() == digest
            return content

        manifest = json.loads(blob(index["manifests"][0]["digest"]))
        config = json.loads(blob(manifest["config"]["digest"]))
        return index, manifest, config, gzip.decompress(blob(manifest["layers"][0]["digest"]))


def test_strategy_image_is_a_valid_layout_with_every_tool(tmp_path: Path, fake_inputs: dict[str, Path]) -> None:
    image = images.strategy_image(fake_inputs["etcd_bin"], "3.5.1", fake_inputs["busybox"], fake_inputs["getent"])
    index, manifest, config, raw = _read_layout(images.write_layout(image, tmp_path / "out"))
    assert index["manifests"][0]["annotations"]["io.containerd.image.name"] == "docker.io/etcd-chaos/etcd:3.5.1"
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(raw).hexdigest()]
    assert config["config"]["Env"] == [f"PATH={images.STRATEGY_PATH}"]
    with tarfile.open(fileobj=io.BytesIO(raw)) as layer:
        members = {m.name: m for m in layer.getmembers()}
    assert members["bin/sh"].issym() and members["bin/sh"].linkname == "busybox"
    assert "bin/busybox" in members and not members["bin/busybox"].issym()
    assert {"usr/local/bin/etcd", "usr/local/bin/etcdctl", "usr/local/bin/etcdutl", "usr/local/bin/getent", "etc/passwd"} <= set(members)
    assert members["tmp"].mode == 0o1777
    names = [m for m in members]
    assert all(names.index(str(Path(n).parent)) < names.index(n) for n in names if "/" in n), "parents first"


def test_images_are_reproducible_and_rewritten_only_when_an_input_changes(
    tmp_path: Path, fake_inputs: dict[str, Path]
) -> None:
    image = images.strategy_image(fake_inputs["etcd_bin"], "3.5.1", fake_inputs["busybox"], fake_inputs["getent"])
    first = images.write_layout(image, tmp_path / "a").read_bytes()
    assert images.write_layout(image, tmp_path / "b").read_bytes() == first
    written = images.write_layout(image, tmp_path / "a")
    before = written.stat().st_mtime_ns
    images.write_layout(image, tmp_path / "a")
    assert written.stat().st_mtime_ns == before, "an unchanged image is not written again"
    (fake_inputs["etcd_bin"] / "etcd").write_bytes(b"another etcd")
    assert images.write_layout(image, tmp_path / "a").read_bytes() != first


def test_the_kind_rootfs_is_the_same_tree(tmp_path: Path, fake_inputs: dict[str, Path]) -> None:
    image = images.strategy_image(fake_inputs["etcd_bin"], "3.5.1", fake_inputs["busybox"], fake_inputs["getent"])
    images.write_rootfs(image, tmp_path / "rootfs")
    assert (tmp_path / "rootfs/bin/sh").readlink() == Path("busybox")
    assert (tmp_path / "rootfs/usr/local/bin/etcdctl").read_bytes() == b"binary etcdctl"


def test_the_dockerfile_runs_the_image_as_the_local_one_does() -> None:
    text = (Path(images.__file__).parent / "Dockerfile").read_text()
    assert "FROM scratch" in text and "COPY rootfs/ /" in text
    assert f'ENV PATH={images.STRATEGY_PATH}' in text
    assert 'ENTRYPOINT ["/bin/sh"]' in text


def test_nodes_have_distinct_addresses_ports_bridges_and_cgroups(tmp_path: Path) -> None:
    root = layout.Layout.of(3, tmp_path)
    for attribute in ("ip", "pod_cidr", "bridge", "cgroup", "kubelet_port", "healthz_port", "containerd_socket"):
        values = [getattr(n, attribute) for n in root.nodes]
        assert len(set(values)) == len(values), attribute
    assert all(n.pod_cidr.subnet_of(layout.CLUSTER_CIDR) for n in root.nodes)
    assert not any(ipaddress.ip_address(layout.CONTROL_PLANE_IP) in n.pod_cidr for n in root.nodes)
    assert len({n.zone for n in root.nodes}) == 3
    assert all(len(n.bridge) <= 15 for n in layout.Layout.of(layout.MAX_NODES, tmp_path).nodes), "IFNAMSIZ"
    with pytest.raises(ValueError, match="--nodes 0"):
        layout.Layout.of(0, tmp_path)


def _subject(cert_file: Path) -> tuple[str, list[str]]:
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    common = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    return common, [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]


def test_every_component_gets_the_identity_kubernetes_authorizers_expect(tmp_path: Path) -> None:
    root = layout.Layout.of(2, tmp_path)
    controlplane.make_pki(root)
    ca = x509.load_pem_x509_certificate((root.pki / "ca.crt").read_bytes())
    assert _subject(root.pki / "kubelet-client-node-1.crt") == ("system:node:node-1", ["system:nodes"])
    assert _subject(root.pki / "scheduler.crt") == ("system:kube-scheduler", [])
    assert _subject(root.pki / "kube-proxy.crt") == ("system:kube-proxy", [])
    assert _subject(root.pki / "admin.crt")[1] == ["system:masters"]
    serving = x509.load_pem_x509_certificate((root.pki / "apiserver.crt").read_bytes())
    serving.verify_directly_issued_by(ca)
    ips = {str(ip) for ip in serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
           .get_values_for_type(x509.IPAddress)}
    assert {layout.CONTROL_PLANE_IP, layout.API_SERVICE_IP, "127.0.0.1"} <= ips
    kubelet = x509.load_pem_x509_certificate((root.pki / "kubelet-node-0.crt").read_bytes())
    kubelet.verify_directly_issued_by(ca)
    assert root.nodes[0].ip in {str(ip) for ip in kubelet.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value.get_values_for_type(x509.IPAddress)}
    config = yaml.safe_load(root.kubeconfig.read_text())
    assert config["clusters"][0]["cluster"]["server"] == root.api_url
    assert (root.pki / "sa.key").stat().st_mode & 0o077 == 0, "private keys are the owner's only"


def _tools(tmp_path: Path) -> build.Toolset:
    names = {"pause": "docker.io/etcd-chaos/pause:1", "coredns": "docker.io/etcd-chaos/coredns:v1",
             "etcd 3.5.1": "docker.io/etcd-chaos/etcd:3.5.1"}
    return build.Toolset(tmp_path, tmp_path / "coredns", tmp_path / "crictl", tmp_path / "deb",
                         tmp_path / "etcd", tmp_path / "getent", {}, names)


def test_node_configs_keep_each_node_to_its_own_runtime_network_and_cgroup(tmp_path: Path) -> None:
    root = layout.Layout.of(2, tmp_path)
    second = root.nodes[1]
    kubelet = node.kubelet_config(second, root)
    assert kubelet["cgroupRoot"] == second.cgroup and kubelet["address"] == second.ip
    assert kubelet["containerRuntimeEndpoint"] == f"unix://{second.containerd_socket}"
    assert kubelet["clusterDNS"] == [layout.DNS_SERVICE_IP]
    assert kubelet["failCgroupV1"] is False and kubelet["cgroupDriver"] == "cgroupfs"
    # a kubelet's garbage collector removes the log directories of pods it does not run
    assert kubelet["podLogsDir"] == str(second.pod_logs) != str(root.nodes[0].pod_logs)
    cni = node.cni_config(second)
    bridge = cni["plugins"][0]
    assert bridge["bridge"] == second.bridge and bridge["ipam"]["ranges"][0][0]["subnet"] == str(second.pod_cidr)
    assert {"dst": "0.0.0.0/0"} in bridge["ipam"]["routes"]
    toml = node.containerd_config(second, _tools(tmp_path))
    assert str(second.containerd_socket) in toml and "restrict_oom_score_adj = true" in toml
    assert 'sandbox_image = "docker.io/etcd-chaos/pause:1"' in toml
    assert toml.count(node.NO_REGISTRY) == 2, "no image is ever pulled from outside"


def test_addons_are_valid_kubernetes_objects_with_this_clusters_values(tmp_path: Path) -> None:
    root = layout.Layout.of(3, tmp_path)
    documents = [d for text in cluster.render_addons(root, _tools(tmp_path)) for d in yaml.safe_load_all(text) if d]
    for document in documents:
        kubernetes_validate.validate(document, "1.37", strict=True)
    by_kind = {(d["kind"], d["metadata"]["name"]): d for d in documents}
    assert by_kind[("Service", "kube-dns")]["spec"]["clusterIP"] == layout.DNS_SERVICE_IP
    storage = by_kind[("StorageClass", "standard")]
    assert storage["volumeBindingMode"] == "WaitForFirstConsumer"
    assert storage["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert storage["provisioner"] == provisioner.PROVISIONER and storage["reclaimPolicy"] == "Delete"
    corefile = by_kind[("ConfigMap", "coredns")]["data"]["Corefile"]
    assert "forward" not in corefile, "no query leaves the cluster"


def test_preflight_refuses_a_second_cluster_and_names_the_fix(tmp_path: Path) -> None:
    root = layout.Layout.of(3, tmp_path)
    root.root.mkdir(parents=True, exist_ok=True)
    Record(root.record, nodes=3).save()
    assert preflight.problems(root)[-1] == f"a cluster is already up ({root.root}): etcd-chaos cluster down"


def test_preflight_names_every_port_in_use(tmp_path: Path) -> None:
    root = layout.Layout.of(3, tmp_path)
    assert len(set(preflight.ports(root))) == len(preflight.ports(root))
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", root.nodes[2].kubelet_port))
        listener.listen()
        found = [p for p in preflight.problems(root) if p.startswith("ports in use")]
    assert found and str(root.nodes[2].kubelet_port) in found[0]


def test_a_record_stops_only_the_processes_it_started(tmp_path: Path) -> None:
    record = Record(tmp_path / "record.json")
    record.save()
    record.start("sleeper", ["sleep", "30"], tmp_path / "sleeper.log")
    record.start("stubborn", ["sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"], tmp_path / "stubborn.log")
    loaded = Record.load(tmp_path / "record.json")
    assert [p.name for p in loaded.processes] == ["sleeper", "stubborn"]
    loaded.stop(["sleeper", "stubborn"], grace=0.5)
    assert not any(p.alive() for p in record.processes)


def test_a_process_started_after_the_cluster_was_taken_down_does_not_outlive_it(tmp_path: Path, monkeypatch) -> None:
    """A node brought back while the session's end removed the record: no record would list it, so it is ended."""
    started: list[subprocess.Popen] = []
    popen = subprocess.Popen
    monkeypatch.setattr(record_module.subprocess, "Popen", lambda *a, **k: started.append(popen(*a, **k)) or started[-1])
    record = Record(tmp_path / "record.json")
    with pytest.raises(FileNotFoundError, match="taken down while kubelet-node-1 started"):
        record.start("kubelet-node-1", ["sleep", "30"], tmp_path / "kubelet-1.log")
    assert record.processes == [] and not (tmp_path / "record.json").exists()
    assert [p.returncode for p in started] == [-signal.SIGKILL]


def test_a_change_side_by_side_is_not_lost_to_an_older_copy_of_the_record(tmp_path: Path) -> None:
    """A node brought back by one worker while another's node fault forgets its node's processes: both changes stay."""
    path = tmp_path / "record.json"
    first = Record(path)
    first.save()
    first.start("kube-apiserver", ["sleep", "30"], tmp_path / "apiserver.log")
    first.start("kubelet-node-1", ["sleep", "30"], tmp_path / "kubelet-1.log")
    older = Record.load(path)  # the worker bringing node-2 back holds this copy while its containerd starts
    with record_changing(path) as now:  # meanwhile another worker's node-down of node-1
        now.processes = [p for p in now.processes if p.name != "kubelet-node-1"]
    older.start("kubelet-node-2", ["sleep", "30"], tmp_path / "kubelet-2.log")
    saved = Record.load(path)
    assert [p.name for p in saved.processes] == ["kube-apiserver", "kubelet-node-2"]
    assert [p.name for p in saved.control_plane()] == ["kube-apiserver"], "a node fault's processes are not the control plane"
    saved.stop([p.name for p in saved.processes] + ["kubelet-node-1"], grace=0.5)
    first.stop(["kubelet-node-1"], grace=0.5)


def test_a_wait_that_runs_out_says_what_and_the_last_error() -> None:
    def failing() -> bool:
        raise cluster.ClusterError("kubectl get nodes: connection refused")

    with pytest.raises(cluster.ClusterError, match=r"3 Ready nodes not within 0 s \(last: kubectl get nodes: connection refused\)"):
        cluster.wait_for("3 Ready nodes", failing, 0.3)


def test_a_dynamically_linked_etcd_brings_its_loader_and_libraries(tmp_path: Path) -> None:
    """Debian builds etcd against glibc: without its loader a busybox image says `etcd: not found`."""
    static = tmp_path / "etcd"
    static.write_text("#!/bin/sh\n")
    assert images.shared_libraries([static]) == {}
    dynamic = images.shared_libraries([Path("/bin/ls")])
    assert any(path.startswith("lib") and path.endswith("libc.so.6") for path in dynamic), dynamic
    assert all(source.is_file() for source in dynamic.values())
