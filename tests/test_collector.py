"""The garbage collector's pace during a build: set for the block, put back after, even on error."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from guichets.collector import BULK_THRESHOLD, fewer_collections


@pytest.fixture(autouse=True)
def _default_pace() -> Iterator[None]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


def test_the_young_generation_is_collected_less_often_inside_and_as_before_after() -> None:
    with fewer_collections():
        assert gc.get_threshold() == (BULK_THRESHOLD, 10, 10)
        with fewer_collections():  # nested: left as the outer block set it
            assert gc.get_threshold() == (BULK_THRESHOLD, 10, 10)
        assert gc.get_threshold() == (BULK_THRESHOLD, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)


def test_the_pace_is_put_back_when_the_block_fails() -> None:
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("a build that fails")
    assert gc.get_threshold() == (700, 10, 10)


def test_a_process_that_already_collects_less_often_or_never_is_left_alone() -> None:
    gc.set_threshold(50_000, 20, 20)
    with fewer_collections():
        assert gc.get_threshold() == (50_000, 20, 20)
    gc.set_threshold(0, 10, 10)  # automatic collection off
    with fewer_collections():
        assert gc.get_threshold() == (0, 10, 10)
    assert gc.get_threshold() == (0, 10, 10)
