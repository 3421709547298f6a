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
from sqlalchemy import Boolean, Connection, Date, Engine, bindparam, create_engine, text

from guichets.model import Outcome
from guichets.periods import DateRange, month_range
from guichets.store import Origin, Store, migrate, rollups, totals
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
OLD_BEHIND = text(
    "SELECT (SELECT count(*) FROM probes WHERE started_at >= :start AND started_at < :end "
    "AND replicate_of IS NULL AND assisted = :no) != "
    "(SELECT coalesce(sum(probes), 0) FROM daily_rollups WHERE day >= :first AND day <= :last)"
)


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


def old_behind(conn: Connection, days: DateRange) -> bool:
    """``rollups.stale`` before the running totals: the robot's probes counted row by row."""
    query = OLD_BEHIND.bindparams(
        bindparam("first", days.first, type_=Date()),
        bindparam("last", days.last, type_=Date()),
        bindparam("start", days.start, type_=UTCDateTime()),
        bindparam("end", days.end, type_=UTCDateTime()),
        bindparam("no", False, type_=Boolean()),
    )
    return bool(conn.execute(query).scalar_one())


def check(store: Store, url: str) -> bool:
    """The totals and the check of the rollups equal the direct queries' over every period;
    returns whether the rollups of the widest are behind the probes."""
    engine = engine_of(url)
    try:
        with engine.connect() as conn:
            for days in PERIODS:
                assert store.rollup_totals(days) == old_totals(conn, days), days
                assert totals.behind(conn, days) is old_behind(conn, days), days
                assert rollups.stale(conn, days) is old_behind(conn, days), days
            return old_behind(conn, PERIODS[-1])
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
    assert not check(store, db_url), "neither is of the robot's sample: the rollups are right"


def test_raw_inserts_deletes_moves_and_rebuilds(db_url: str, store: Store) -> None:
    sqlite = db_url.startswith("sqlite")
    # A probe inserted by raw SQL (as bench/site.py fills its data), with no rollup.
    raw(
        db_url,
        "INSERT INTO probes (probe_id, service, platform, url, started_at, finished_at, outcome, "
        "detail, slots_count, slots, requests, message, trail, extra, cpu_seconds, assisted) "
        "SELECT 'raw', service, platform, url, started_at, finished_at, outcome, detail, "
        "slots_count, slots, requests, message, trail, extra, cpu_seconds, assisted "
        "FROM probes WHERE probe_id = 'p00001'",
    )
    assert check(store, db_url), "a probe of the robot's with no rollup: behind"
    assert store.rollup_totals(OCTOBER)[-1] == 75 + 1
    # Moved across the end of October (23:00 UTC on the 31st is midnight in Paris), then deleted.
    moved = "2026-10-31 23:00:00.000000" if sqlite else "2026-10-31T23:00:00+00:00"
    raw(db_url, f"UPDATE probes SET started_at = '{moved}' WHERE probe_id = 'raw'")
    check(store, db_url)
    raw(db_url, "DELETE FROM probes WHERE probe_id IN ('raw', 'p00002', 'p00003')")
    check(store, db_url)
    # The rollups rebuilt from the probes: every row deleted and inserted again.
    assert store.rebuild_rollups(OCTOBER) > 0
    assert not check(store, db_url)
    # A probe turned into a replicate, then into an assisted read, then back: the robot's count
    # follows (the rollups, untouched, fall behind, then are right again).
    raw(db_url, "UPDATE probes SET replicate_of = 'k9' WHERE probe_id = 'p00004'")
    assert check(store, db_url)
    raw(
        db_url,
        "UPDATE probes SET replicate_of = NULL, assisted = :yes WHERE probe_id = 'p00004'",
        yes=True,
    )
    assert check(store, db_url)
    raw(db_url, "UPDATE probes SET assisted = :no WHERE probe_id = 'p00004'", no=False)
    assert not check(store, db_url)
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


def _saved_then_before_the_totals(db_url: str) -> Engine:
    """The mixed probes saved, then the store taken back to the migration before the running
    totals (no trigger counts what is written next); returns an engine on it, to dispose."""
    with Store.open(db_url) as store:
        for k, o in enumerate(mixed_probes()):
            assert store.save(o, period_key=f"k{k}")
    engine = engine_of(db_url)
    with engine.begin() as conn, migrate.alembic_config(conn) as config:
        command.downgrade(config, "0007_alert_outbox")
    return engine


def test_a_database_from_before_the_totals_gets_them_when_opened(db_url: str) -> None:
    engine = _saved_then_before_the_totals(db_url)
    try:
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


def test_a_period_off_the_hour_is_counted_from_the_tables(db_url: str, store: Store) -> None:
    """Paris kept its local mean time (+0:09:21) until 1911: its days then start off the hour,
    which no hour of the totals can split; such a period is counted from the base tables."""
    old = month_range(1900, 1)
    assert old.start.minute != 0
    assert store.save(observation(90010, datetime(1899, 12, 31, 23, 55, tzinfo=UTC)))  # 1 Jan
    assert store.save(observation(90011, datetime(1899, 12, 31, 23, 45, tzinfo=UTC)))  # 31 Dec
    assert store.rollup_totals(old)[-1] == 1
    engine = engine_of(db_url)
    try:
        with engine.connect() as conn:
            assert store.rollup_totals(old) == old_totals(conn, old)
    finally:
        engine.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_probe_saved_while_the_totals_are_made_is_counted(db_url: str) -> None:
    """PostgreSQL: the store brought to the running totals (migration 0008) while another
    session is saving a probe (a run on another machine, as the store is upgraded): once both
    have committed, the totals count it (before: the first totals' read, made before the
    triggers, did not see it, and the triggers came after it: a probe short until a rebuild)."""
    engine = _saved_then_before_the_totals(db_url)
    try:
        with engine.connect() as writer:
            saving = writer.begin()
            writer.execute(
                text(
                    "INSERT INTO probes (probe_id, service, platform, url, started_at, "
                    "finished_at, outcome, detail, slots_count, slots, requests, message, trail, "
                    "extra, cpu_seconds, assisted) SELECT 'raw', service, platform, url, "
                    "started_at, finished_at, outcome, detail, slots_count, slots, requests, "
                    "message, trail, extra, cpu_seconds, assisted FROM probes "
                    "WHERE probe_id = 'p00001'"
                )
            )
            opening = threading.Thread(target=lambda: Store.open(db_url).close())
            opening.start()
            _until_a_lock_is_waited_for(engine, opening)
            saving.commit()
        opening.join(timeout=120)  # a hang's bound only
        assert not opening.is_alive()
    finally:
        engine.dispose()
    with Store.open(db_url) as store:
        check(store, db_url)
        assert store.rollup_totals(OCTOBER)[-1] == 75 + 1


def _until_a_lock_is_waited_for(engine: Engine, opening: threading.Thread) -> None:
    """Until a session waits for a lock on a table of this test's schema (the store's opening,
    for the uncommitted save's), read from the server's lock table; the opening must not end
    first (it would have gone past the save)."""
    waiting = text(
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON l.relation = c.oid "
        "JOIN pg_namespace n ON c.relnamespace = n.oid "
        "WHERE NOT l.granted AND n.nspname = current_schema()"
    )
    with engine.connect() as conn:
        while not conn.execute(waiting).scalar_one():
            assert opening.is_alive(), "the store was opened without waiting for the save"
            opening.join(timeout=0.01)  # a poll of the server's state, not a wait for time
