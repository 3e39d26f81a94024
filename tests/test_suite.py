"""The suite's own arrangement: what lets its tests share one grading."""

from __future__ import annotations

import pytest


@pytest.mark.xdist_group("suite-grouping")
def test_a_grouped_test_carries_its_group_to_the_scheduler(request: pytest.FixtureRequest) -> None:
    # xdist's loadgroup scheduler reads the group from the "@name" end of each nodeid; without
    # it the tests that read one grading land on both workers, and both grade it.
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("only under --dist loadgroup (the README's test command)")
    assert request.node.nodeid.endswith("@suite-grouping"), request.node.nodeid
