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


def test_the_long_tests_are_handed_out_first(request: pytest.FixtureRequest) -> None:
    # xdist hands out work in the collection's order once its own reordering (the groups with
    # the most tests first) is off: a test of minutes started last ends the run alone.
    marked = [item.get_closest_marker("long") is not None for item in request.session.items]
    assert any(marked) or len(marked) < 100  # a run of a few tests may hold none
    assert marked == sorted(marked, reverse=True)
    if hasattr(request.config.option, "loadscopereorder"):
        assert request.config.option.loadscopereorder is False
