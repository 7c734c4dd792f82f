"""clusters.etcd_api against one real etcd member: what each call returns, and how failures are told apart.

Every test writes under a key prefix of its own, so the tests do not depend on
one another's writes; the store is shared, so revisions are compared with
what the test itself was told, never with fixed numbers.
"""

from __future__ import annotations

import base64
import socket
import time
import uuid
from collections.abc import Iterator

import pytest

from clusters import etcd_api
from clusters.etcd_api import Change, EtcdError, MaybeApplied, NotApplied


@pytest.fixture
def prefix() -> str:
    return f"/itest/{uuid.uuid4().hex[:8]}/"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def delete(endpoint: str, key: str) -> int:
    """Delete one key through the gateway; the revision of the delete."""
    raw = etcd_api.call(endpoint, "/v3/kv/deleterange", {"key": b64(key)})
    assert int(raw.get("deleted", 0)) == 1, raw
    return int(raw["header"]["revision"])


# --- put, get, read ---------------------------------------------------------


def test_put_returns_increasing_revisions(etcd, prefix):
    first = etcd_api.put(etcd.endpoint, prefix + "a", "1")
    second = etcd_api.put(etcd.endpoint, prefix + "a", "2")
    third = etcd_api.put(etcd.endpoint, prefix + "b", "3")
    assert 1 < first < second < third
    assert third == etcd_api.status(etcd.endpoint).revision


def test_get_returns_the_value_or_none(etcd, prefix):
    etcd_api.put(etcd.endpoint, prefix + "k", "héllo wörld")
    assert etcd_api.get(etcd.endpoint, prefix + "k") == "héllo wörld"
    assert etcd_api.get(etcd.endpoint, prefix + "absent") is None


@pytest.mark.parametrize("serializable", [False, True], ids=["linearizable", "serializable"])
def test_read_returns_value_revision_and_mod_revision(etcd, prefix, serializable):
    written = etcd_api.put(etcd.endpoint, prefix + "k", "v")
    got = etcd_api.read(etcd.endpoint, prefix + "k", serializable=serializable)
    assert got == etcd_api.Read("v", written, written)
    later = etcd_api.put(etcd.endpoint, prefix + "other", "x")
    got = etcd_api.read(etcd.endpoint, prefix + "k", serializable=serializable)
    assert got == etcd_api.Read("v", later, written)  # the store moved on, the key did not


@pytest.mark.parametrize("serializable", [False, True], ids=["linearizable", "serializable"])
def test_read_of_an_absent_key(etcd, prefix, serializable):
    current = etcd_api.put(etcd.endpoint, prefix + "present", "p")
    got = etcd_api.read(etcd.endpoint, prefix + "absent", serializable=serializable)
    assert got == etcd_api.Read(None, current, 0)


def test_read_at_an_older_revision_returns_the_old_value(etcd, prefix):
    key = prefix + "k"
    before = etcd_api.put(etcd.endpoint, prefix + "unrelated", "u")
    first = etcd_api.put(etcd.endpoint, key, "old")
    second = etcd_api.put(etcd.endpoint, key, "new")
    old = etcd_api.read(etcd.endpoint, key, revision=first)
    assert (old.value, old.mod_revision) == ("old", first)
    assert old.revision >= second  # etcd's header is the store's current revision, not the one asked for
    new = etcd_api.read(etcd.endpoint, key, revision=second)
    assert (new.value, new.mod_revision) == ("new", second)
    gone = etcd_api.read(etcd.endpoint, key, revision=before)
    assert (gone.value, gone.mod_revision) == (None, 0)  # not yet written at that revision


def test_read_at_a_future_revision_is_refused_before_raft(etcd, prefix):
    current = etcd_api.put(etcd.endpoint, prefix + "k", "v")
    with pytest.raises(NotApplied) as caught:
        etcd_api.read(etcd.endpoint, prefix + "k", revision=current + 1000)
    assert "future revision" in str(caught.value)


def test_a_txn_that_etcd_refuses_as_invalid_did_not_happen(etcd, prefix):
    """Two puts of one key in a txn: InvalidArgument, checked before proposing, and nothing was written."""
    key = b64(prefix + "k")
    put = {"request_put": {"key": key, "value": b64("v")}}
    with pytest.raises(NotApplied) as caught:
        etcd_api.call(etcd.endpoint, "/v3/kv/txn", {"success": [put, put]})
    assert "duplicate key" in str(caught.value)
    assert etcd_api.get(etcd.endpoint, prefix + "k") is None


# --- compare_and_set --------------------------------------------------------


def test_cas_expecting_absent_on_an_absent_key_succeeds(etcd, prefix):
    key = prefix + "k"
    succeeded, revision = etcd_api.compare_and_set(etcd.endpoint, key, None, "first")
    assert succeeded
    assert etcd_api.read(etcd.endpoint, key) == etcd_api.Read("first", revision, revision)


def test_cas_expecting_absent_on_a_present_key_fails(etcd, prefix):
    key = prefix + "k"
    written = etcd_api.put(etcd.endpoint, key, "there")
    succeeded, revision = etcd_api.compare_and_set(etcd.endpoint, key, None, "second")
    assert not succeeded
    assert revision == written  # nothing was written: the store did not move
    assert etcd_api.read(etcd.endpoint, key) == etcd_api.Read("there", written, written)


def test_cas_expecting_a_wrong_value_fails_and_leaves_the_value(etcd, prefix):
    key = prefix + "k"
    written = etcd_api.put(etcd.endpoint, key, "actual")
    succeeded, revision = etcd_api.compare_and_set(etcd.endpoint, key, "wrong", "replacement")
    assert not succeeded
    assert revision == written
    assert etcd_api.read(etcd.endpoint, key) == etcd_api.Read("actual", written, written)


def test_cas_expecting_the_right_value_succeeds_at_a_new_revision(etcd, prefix):
    key = prefix + "k"
    written = etcd_api.put(etcd.endpoint, key, "actual")
    succeeded, revision = etcd_api.compare_and_set(etcd.endpoint, key, "actual", "replacement")
    assert succeeded
    assert revision > written
    assert etcd_api.read(etcd.endpoint, key) == etcd_api.Read("replacement", revision, revision)
    assert etcd_api.read(etcd.endpoint, key, revision=written).value == "actual"


# --- status, member_list, key_history ---------------------------------------


def test_status_of_a_single_member(etcd, prefix):
    written = etcd_api.put(etcd.endpoint, prefix + "k", "v")
    status = etcd_api.status(etcd.endpoint)
    assert status.revision == written
    assert status.member_id and status.cluster_id and status.member_id != "0"
    assert status.leader == status.member_id  # alone, it leads
    assert status.raft_term >= 1 and status.raft_index >= 1
    assert not status.is_learner
    assert status.version == "3.5.1"


def test_member_list_of_a_single_member(etcd):
    status = etcd_api.status(etcd.endpoint)
    members = etcd_api.member_list(etcd.endpoint)
    assert members == [etcd_api.Member(status.member_id, etcd.name, (etcd.peer_url,), (etcd.endpoint,), False)]


def test_key_history_holds_every_change_in_revision_order(etcd, prefix):
    a, b = prefix + "a", prefix + "b"
    expected = [
        Change(etcd_api.put(etcd.endpoint, a, "a1"), a, "a1"),
        Change(etcd_api.put(etcd.endpoint, b, "b1"), b, "b1"),
        Change(etcd_api.put(etcd.endpoint, a, "a2"), a, "a2"),
    ]
    expected.append(Change(delete(etcd.endpoint, a), a, None))
    expected.append(Change(etcd_api.compare_and_set(etcd.endpoint, b, "b1", "b2")[1], b, "b2"))
    expected.append(Change(etcd_api.put(etcd.endpoint, a, "a3"), a, "a3"))  # re-created after the delete

    history = etcd_api.key_history(etcd.endpoint)
    status = etcd_api.status(etcd.endpoint)

    assert [c for c in history.changes if c.key.startswith(prefix)] == expected
    revisions = [c.revision for c in history.changes]
    assert revisions == sorted(revisions)
    assert revisions[0] >= 1 and revisions[-1] == history.revision
    assert history.revision == status.revision == expected[-1].revision
    assert (history.cluster_id, history.member_id) == (status.cluster_id, status.member_id)


def test_key_history_agrees_with_reads_at_each_revision(etcd, prefix):
    """Each change the history names is what a read at that revision returns."""
    key = prefix + "k"
    for value in ("x", "y", "z"):
        etcd_api.put(etcd.endpoint, key, value)
    mine = [c for c in etcd_api.key_history(etcd.endpoint).changes if c.key == key]
    assert [c.value for c in mine] == ["x", "y", "z"]
    for change in mine:
        assert etcd_api.read(etcd.endpoint, key, revision=change.revision) == etcd_api.Read(
            change.value, etcd_api.status(etcd.endpoint).revision, change.revision
        )


# --- errors: refused versus unanswered --------------------------------------


@pytest.fixture
def closed_endpoint() -> str:
    """An address nobody listens on: connecting is refused at once."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """An address that accepts connections (the kernel does, from the backlog) and never answers."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    try:
        yield f"http://127.0.0.1:{s.getsockname()[1]}"
    finally:
        s.close()


def test_a_refused_connection_did_not_happen(closed_endpoint):
    started = time.monotonic()
    with pytest.raises(NotApplied) as caught:
        etcd_api.call(closed_endpoint, "/v3/maintenance/status", timeout=5.0)
    assert "nothing sent" in str(caught.value)
    assert time.monotonic() - started < 2.0  # refused at once, not waited out


def test_a_call_nobody_answers_may_have_happened(silent_endpoint):
    started = time.monotonic()
    with pytest.raises(MaybeApplied):
        etcd_api.call(silent_endpoint, "/v3/kv/range", {"key": b64("k")}, timeout=0.3)
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize(
    "operation",
    [
        lambda e: etcd_api.put(e, "k", "v", timeout=0.3),
        lambda e: etcd_api.read(e, "k", timeout=0.3),
        lambda e: etcd_api.compare_and_set(e, "k", None, "v", timeout=0.3),
        lambda e: etcd_api.status(e, timeout=0.3),
    ],
    ids=["put", "read", "cas", "status"],
)
def test_every_call_times_out_as_unknown(silent_endpoint, closed_endpoint, operation):
    """What the workload relies on to tell "maybe applied" (timeout) from "not applied" (refused)."""
    with pytest.raises(MaybeApplied):
        operation(silent_endpoint)
    with pytest.raises(NotApplied):
        operation(closed_endpoint)


def test_key_history_from_a_silent_member_gives_up_in_time(silent_endpoint):
    started = time.monotonic()
    with pytest.raises(EtcdError):
        etcd_api.key_history(silent_endpoint, timeout=0.3)
    assert time.monotonic() - started < 2.0
