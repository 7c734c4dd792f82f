import stat
import subprocess

from clusters.local.sandbox import ContainerSpec, RootfsTemplate


def spec(tmp_path, working_dir=None, command=("sh", "-c", 'echo "$PWD $GREETING"')):
    return ContainerSpec(list(command), {"PATH": "/usr/bin:/bin", "GREETING": "hello"}, working_dir, tmp_path, [], [])


def test_command_runs_in_working_dir_with_only_its_environment(tmp_path):
    # env stops reading options at the first NAME=VALUE: -C after the variables would be run as the command (exit 127).
    work = tmp_path / "work"
    work.mkdir()
    out = subprocess.run(spec(tmp_path, str(work)).argv(), capture_output=True, text=True, timeout=10, check=True)
    assert out.stdout.strip() == f"{work} hello"


def test_command_without_working_dir_keeps_the_callers(tmp_path):
    out = subprocess.run(spec(tmp_path).argv(), capture_output=True, text=True, timeout=10, check=True, cwd=tmp_path)
    assert out.stdout.strip() == f"{tmp_path} hello"


def test_a_volume_may_be_mounted_at_tmp(tmp_path):
    rootfs = RootfsTemplate(tmp_path, ["/tmp", "/var/lib/etcd"])
    assert stat.S_IMODE((rootfs.skeleton / "tmp").stat().st_mode) == 0o1777
    assert (rootfs.skeleton / "var/lib/etcd").is_dir()
