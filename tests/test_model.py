"""The observation model: categories A-E at their boundaries, and what an observation refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from guichets.model import PARIS, Category, Observation, Outcome, categorise, unique_instants

AT = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)


def _obs(outcome: Outcome, slots: tuple[datetime, ...] = (), **kw: object) -> Observation:
    return Observation(
        "p1", "38-grenoble-renouvellement", "ezbooking", "http://127.0.0.1/booking/create/1",
        AT, AT + timedelta(seconds=5), outcome, "x", slots, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        ((1, 2), Category.A),
        ((1, 30), Category.A),  # exactly one month is within it
        ((1, 30.001), Category.B),
        ((29,), Category.B),
        ((30.5, 31), Category.C),
        ((60,), Category.C),
        ((60.01,), Category.D),
        ((), Category.E),
    ],
)
def test_categories_relative_to_the_probe(days: tuple[float, ...], expected: Category) -> None:
    slots = tuple((AT + timedelta(days=d)).astimezone(PARIS) for d in days)
    outcome = Outcome.AVAILABLE if slots else Outcome.UNAVAILABLE
    assert categorise(outcome, slots, AT) is expected


@pytest.mark.parametrize("outcome", [Outcome.BARRIER, Outcome.SITE_ERROR, Outcome.UNRECOGNIZED])
def test_invalid_probes_have_no_category(outcome: Outcome) -> None:
    assert categorise(outcome, (), AT) is None
    assert _obs(outcome).category is None


def test_observation_refuses_inconsistent_content() -> None:
    slot = (AT + timedelta(days=3)).astimezone(PARIS)
    with pytest.raises(ValueError, match="available"):
        _obs(Outcome.AVAILABLE)
    with pytest.raises(ValueError, match="cannot be"):
        _obs(Outcome.UNAVAILABLE, (slot,))
    with pytest.raises(ValueError, match="sorted"):
        _obs(Outcome.AVAILABLE, (slot + timedelta(hours=1), slot))
    with pytest.raises(ValueError, match="aware"):
        Observation("p", "s", "ezbooking", "u", AT.replace(tzinfo=None), AT, Outcome.BARRIER, "x")


def test_both_half_past_two_of_the_autumn_change_are_two_slots() -> None:
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC).astimezone(PARIS)  # 02:30 CEST
    second = datetime(2026, 10, 25, 1, 30, tzinfo=UTC).astimezone(PARIS)  # 02:30 CET
    assert first == second  # Python compares wall clocks of one zone...
    slots = unique_instants([second, first, first])
    assert [s.utcoffset() for s in slots] == [timedelta(hours=2), timedelta(hours=1)]
    assert len(_obs(Outcome.AVAILABLE, slots).slots) == 2


def test_json_contract_keys() -> None:
    slot = (AT + timedelta(days=3)).astimezone(PARIS)
    data = _obs(Outcome.AVAILABLE, (slot,)).to_json()
    for key in ("outcome", "detail", "slots", "first_slot", "category", "horizon_end",
                "requests", "started_at"):  # fmt: skip
        assert key in data
    assert data["slots"] == ["2026-10-08T10:00:00+02:00"]
    assert data["started_at"] == "2026-10-05T08:00:00+00:00" and data["category"] == "B"
