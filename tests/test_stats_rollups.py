"""Daily rollups on SQLite and PostgreSQL: kept up to date by every save, equal to a recomputation
from the raw probes, on the right Paris day, and rebuilt when they fall behind."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import create_engine, delete, text

from guichets.model import PARIS, Observation, Outcome
from guichets.periods import DateRange, local_day, month_range
from guichets.stats.report import rollups_of
from guichets.store import Store
from guichets.store.schema import daily_details, daily_rollups
from guichets.tally import DayRollup, facts_of
from tests.dbfixtures import db_url
from tests.observations import mixed_probes, observation

__all__ = ["db_url"]


def normalised(rollups: Iterable[DayRollup]) -> list[tuple[object, ...]]:
    """Rollups as comparable tuples: lead times are a multiset, their order does not matter."""
    out = []
    for r in sorted(rollups, key=lambda r: (r.service, r.day)):
        t = r.tally
        out.append(
            (r.service, r.day, r.departement, r.site, t.probes, t.outcomes, t.categories,
             dict(t.details), t.first_slot, t.slots_seen, sorted(t.leads), sorted(t.censored))
        )  # fmt: skip
    return out


OCTOBER_AND_A_BIT = DateRange(date(2026, 10, 20), date(2026, 11, 3))


@pytest.fixture
def filled(db_url: str) -> list[Observation]:
    probes = mixed_probes()
    with Store.open(db_url) as store:
        for k, o in enumerate(probes):
            assert store.save(o, period_key=f"k{k}")
        # A second probe for a period already probed is refused and must not count.
        assert not store.save(observation(99999, probes[0].started_at), period_key="k0")
    return probes


def test_every_save_keeps_its_day_equal_to_a_recomputation(
    db_url: str, filled: list[Observation]
) -> None:
    with Store.open(db_url) as store:
        stored = list(store.rollups(OCTOBER_AND_A_BIT))
        again = rollups_of(facts_of(o) for o in store.observations())
    assert normalised(stored) == normalised(again) == normalised(rollups_of(map(facts_of, filled)))
    assert sum(r.tally.probes for r in stored) == len(filled)
    days = {(r.service, r.day) for r in stored}
    assert ("38-grenoble-renouvellement", date(2026, 10, 24)) in days
    assert ("38-grenoble-renouvellement", date(2026, 11, 1)) in days
    assert local_day(datetime(2026, 10, 31, 23, 30, tzinfo=UTC)) == date(2026, 11, 1)
    # Midnight and both 02:30 of the night the clocks go back are probes of the 25th.
    day = next(r for r in stored if r.day == date(2026, 10, 25) and r.service.startswith("38"))
    assert day.tally.probes == 3 * 9
    first = min(o.first_slot for o in filled if o.first_slot is not None)
    assert min(r.tally.first_slot for r in stored if r.tally.first_slot) == first


def test_lead_times_are_whole_seconds_and_nothing_found_is_censored_at_the_horizon(
    db_url: str, filled: list[Observation]
) -> None:
    with Store.open(db_url) as store:
        stored = list(store.rollups(OCTOBER_AND_A_BIT, service="69-lyon-etudiants"))
    leads = sorted(v for r in stored for v in r.tally.leads)
    censored = {v for r in stored for v in r.tally.censored}
    assert leads[0] == 43_200 and 80 * 86_400 not in leads  # half a day; only the first slot
    assert censored == {91 * 86_400}
    assert {r.service for r in stored} == {"69-lyon-etudiants"}


def test_filters_by_service_and_departement(db_url: str, filled: list[Observation]) -> None:
    with Store.open(db_url) as store:
        only = list(store.rollups(OCTOBER_AND_A_BIT, departement="69"))
        october = list(store.rollups(month_range(2026, 10)))
    assert {r.departement for r in only} == {"69"}
    assert all(sum(r.tally.details.values()) == r.tally.probes for r in only), "details joined"
    assert all(sum(r.tally.details.values()) == r.tally.probes for r in october)
    assert sum(r.tally.probes for r in only) == sum(1 for o in filled if o.departement == "69")
    assert all(r.day.month == 10 for r in october)


def test_rollups_that_fall_behind_are_rebuilt_from_the_probes(
    db_url: str, filled: list[Observation]
) -> None:
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.begin() as conn:  # as a database from before the rollups would be
            conn.execute(delete(daily_rollups).where(daily_rollups.c.day == date(2026, 10, 25)))
            conn.execute(delete(daily_details))
    finally:
        engine.dispose()
    expected = normalised(rollups_of(map(facts_of, filled)))
    with Store.open(db_url) as store:
        assert normalised(store.rollups(OCTOBER_AND_A_BIT)) != expected
        assert store.refresh_rollups(OCTOBER_AND_A_BIT, departement="38") > 0
        assert store.refresh_rollups(OCTOBER_AND_A_BIT) > 0
        assert store.refresh_rollups(OCTOBER_AND_A_BIT) == 0, "right now: nothing to do"
        assert normalised(store.rollups(OCTOBER_AND_A_BIT)) == expected
        # Forced, over a range larger than the data: the same rows, nothing else.
        assert store.rebuild_rollups(DateRange(date(2026, 9, 1), date(2026, 12, 31))) == len(
            expected
        )
        assert normalised(store.rollups(OCTOBER_AND_A_BIT)) == expected
        # Saves after a rebuild add to the rebuilt days.
        late = observation(77777, datetime(2026, 10, 25, 9, 0, tzinfo=UTC), days=(2, 3))
        assert store.save(late)
        assert normalised(store.rollups(OCTOBER_AND_A_BIT)) == normalised(
            rollups_of(map(facts_of, [*filled, late]))
        )


def test_probe_days_services_and_points(db_url: str, filled: list[Observation]) -> None:
    with Store.open(db_url) as store:
        assert store.probe_days() == DateRange(date(2026, 10, 24), date(2026, 11, 1))
        assert store.services() == ["38-grenoble-renouvellement", "69-lyon-etudiants"]
        points = store.probe_points(month_range(2026, 11), service="38-grenoble-renouvellement")
    assert len(points) == 9 and all(p[0] == "38-grenoble-renouvellement" for p in points)
    assert [p[1] for p in points] == sorted(p[1] for p in points)
    assert {p[2] for p in points} == {o.value for o in Outcome}
    # the instants as stored, aware, in UTC, whatever the database (read off the raw cursor)
    stored = {
        o.started_at
        for o in filled
        if o.service == "38-grenoble-renouvellement"
        and o.started_at >= datetime(2026, 11, 1, tzinfo=PARIS)
    }
    assert {p[1] for p in points} == stored and all(
        p[1].utcoffset() == timedelta(0) for p in points
    )


def test_an_empty_store_has_no_days(db_url: str) -> None:
    with Store.open(db_url) as store:
        assert store.probe_days() is None
        assert list(store.rollups(OCTOBER_AND_A_BIT)) == []
        assert store.refresh_rollups(OCTOBER_AND_A_BIT) == 0


def test_the_rollup_tables_hold_what_the_schema_says(
    db_url: str, filled: list[Observation]
) -> None:
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            details = conn.execute(text("SELECT sum(probes) FROM daily_details")).scalar_one()
            leads = conn.execute(text("SELECT leads FROM daily_rollups WHERE leads <> ''")).first()
    finally:
        engine.dispose()
    assert details == len(filled)
    assert leads is not None and all(part.isdigit() for part in leads[0].split(","))
