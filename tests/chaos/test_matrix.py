"""The strategy × fault matrix: every selected strategy through every selected fault.

A cell its strategy declares as a known failure is an expected failure, held
strictly: it must fail, and for the declared reason.
"""

import pytest

from harness.plugin import assert_as_declared

pytestmark = pytest.mark.chaos


def test_strategy_survives_fault(chaos_fault, run_scenario):
    result = run_scenario(chaos_fault)
    assert_as_declared(result)
