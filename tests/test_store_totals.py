"""The running totals (``hourly_probes``, ``daily_totals``: store/totals.py, migration 0008) give
exactly what the direct queries on the probes and the rollups give, whatever wrote them: saves,
a late probe in a closed month, replicates and assisted reads, raw SQL inserts, deletes and moves,
a rollup rebuild, a database from before the migration, two writers at once on PostgreSQL."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import Connection, Date, Engine, bindparam, create_engine, text

from guichets.model import Outcome
from guichets.periods import DateRange, month_range
from guichets.store import Origin, Store, migrate
from guichets.store.rollups import COUNT_COLUMNS
from guichets.store.schema import UTCDateTime
from guichets.store.totals import TOTALS
from tests.dbfixtures import db_url
from tests.observations import mixed_probes, observation

__all__ = ["db_url"]

SEPTEMBER, OCTOBER, NOVEMBER = month_range(2026, 9), month_range(2026, 10), month_range(2026, 11)
PERIODS = [
    SEPTEMBER,
    OCTOBER,
    NOVEMBER,
    DateRange(date(2026, 10, 20), date(2026, 11, 3)),
    DateRange(date(2026, 10, 25), date(2026, 10, 25)),  # the day of 25 hours
    DateRange(date(2026, 9, 1), date(2026, 12, 31)),
]

OLD_ROLLUPS = text(
    "SELECT count(*), "
    + ", ".join(f"coalesce(sum({c}), 0)" for c in COUNT_COLUMNS)
    + " FROM daily_rollups WHERE day >= :first AND day <= :last"
)
OLD_STORED = text("SELECT count(*) FROM probes WHERE started_at >= :start AND started_at < :end")


def engine_of(url: str) -> Engine:
    return create_engine(url.replace("postgresql://", "postgresql+psycopg://"))


def old_totals(conn: Connection, days: DateRange) -> list[int]:
    """``Store.rollup_totals`` before the running totals: the rollups' sums and the index count,
    in plain SQL on the base tables (the bounds bound as the store binds them)."""
    rollups = OLD_ROLLUPS.bindparams(
        bindparam("first", days.first, type_=Date()), bindparam("last", days.last, type_=Date())
    )
    stored = OLD_STORED.bindparams(
        bindparam("start", days.start, type_=UTCDateTime()),
        bindparam("end", days.end, type_=UTCDateTime()),
    )
    return [*(int(v) for v in conn.execute(rollups).one()), int(conn.execute(stored).scalar_one())]


def check(store: Store, url: str) -> None:
    engine = engine_of(url)
    try:
        with engine.connect() as conn:
            for days in PERIODS:
                assert store.rollup_totals(days) == old_totals(conn, days), days
    finally:
        engine.dispose()


def raw(url: str, sql: str, **params: object) -> None:
    engine = engine_of(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql), params)
    finally:
        engine.dispose()


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with Store.open(db_url) as opened:
        for k, o in enumerate(mixed_probes()):
            assert opened.save(o, period_key=f"k{k}")
        yield opened


def test_the_totals_count_the_columns_the_rollups_sum() -> None:
    assert TOTALS == COUNT_COLUMNS


def test_saves_late_probes_replicates_and_assisted_reads(db_url: str, store: Store) -> None:
    check(store, db_url)
    assert store.rollup_totals(NOVEMBER)[0] > 0, "the end of October is November in Paris"
    # A late probe in a closed month, a refused second probe of a period, a replicate, an
    # assisted read: the last two are stored (counted last) but in no rollup.
    late = observation(90001, datetime(2026, 10, 3, 8, 15, tzinfo=UTC), days=(4,))
    assert store.save(late, period_key="late")
    assert not store.save(observation(90002, late.started_at), period_key="late")
    replicate = observation(90003, datetime(2026, 10, 3, 8, 40, tzinfo=UTC))
    assert store.save(replicate, origin=Origin(worker="w", vantage="v", replicate_of="late"))
    assisted = dataclasses.replace(
        observation(90004, datetime(2026, 10, 31, 23, 0, tzinfo=UTC)), assisted=True, person="p-1"
    )
    assert store.save(assisted)
    october, november = store.rollup_totals(OCTOBER), store.rollup_totals(NOVEMBER)
    assert october[-1] == october[1] + 1, "the replicate"
    assert november[-1] == november[1] + 1, "the assisted read: 1 November in Paris"
    check(store, db_url)


def test_raw_inserts_deletes_moves_and_rebuilds(db_url: str, store: Store) -> None:
    sqlite = db_url.startswith("sqlite")
    # A probe inserted by raw SQL (as bench/site.py fills its data), with no rollup.
    raw(
        db_url,
        "INSERT INTO probes (probe_id, service, platform, url, started_at, finished_at, outcome, "
        "detail, slots_count, slots, requests, message, trail, extra, cpu_seconds, assisted) "
        "SELECT 'raw', service, platform, url, started_at, finished_at, outcome, detail, "
        "slots_count, slots, requests, message, trail, extra, cpu_seconds, assisted "
        "FROM probes WHERE probe_id = 'p00000'",
    )
    check(store, db_url)
    # Moved across the end of October (23:00 UTC on the 31st is midnight in Paris), then deleted.
    moved = "2026-10-31 23:00:00.000000" if sqlite else "2026-10-31T23:00:00+00:00"
    raw(db_url, f"UPDATE probes SET started_at = '{moved}' WHERE probe_id = 'raw'")
    check(store, db_url)
    raw(db_url, "DELETE FROM probes WHERE probe_id IN ('raw', 'p00001', 'p00002')")
    check(store, db_url)
    # The rollups rebuilt from the probes: every row deleted and inserted again.
    assert store.rebuild_rollups(OCTOBER) > 0
    check(store, db_url)
    # A rollup deleted by hand, and one whose counts are changed: the day's totals follow.
    raw(db_url, "DELETE FROM daily_rollups WHERE day = '2026-10-25' AND service LIKE '38%'")
    raw(
        db_url,
        "UPDATE daily_rollups SET probes = probes + 5, day = '2026-09-30' "
        "WHERE day = '2026-10-24' AND service LIKE '69%'",
    )
    raw(db_url, "UPDATE daily_rollups SET cat_e = cat_e + 2 WHERE day = '2026-10-31'")
    check(store, db_url)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_an_instant_stored_in_another_form_is_counted_where_its_text_sorts(
    db_url: str, store: Store
) -> None:
    """SQLite compares ``started_at`` as text: a value written by hand without microseconds at
    the very start of November sorts before November's first bound, in October; its hour is that
    text whole, so the totals put it where the index does."""
    # October, November, October: as text, before, after, before "2026-10-31 23:00:00.000000".
    for n, at in enumerate(["2026-10-31 23:00:00", "2026-10-31 23:00:00.5", "2026-10-31"]):
        raw(
            db_url,
            "INSERT INTO probes (probe_id, service, platform, url, started_at, finished_at, "
            "outcome, detail, slots_count, slots, requests, message, trail, extra, cpu_seconds, "
            f"assisted) VALUES ('odd{n}', 's', 'p', 'u', :at, :at, 'barrier', 'blocked', 0, '[]', "
            "1, '', '[]', '{}', 0, 0)",
            at=at,
        )
    check(store, db_url)
    assert store.rollup_totals(OCTOBER)[-1] == 75 + 2
    assert store.rollup_totals(NOVEMBER)[-1] == 15 + 1


def test_a_rebuild_repairs_totals_written_past_the_triggers(db_url: str, store: Store) -> None:
    raw(db_url, "UPDATE hourly_probes SET probes = probes + 7")
    raw(db_url, "UPDATE daily_totals SET rollups = rollups + 1, slots_seen = 0")
    with pytest.raises(AssertionError):
        check(store, db_url)
    store.rebuild_rollups(DateRange(SEPTEMBER.first, NOVEMBER.last))
    check(store, db_url)


def test_a_database_from_before_the_totals_gets_them_when_opened(db_url: str) -> None:
    with Store.open(db_url) as store:
        for k, o in enumerate(mixed_probes()):
            assert store.save(o, period_key=f"k{k}")
    engine = engine_of(db_url)
    try:
        with engine.begin() as conn, migrate.alembic_config(conn) as config:
            command.downgrade(config, "0007_alert_outbox")
        with engine.begin() as conn:  # written while no trigger counted them
            conn.execute(text("DELETE FROM probes WHERE probe_id = 'p00003'"))
            conn.execute(text("DELETE FROM daily_rollups WHERE day = '2026-10-24'"))
    finally:
        engine.dispose()
    with Store.open(db_url) as store:
        check(store, db_url)
        assert store.rollup_totals(OCTOBER)[-1] == 75 - 1


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_writers_in_the_same_hour_lose_no_count(db_url: str) -> None:
    """Two stores (two connections) saving at once into the same new hour and day: the upserts
    in the triggers wait for each other, none is lost."""
    at = datetime(2026, 9, 14, 10, 0, tzinfo=UTC)
    with Store.open(db_url) as one, Store.open(db_url) as two:
        start = threading.Barrier(2)

        def save(store: Store, first: int) -> None:
            start.wait()
            for n in range(first, first + 40):
                o = observation(n, at + timedelta(seconds=n), Outcome.BARRIER)
                assert store.save(o, period_key=f"k{n}")

        threads = [threading.Thread(target=save, args=(s, k)) for s, k in ((one, 0), (two, 1000))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert one.rollup_totals(SEPTEMBER)[:2] == [1, 80]
        assert one.rollup_totals(SEPTEMBER)[-1] == 80
        check(one, db_url)
