"""The health verdict from the clock: what makes the robot late, and what does not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from guichets.clock import SimulatedClock
from guichets.health import Health

T0 = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)


def test_not_started_stopped_or_without_services_is_not_healthy() -> None:
    health = Health(SimulatedClock(T0, autojump=False), stall_after=60)
    assert not health.verdict().healthy and "not started" in health.verdict().reasons[0]
    health.started(0)
    assert "no enabled service" in health.verdict().reasons[0]
    health.started(2)
    assert health.verdict().healthy
    health.stopped("the robot has stopped")
    assert health.verdict().reasons == ("the robot has stopped",)


def test_a_due_probe_grows_late_on_the_clock_and_is_settled_in_turn() -> None:
    clock = SimulatedClock(T0, autojump=False)
    health = Health(clock, stall_after=60)
    health.started(2)
    health.planned("a", T0)
    health.planned("a", T0 + timedelta(hours=1))
    health.planned("b", T0 + timedelta(minutes=30))
    clock.advance(60)
    assert health.verdict().healthy  # exactly at the limit: not yet late
    clock.advance(1)
    verdict = health.verdict()
    assert not verdict.healthy and verdict.reasons[0].startswith("a: the probe due at")
    health.probed("a", clock.now())  # the oldest of a is made
    assert health.verdict().healthy
    assert health.outstanding()["a"] == T0 + timedelta(hours=1)
    # a later period given up while an earlier one is out leaves the earlier one outstanding
    health.planned("b", T0 + timedelta(hours=2))
    health.settled("b", T0 + timedelta(hours=2))
    assert health.outstanding()["b"] == T0 + timedelta(minutes=30)
    assert health.verdict().to_json()["status"] == "ok"


def test_stall_after_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Health(SimulatedClock(T0), stall_after=0)
