import pytest
import yaml

from clusters.manifests import ManifestError
from clusters.strategy import BUILTIN_DIR, KnownFailure, discover, load_strategy


def write_strategy(directory, docs, meta):
    directory.mkdir(parents=True)
    (directory / "manifests.yaml").write_text(yaml.safe_dump_all(docs))
    if meta is not None:
        (directory / "strategy.yaml").write_text(yaml.safe_dump(meta))
    return directory


def meta(name="mine", **extra):
    return {"name": name, "description": "one\n  line", **extra}


def test_load_strategy_reads_metadata_and_manifests(tmp_path, docs):
    failures = {"pod-delete": {"reason": "panic", "why": "  empty member  \n"}}
    s = load_strategy(write_strategy(tmp_path / "mine", docs, meta(known_failures=failures)))
    assert (s.name, s.description, s.directory) == ("mine", "one line", tmp_path / "mine")
    assert s.manifests.statefulset.name == "etcd"
    assert s.expected("pod-delete", etcd_version="3.5.1") == KnownFailure("panic", "empty member")
    assert s.expected("inplace-restart", etcd_version="3.5.1") is None


def test_a_declaration_holds_for_the_etcd_releases_it_names(tmp_path, docs):
    failures = {
        "node-down": [
            {"reason": "diverged-member", "why": "etcd#13766", "sometimes": True, "etcd": ">=3.5.0,<3.5.3"},
            {"reason": "not-recovered", "why": "a flag 3.6 refuses", "etcd": ">=3.6"},
        ],
        "pod-delete": {"reason": "panic", "why": "every release"},
    }
    s = load_strategy(write_strategy(tmp_path / "mine", docs, meta(known_failures=failures)))
    assert s.expected("node-down", etcd_version="3.5.1").reason == "diverged-member"
    assert s.expected("node-down", etcd_version="3.5.3") is None
    assert s.expected("node-down", etcd_version="3.4.23") is None
    assert s.expected("node-down", etcd_version="3.6.16").reason == "not-recovered"
    assert s.expected("pod-delete", etcd_version="3.4.23").reason == "panic"


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        (None, "no strategy.yaml"),
        ({"description": "d"}, "name is required, as text"),
        ({"name": "mine"}, "description is required, as text"),
        ({"name": ["mine"], "description": "d"}, "name is required, as text"),
        ({**meta(), "owner": "me"}, "unknown fields ['owner']"),
        (meta(known_failures={"pod-delete": {"why": "w"}}), "known_failures.pod-delete.reason is required, as text"),
        (meta(known_failures={"pod-delete": {"reason": "panic"}}), "known_failures.pod-delete.why is required, as text"),
        (meta(known_failures={"pod-delete": "panic"}), "known_failures.pod-delete must be a mapping"),
        (meta(known_failures=["pod-delete"]), "known_failures must be a mapping of fault"),
        (meta(known_failures={"pod-delete": {"reason": "panic", "why": "w", "sometimes": "false"}}),
         "known_failures.pod-delete.sometimes must be true or false, not 'false'"),
        (meta(known_failures={"pod-delete": {"reason": "panic", "why": "w", "sometime": True}}),
         "known_failures.pod-delete: unknown fields ['sometime']"),
        (meta(known_failures={"pod-delete": {"reason": "panic", "why": "w", "etcd": "3.5 and up"}}),
         "known_failures.pod-delete.etcd '3.5 and up' is no version range"),
        (meta(known_failures={"pod-delete": [{"reason": "panic", "why": "w"}, {"reason": "panic"}]}),
         "known_failures.pod-delete[1].why is required, as text"),
    ],
    ids=["no-file", "no-name", "no-description", "name-not-text", "unknown-field", "no-reason", "no-why",
         "entry-not-mapping", "list-not-mapping", "sometimes-string", "misspelled-sometimes",
         "etcd-not-a-range", "second-entry-no-why"],
)
def test_invalid_strategy_metadata(tmp_path, docs, metadata, message):
    directory = write_strategy(tmp_path / "bad", docs, metadata)
    with pytest.raises(ManifestError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_strategy(directory)


def test_invalid_manifest_fails_the_strategy(tmp_path, docs):
    docs[0]["spec"]["template"]["spec"]["initContainers"] = "none"
    with pytest.raises(ManifestError, match="initContainers"):
        load_strategy(write_strategy(tmp_path / "bad", docs, meta()))


def test_discover_without_paths_is_the_builtins():
    found = discover()
    assert found and all(s.directory.parent == BUILTIN_DIR for s in found.values())


def test_strategy_path_can_be_one_strategy_directory(tmp_path, docs):
    write_strategy(tmp_path / "mine", docs, meta("mine"))
    found = discover([tmp_path / "mine"])
    assert found["mine"].directory == tmp_path / "mine"
    assert set(found) == set(discover()) | {"mine"}


def test_strategy_path_can_be_a_directory_of_strategies(tmp_path, docs):
    write_strategy(tmp_path / "all" / "a", docs, meta("user-a"))
    write_strategy(tmp_path / "all" / "b", docs, meta("user-b"))
    (tmp_path / "all" / "notes").mkdir()  # no strategy.yaml: not a strategy, ignored
    found = discover([tmp_path / "all"])
    assert {"user-a", "user-b"} <= set(found)
    assert found["user-b"].directory == tmp_path / "all" / "b"


@pytest.mark.parametrize("name", ["missing", "file.txt"])
def test_strategy_path_that_is_no_directory_is_an_error(tmp_path, name):
    (tmp_path / "file.txt").write_text("")
    with pytest.raises(ManifestError, match=f"--strategy-path {tmp_path / name}: no such directory"):
        discover([tmp_path / name])


def test_user_strategy_replaces_builtin_of_same_name(tmp_path, docs):
    name = sorted(discover())[0]
    write_strategy(tmp_path / "override", docs, meta(name))
    found = discover([tmp_path / "override"])
    assert found[name].directory == tmp_path / "override"
    assert found[name].description == "one line"
