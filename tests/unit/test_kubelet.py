import pytest

from clusters.local.kubelet import Backoff, expand


def test_backoff_first_restart_immediate_then_doubles_to_cap():
    backoff = Backoff(10.0)
    delays = [backoff.after_exit(1.0) for _ in range(9)]
    assert delays == [0.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0, 300.0]


def test_backoff_resets_after_ten_minutes_of_running():
    backoff = Backoff(10.0)
    for _ in range(5):
        backoff.after_exit(1.0)
    assert backoff.after_exit(599.0) == 160.0  # just under ten minutes: no reset
    assert backoff.after_exit(600.0) == 0.0
    assert backoff.after_exit(1.0) == 10.0


def test_backoff_base_is_configurable():
    backoff = Backoff(0.5)
    assert [backoff.after_exit(0.0) for _ in range(4)] == [0.0, 0.5, 1.0, 2.0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("--name=$(POD_NAME)", "--name=etcd-0"),
        ("http://$(POD_NAME).etcd:$(PORT)", "http://etcd-0.etcd:2379"),
        ("$(POD_NAME)$(POD_NAME)", "etcd-0etcd-0"),
        ("$$(POD_NAME)", "$(POD_NAME)"),  # escaped: literal
        ("$$$(POD_NAME)", "$etcd-0"),
        ("a$$b", "a$b"),
        ("$(UNKNOWN)", "$(UNKNOWN)"),
        ("$POD_NAME ${POD_NAME} $(POD_NAME", "$POD_NAME ${POD_NAME} $(POD_NAME"),
        ("cost $5", "cost $5"),
        ("", ""),
    ],
)
def test_expand(text, expected):
    assert expand(text, {"POD_NAME": "etcd-0", "PORT": "2379"}) == expected


def test_expand_does_not_expand_values_again():
    assert expand("$(A)", {"A": "$(B)", "B": "x"}) == "$(B)"
