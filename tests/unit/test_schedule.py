"""Schedules: a ``--fault`` spec resolved into concrete steps, the same ones again for the same seed."""

import pytest

import faults
from faults import CATALOG, RANDOM_POOL, FaultError, plan
from faults.schedule import outline

PODS = ["etcd-0", "etcd-1", "etcd-2"]
SEEDS = range(40)


def drawn(spec="random*5", seeds=SEEDS):
    """Every step the random schedule draws over ``seeds``, as (fault name, target)."""
    return [tuple(step.split(":")) for seed in seeds for step in plan(spec, seed, PODS).steps]


@pytest.mark.parametrize(
    ("spec", "steps"),
    [
        ("pod-delete", ("pod-delete:leader",)),
        ("pod-delete+pause", ("pod-delete:leader", "pause:leader")),
        ("pod-delete:follower*3", ("pod-delete:follower",) * 3),
        ("pause*2+partition:etcd-1", ("pause:leader", "pause:leader", "partition:etcd-1")),
    ],
)
def test_sequence_and_repeat_resolve_to_explicit_steps(spec, steps):
    assert plan(spec, 0, PODS).steps == steps


def test_random_draws_that_many_steps_of_known_faults():
    steps = plan("random*5", 3, PODS).steps
    assert len(steps) == 5
    assert all(faults.make(step).name in CATALOG for step in steps)


def test_random_mixes_with_named_steps():
    steps = plan("pod-delete+random*2+pause", 3, PODS).steps
    assert (steps[0], steps[-1], len(steps)) == ("pod-delete:leader", "pause:leader", 4)


def test_the_same_seed_replays_the_same_plan():
    assert all(plan("random*5", seed, PODS) == plan("random*5", seed, PODS) for seed in SEEDS)


def test_different_seeds_draw_different_plans():
    plans = {plan("random*5", seed, PODS).steps for seed in SEEDS}
    assert len(plans) == len(SEEDS)


def test_drawn_targets_are_a_role_or_a_pod_unless_the_fault_draws_none():
    steps = drawn()
    aimed = [(name, target) for name, target in steps if CATALOG[name].draws_target]
    kept = [(name, target) for name, target in steps if not CATALOG[name].draws_target]
    assert aimed and kept  # both kinds of fault were drawn, so both checks below ran
    assert all(target in ("leader", "follower", *PODS) for _, target in aimed), aimed
    assert set(PODS) <= {target for _, target in aimed}  # every pod gets drawn
    assert all(target == CATALOG[name].default_target for name, target in kept), kept


def test_every_fault_can_be_drawn():
    names = {name for name, _ in drawn()}
    assert names == {cls.name for cls in RANDOM_POOL} == {name for name, cls in CATALOG.items() if cls.in_default_matrix}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param("", "empty fault schedule", id="empty"),
        pytest.param("pod-delete**2", r"cannot read schedule step 'pod-delete\*\*2': write NAME\[:TARGET\]\[\*N\]", id="**"),
        pytest.param("pod-delete:", r"cannot read schedule step 'pod-delete:'", id="empty-target"),
        pytest.param("pod-delete+", r"cannot read schedule step ''", id="dangling-plus"),
        pytest.param("Pod-Delete", r"cannot read schedule step 'Pod-Delete'", id="capitals"),
        pytest.param("pod-delete*0", r"schedule step 'pod-delete\*0': repeat between 1 and 100 times", id="zero-times"),
        pytest.param("pause*101", r"repeat between 1 and 100 times", id="too-many-times"),
        pytest.param("random:etcd-0", r"'random' draws its own target; write random or random\*N", id="random-target"),
        pytest.param("meteor", r"unknown fault 'meteor'; known faults: ", id="unknown"),
        pytest.param("pod-delete+meteor*2", r"unknown fault 'meteor'", id="unknown-later"),
        pytest.param("scale:abc", r"scale takes the size to grow to", id="bad-target"),
    ],
)
def test_malformed_specs_are_refused_before_anything_runs(spec, message):
    with pytest.raises(FaultError, match=message):
        outline(spec)


@pytest.mark.parametrize(
    ("spec", "schedule_id", "keys"),
    [
        pytest.param("partition:leader", "partition-leader", ("partition-leader", "partition:leader", "partition"), id="targeted"),
        pytest.param("pod-delete:follower", "pod-delete-follower", ("pod-delete-follower", "pod-delete:follower", "pod-delete"), id="follower"),
        pytest.param("pod-delete", "pod-delete", ("pod-delete", "pod-delete:leader"), id="default"),
        pytest.param("pod-delete:leader", "pod-delete", ("pod-delete", "pod-delete:leader"), id="default-spelled-out"),
        pytest.param("pod-delete*3", "pod-delete*3", ("pod-delete*3",), id="repeat"),
        pytest.param("pod-delete+partition:etcd-0", "pod-delete+partition-etcd-0", ("pod-delete+partition:etcd-0",), id="seq"),
        pytest.param("random", "random", ("random",), id="random"),
        pytest.param("random*5", "random*5", ("random*5",), id="random-5"),
        # a fault aimed at ``random`` is still that one fault, not a drawn step
        pytest.param("pod-delete:random", "pod-delete-random", ("pod-delete-random", "pod-delete:random", "pod-delete"), id="random-target"),
    ],
)
def test_schedule_id_and_declared_keys(spec, schedule_id, keys):
    schedule = plan(spec, 0, PODS)
    assert schedule.id == schedule_id
    assert tuple(dict.fromkeys(schedule.declared_keys)) == keys  # most specific first, duplicates aside


def test_faults_are_fresh_objects_for_every_step_and_every_call():
    schedule = plan("pause*2", 0, PODS)
    first, second = schedule.faults()
    assert first is not second
    assert schedule.faults()[0] is not first



@pytest.mark.parametrize("spec", ["random", "random*5", "pod-delete+random*2"])
def test_a_random_schedule_is_outlined_before_any_pod_exists(spec):
    """The plugin names the test and looks up declared failures from the spec alone, before a cluster starts."""
    shape = outline(spec)
    assert (shape.id, shape.declared_keys) == (spec, (spec,))
