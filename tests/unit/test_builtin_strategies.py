"""Built-in strategies that are meant to share an entrypoint keep it identical, and the
Bitnami imitation takes Bitnami's start-up decisions."""

import subprocess
from pathlib import Path

import pytest

from clusters.strategy import discover


def test_ephemeral_selfheal_is_startup_selfheal_on_empty_dir():
    found = discover()
    persistent, ephemeral = found["startup-selfheal"], found["ephemeral-selfheal"]
    # The ConfigMap is copied, since a strategy directory is applied as it is.
    assert ephemeral.manifests.config_maps == persistent.manifests.config_maps
    def statefulset(strategy):
        return next(d for d in strategy.manifests.documents if d["kind"] == "StatefulSet")

    claims = {s.name: [t["metadata"]["name"] for t in statefulset(s)["spec"].get("volumeClaimTemplates", [])] for s in (persistent, ephemeral)}
    volumes = {v["name"]: v for v in statefulset(ephemeral)["spec"]["template"]["spec"]["volumes"]}
    assert claims == {"startup-selfheal": ["data"], "ephemeral-selfheal": []}
    assert "emptyDir" in volumes["data"]


# The start-up decisions of Bitnami's libetcd.sh that startup-selfheal imitates,
# run under /bin/sh against stand-ins for etcdctl, etcd and getent: which path
# the entrypoint takes decides whether a member ever comes back.
FAKE_ETCDCTL = r"""#!/bin/sh
echo "etcdctl $*" >>"$FAKE_RECORD"
case "$*" in
  *"endpoint status --cluster"*) exit "$FAKE_STATUS_RC" ;;
  *"endpoint health"*) exit "$FAKE_HEALTH_RC" ;;
  *"member list"*)
    if [ -e "$FAKE_RECORD.removed" ]; then
      printf '%s\n' "$FAKE_MEMBERS" | grep -v etcd-1.etcd
    else
      printf '%s\n' "$FAKE_MEMBERS"
    fi ;;
  *"member remove"*) touch "$FAKE_RECORD.removed" ;;
  *"member add"*)
    echo "Member 2222 added to cluster"
    echo 'ETCD_NAME="etcd-1"'
    echo 'ETCD_INITIAL_CLUSTER="etcd-0=http://etcd-0.etcd:2380,etcd-1=http://etcd-1.etcd:2380,etcd-2=http://etcd-2.etcd:2380"'
    echo 'ETCD_INITIAL_CLUSTER_STATE="existing"' ;;
esac
"""
FAKE_ETCD = r"""#!/bin/sh
echo "etcd state=$ETCD_INITIAL_CLUSTER_STATE data=$(ls -A "$ETCD_DATA_DIR" | tr '\n' ' ')" >>"$FAKE_RECORD"
echo "$FAKE_ETCD_LOG"
"""
FAKE_GETENT = "#!/bin/sh\nfor ip in 10.0.0.1 10.0.0.2 10.0.0.3; do echo \"$ip STREAM etcd\"; done\n"
OWN_ENTRY = "1111, started, etcd-1, http://etcd-1.etcd:2380, http://etcd-1.etcd:2379, false"
OTHERS = "aaaa, started, etcd-0, http://etcd-0.etcd:2380, http://etcd-0.etcd:2379, false"


def run_entrypoint(tmp_path, strategy: str, pod: str, fakes: dict[str, str], env: dict[str, str]) -> tuple[int, list[str]]:
    """Run a strategy's entrypoint once under /bin/sh with stand-in commands; its exit status and the calls it made."""
    script = discover()[strategy].manifests.config_maps["etcd-scripts"]["entrypoint.sh"]
    bin_dir, record = tmp_path / "bin", tmp_path / "record"
    bin_dir.mkdir()
    for name, text in fakes.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "POD_NAME": pod, "FAKE_RECORD": str(record), **env}
    done = subprocess.run(["/bin/sh", "-c", script], env=env, timeout=30, capture_output=True)
    return done.returncode, record.read_text().splitlines() if record.exists() else []


def start_up(tmp_path, *, data: bool, status_rc=0, health_rc=0, members=OTHERS, etcd_log="") -> list[str]:
    """Run startup-selfheal's entrypoint once for etcd-1; return the etcdctl and etcd calls it made, in order."""
    data_dir = tmp_path / "data"
    if data:
        (data_dir / "member").mkdir(parents=True)
    rc, calls = run_entrypoint(tmp_path, "startup-selfheal", "etcd-1",
                               {"etcdctl": FAKE_ETCDCTL, "etcd": FAKE_ETCD, "getent": FAKE_GETENT}, {
        "ETCD_DATA_DIR": str(data_dir),
        "FAKE_STATUS_RC": str(status_rc),
        "FAKE_HEALTH_RC": str(health_rc),
        "FAKE_MEMBERS": members,
        "FAKE_ETCD_LOG": etcd_log,
    })
    assert rc == 0, calls
    return calls


def test_empty_member_whose_old_entry_does_not_answer_bootstraps_new(tmp_path):
    # The wiped-disk case: `endpoint status --cluster` fails on the pod's own
    # listed entry, and Bitnami decides "new cluster" without touching the members.
    calls = start_up(tmp_path, data=False, status_rc=1, members=f"{OTHERS}\n{OWN_ENTRY}")
    assert not [c for c in calls if "member remove" in c or "member add" in c]
    assert calls[-1] == "etcd state=new data="


def test_empty_member_of_an_answering_cluster_replaces_its_old_entry(tmp_path):
    calls = start_up(tmp_path, data=False, members=f"{OTHERS}\n{OWN_ENTRY}")
    removes = [c for c in calls if "member remove" in c]
    adds = [c for c in calls if "member add" in c]
    assert len(removes) == 1 and "member remove 1111" in removes[0]
    assert len(adds) == 1 and "--peer-urls=http://etcd-1.etcd:2380" in adds[0]
    assert calls.index(removes[0]) < calls.index(adds[0])
    assert calls[-1] == "etcd state=existing data=new_member_envs "


def test_member_with_data_that_etcd_says_was_removed_wipes_and_rejoins(tmp_path):
    calls = start_up(tmp_path, data=True, etcd_log="the member has been permanently removed from the cluster")
    assert [c for c in calls if c.startswith("etcd ")] == ["etcd state=new data=member ", "etcd state=existing data=new_member_envs "]
    assert len([c for c in calls if "member add" in c]) == 1


def test_member_with_data_still_in_the_cluster_starts_existing_on_it(tmp_path):
    calls = start_up(tmp_path, data=True, etcd_log="established TCP streaming connection with remote peer")
    assert [c for c in calls if c.startswith("etcd ")] == ["etcd state=new data=member ", "etcd state=existing data=member "]
    assert not [c for c in calls if "member add" in c]


def test_member_with_data_and_no_healthy_peers_starts_without_a_check(tmp_path):
    calls = start_up(tmp_path, data=True, health_rc=1, etcd_log="established TCP streaming connection with remote peer")
    assert [c for c in calls if c.startswith("etcd ")] == ["etcd state=new data=member "]


# prestop-remove (older Bitnami images) on a first start with no data: what the
# others list for this pod decides. Its data directory is the image's fixed path.
FAKE_ETCD_FLAGS = '#!/bin/sh\necho "etcd $*" >>"$FAKE_RECORD"\n'
STATIC = "etcd-0=http://etcd-0.etcd:2380,etcd-1=http://etcd-1.etcd:2380,etcd-2=http://etcd-2.etcd:2380"


def prestop_remove_start(tmp_path, own_entry: str) -> tuple[int, list[str]]:
    if Path("/var/lib/etcd/data/member").exists():
        pytest.skip("this host has /var/lib/etcd/data/member, the entrypoint's own data path")
    return run_entrypoint(tmp_path, "prestop-remove", "etcd-1", {"etcdctl": FAKE_ETCDCTL, "etcd": FAKE_ETCD_FLAGS},
                          {"FAKE_MEMBERS": f"{OTHERS}\n{own_entry}"})


def test_prestop_remove_member_the_static_cluster_lists_but_that_never_started_bootstraps_with_it(tmp_path):
    # The others bootstrapped before this pod came up: etcd names the entry from
    # --initial-cluster, but it has no client URL since it never published one.
    rc, calls = prestop_remove_start(tmp_path, "1111, started, etcd-1, http://etcd-1.etcd:2380, , false")
    etcd = [c for c in calls if c.startswith("etcd ")]
    assert rc == 0 and len(etcd) == 1, calls
    assert "--initial-cluster-state=new" in etcd[0] and f"--initial-cluster={STATIC}" in etcd[0]
    assert not [c for c in calls if "member add" in c]


def test_prestop_remove_member_listed_as_started_with_no_data_exits(tmp_path):
    rc, calls = prestop_remove_start(tmp_path, OWN_ENTRY)  # it published a client URL: its data is gone
    assert rc == 1 and not [c for c in calls if c.startswith("etcd ")], calls


def test_prestop_remove_member_removed_by_its_prestop_joins_with_member_add(tmp_path):
    rc, calls = prestop_remove_start(tmp_path, "")
    etcd = [c for c in calls if c.startswith("etcd ")]
    assert rc == 0 and [c for c in calls if "member add etcd-1 --peer-urls=http://etcd-1.etcd:2380" in c], calls
    assert len(etcd) == 1 and "--initial-cluster-state=existing" in etcd[0] and f"--initial-cluster={STATIC}" in etcd[0]
