"""The store keeps every probe as found, on SQLite and PostgreSQL alike.

Everything downstream reads these rows, so the tests check that what comes out is what went in
(instants in UTC, slots with their Paris offsets across the clock change), that a slot of the
schedule is never stored twice, and that the migrations build exactly the schema of schema.py.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, select, text
from sqlalchemy.exc import StatementError

import guichets.store.readings
from guichets.model import PARIS, Category, Detail, Observation, Outcome, Step
from guichets.store import Store, StoreError, migrate
from guichets.store.schema import metadata, probes, runs
from tests.dbfixtures import db_url, pg_base_url, pg_schema, sqlite_url

__all__ = ["db_url"]  # the fixture, imported for its parametrisation over both backends

T0 = datetime(2026, 10, 24, 8, 0, tzinfo=UTC)  # the day before the clocks go back in Paris
CEST = timezone(timedelta(hours=2))
CET = timezone(timedelta(hours=1))


def observation(probe_id: str = "p1", **changes: object) -> Observation:
    """An unavailable probe of one service; ``changes`` override any field."""
    fields: dict[str, object] = {
        "probe_id": probe_id,
        "service": "75-titres",
        "platform": "ezbooking",
        "url": "https://rdv.example.gouv.fr/booking/create/1234",
        "started_at": T0,
        "finished_at": T0 + timedelta(seconds=3),
        "outcome": Outcome.UNAVAILABLE,
        "detail": Detail.NO_SLOT_PAGE,
        "departement": "75",
    }
    fields.update(changes)
    return Observation(**fields)  # type: ignore[arg-type]


def full_observation(probe_id: str = "full") -> Observation:
    """Every field set, slots on both sides of the 2026-10-25 change, a kept page."""
    slots = (
        datetime(2026, 10, 24, 9, 30, tzinfo=PARIS),  # CEST, +02:00
        datetime(2026, 10, 25, 1, 45, tzinfo=PARIS),  # CEST, the night of the change
        datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=PARIS),  # the second 02:30, CET
        datetime(2026, 10, 26, 9, 0, 0, 250000, tzinfo=PARIS),  # CET, +01:00
    )
    return Observation(
        probe_id=probe_id,
        service="13-etrangers",
        platform="ezbooking",
        url="https://rdv.example.gouv.fr/booking/create/42",
        # given in Paris time: the store keeps the instant, read back in UTC
        started_at=datetime(2026, 10, 24, 10, 0, 0, 123456, tzinfo=PARIS),
        finished_at=datetime(2026, 10, 24, 10, 0, 7, 654321, tzinfo=PARIS),
        outcome=Outcome.AVAILABLE,
        detail=Detail.SLOTS_SEEN,
        slots=slots,
        horizon_end=datetime(2026, 12, 23, 23, 59, 59, tzinfo=PARIS),
        counter="Guichet 3 – titres de séjour",
        requests=5,
        http_status=200,
        message="4 créneaux, le premier samedi à 9 h 30",
        departement="13",
        trail=(
            Step("GET", "https://rdv.example.gouv.fr/booking/create/42", 200, T0, "start"),
            Step("POST", "https://rdv.example.gouv.fr/booking/create/42/1", 302, T0),
            Step("GET", "https://rdv.example.gouv.fr/x", None, T0 + timedelta(seconds=1), "t/o"),
        ),
        kept_page="<html>é</html>".encode(),
        kept_url="https://rdv.example.gouv.fr/booking/create/42/2",
        cpu_seconds=0.125,
        extra={"next_release": "lundi 8 h", "note": "« guillemets »"},
    )


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with Store.open(db_url) as opened:
        yield opened


@pytest.fixture
def raw(db_url: str, store: Store) -> Iterator[Engine]:
    """The same database, bypassing the store: to look at what is really stored."""
    engine = create_engine(db_url)
    yield engine
    engine.dispose()


def only(store: Store, **filters: object) -> list[Observation]:
    return list(store.observations(**filters))  # type: ignore[arg-type]


# -- round trip --------------------------------------------------------------------------------


def test_every_field_round_trips(store: Store, raw: Engine) -> None:
    original = full_observation()
    run_id = store.start_run(command="run", version="0.1.0", catalogue_digest="abc", at=T0)
    assert store.save(
        original,
        run_id=run_id,
        period_key="2026-10-24T08:00Z/PT1H",
        scheduled_for=datetime(2026, 10, 24, 10, 0, tzinfo=PARIS),
        robots_override="rdv.example.gouv.fr: agreed with the prefecture",
    )
    [back] = only(store)

    assert back == dataclasses.replace(original, kept_page=None)
    assert store.kept_page(original.probe_id) == original.kept_page
    # instants: the same instant, in UTC
    for got in (back.started_at, back.finished_at, *(step.at for step in back.trail)):
        assert got.tzinfo is UTC
    assert back.started_at == datetime(2026, 10, 24, 8, 0, 0, 123456, tzinfo=UTC)
    # slots: the same wall-clock and offset (== alone would ignore the fold)
    assert [s.isoformat() for s in back.slots] == [
        "2026-10-24T09:30:00+02:00",
        "2026-10-25T01:45:00+02:00",
        "2026-10-25T02:30:00+01:00",
        "2026-10-26T09:00:00.250000+01:00",
    ]
    assert all(s.tzinfo is PARIS for s in back.slots)
    assert back.horizon_end is not None and back.horizon_end.tzinfo is PARIS
    assert back.horizon_end.isoformat() == "2026-12-23T23:59:59+01:00"
    assert back.category is Category.A
    assert back.trail[0].note == "start" and back.trail[2].status is None

    with raw.connect() as conn:
        row = conn.execute(select(probes)).one()
    assert row.run_id == run_id
    assert row.period_key == "2026-10-24T08:00Z/PT1H"
    assert row.robots_override == "rdv.example.gouv.fr: agreed with the prefecture"
    assert row.category == "A" and row.slots_count == 4 and row.outcome == "available"
    assert row.first_slot == datetime(2026, 10, 24, 7, 30, tzinfo=UTC)  # the first slot's instant
    assert row.scheduled_for == datetime(2026, 10, 24, 8, 0, tzinfo=UTC)
    assert row.first_slot.tzinfo is UTC and row.scheduled_for.tzinfo is UTC


def test_both_halves_of_the_repeated_hour_stay_apart(store: Store) -> None:
    """Paris datetimes ignore the fold when compared: such slots come back with fixed offsets."""
    slots = (
        datetime(2026, 10, 25, 2, 30, tzinfo=CEST),
        datetime(2026, 10, 25, 2, 30, tzinfo=CET),
    )
    store.save(observation(outcome=Outcome.AVAILABLE, detail=Detail.SLOTS_SEEN, slots=slots))
    [back] = only(store)
    assert [s.isoformat() for s in back.slots] == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:30:00+01:00",
    ]
    assert back.slots == slots


def test_a_slot_outside_paris_keeps_its_offset(store: Store) -> None:
    slot = datetime(2026, 10, 26, 8, 0, tzinfo=timezone(timedelta(hours=-4)))  # Guadeloupe
    store.save(observation(outcome=Outcome.AVAILABLE, detail=Detail.SLOTS_SEEN, slots=(slot,)))
    [back] = only(store)
    assert back.slots[0].isoformat() == "2026-10-26T08:00:00-04:00"


def test_probe_without_optional_fields(store: Store) -> None:
    plain = observation(departement=None, outcome=Outcome.BARRIER, detail=Detail.CAPTCHA)
    assert store.save(plain)
    [back] = only(store)
    assert back == plain
    assert back.category is None and back.kept_url is None
    assert store.kept_page(plain.probe_id) is None


def test_kept_page_without_its_own_url_is_the_probes(store: Store) -> None:
    store.save(observation(outcome=Outcome.UNRECOGNIZED, detail="layout_changed", kept_page=b"x"))
    [back] = only(store)
    assert back.kept_url == back.url
    assert store.kept_page("p1") == b"x"


# -- naive datetimes ---------------------------------------------------------------------------

NAIVE = datetime(2026, 10, 24, 8, 0)


def test_naive_datetimes_are_refused(store: Store, raw: Engine) -> None:
    with pytest.raises(ValueError, match="naive"):
        store.start_run(command="run", version="0", catalogue_digest=None, at=NAIVE)
    with pytest.raises(ValueError, match=r"scheduled_for=.* naive"):
        store.save(observation(), scheduled_for=NAIVE)
    with pytest.raises(ValueError, match="naive"):
        store.save(observation(horizon_end=NAIVE))
    with pytest.raises(ValueError, match="naive"):
        store.save(observation(trail=(Step("GET", "https://x", 200, NAIVE),)))
    with pytest.raises(ValueError, match="naive"):
        store.period_keys("75-titres", NAIVE)
    with pytest.raises(ValueError, match="naive"):
        store.observations(since=NAIVE)  # at the call, not at the first row
    assert store.count() == 0
    assert store.runs() == []
    # and below the store, the column type itself refuses them
    with raw.begin() as conn, pytest.raises(StatementError, match="naive datetime"):
        conn.execute(
            runs.insert().values(
                id="r",
                started_at=NAIVE,
                heartbeat_at=T0,
                hostname="h",
                version="0",
                command="run",
            )
        )


# -- one probe per slot of the schedule --------------------------------------------------------


def test_a_slot_is_stored_once_and_the_first_probe_stands(store: Store) -> None:
    key = "2026-10-24T08:00Z/PT1H"
    first = observation("first", message="first")
    again = observation(
        "again",
        message="again",
        outcome=Outcome.UNRECOGNIZED,
        detail="layout_changed",
        kept_page=b"page",
    )
    assert store.save(first, period_key=key) is True
    assert store.save(again, period_key=key) is False
    assert only(store) == [first]
    assert store.kept_page("again") is None
    # the same key for another service, and probes without a key, all store
    assert store.save(observation("other", service="92-titres"), period_key=key)
    assert store.save(observation("byhand1"))
    assert store.save(observation("byhand2"))
    assert store.count() == 4
    assert store.period_keys("75-titres", T0) == {key}


def test_a_probe_id_is_stored_once(store: Store) -> None:
    store.save(observation("same", message="kept"), period_key="a")
    with pytest.raises(StoreError, match="'same'"):
        store.save(observation("same", message="lost"), period_key="b")
    assert [o.message for o in only(store)] == ["kept"]


def test_period_keys_since(store: Store) -> None:
    for hour in range(4):
        at = T0 + timedelta(hours=hour)
        key = f"{at:%Y-%m-%dT%H:%MZ}/PT1H"
        store.save(observation(f"a{hour}", started_at=at, finished_at=at), period_key=key)
        store.save(
            observation(f"b{hour}", service="b", started_at=at, finished_at=at), period_key=key
        )
    assert store.period_keys("75-titres", T0 + timedelta(hours=2)) == {
        "2026-10-24T10:00Z/PT1H",
        "2026-10-24T11:00Z/PT1H",
    }
    assert store.period_keys("nobody", T0) == set()


# -- reading -----------------------------------------------------------------------------------


def test_observations_filters_and_order(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guichets.store.readings, "PAGE", 3)  # pages, ties across a page boundary
    made = []
    for i, (service, dep, minutes) in enumerate(
        [
            ("s1", "75", 30),
            ("s2", "13", 0),
            ("s1", "75", 0),
            ("s3", None, 10),
            ("s2", "13", 10),
            ("s1", "75", 10),
            ("s1", "75", 10),
            ("s2", "13", 50),
        ]
    ):
        at = T0 + timedelta(minutes=minutes)
        made.append(
            observation(
                f"p{7 - i}", service=service, departement=dep, started_at=at, finished_at=at
            )
        )
    for o in made:
        store.save(o)

    def ids(**filters: object) -> list[str]:
        return [o.probe_id for o in only(store, **filters)]

    everything = sorted(made, key=lambda o: (o.started_at, o.probe_id))
    assert only(store) == everything
    assert ids() == ["p5", "p6", "p1", "p2", "p3", "p4", "p7", "p0"]
    assert ids(service="s1") == ["p5", "p1", "p2", "p7"]
    assert ids(departement="13") == ["p6", "p3", "p0"]
    assert ids(since=T0 + timedelta(minutes=10)) == ["p1", "p2", "p3", "p4", "p7", "p0"]
    assert ids(until=T0 + timedelta(minutes=10)) == ["p5", "p6"]  # until is excluded
    assert ids(
        service="s1", since=T0 + timedelta(minutes=10), until=T0 + timedelta(minutes=30)
    ) == ["p1", "p2"]
    assert ids(departement="75", service="s2") == []
    # bounds given in another offset mean the same instant
    paris_since = (T0 + timedelta(minutes=50)).astimezone(PARIS)
    assert ids(since=paris_since) == ["p0"]
    assert store.count() == 8


# -- runs --------------------------------------------------------------------------------------


def test_runs_and_heartbeats(store: Store) -> None:
    run_id = store.start_run(
        command="guichets run catalogue.toml", version="0.1.0", catalogue_digest=None, at=T0
    )
    assert len(run_id) == 32 and int(run_id, 16) >= 0
    [run] = store.runs()
    assert (run.started_at, run.heartbeat_at, run.ended_at) == (T0, T0, None)
    assert run.hostname and run.command == "guichets run catalogue.toml"

    store.heartbeat(run_id, T0 + timedelta(minutes=5))
    assert store.runs()[0].heartbeat_at == T0 + timedelta(minutes=5)
    assert store.runs()[0].heartbeat_at.tzinfo is UTC
    store.save(observation(), run_id=run_id)
    store.end_run(run_id, T0 + timedelta(minutes=7))
    [run] = store.runs()
    assert run.ended_at == run.heartbeat_at == T0 + timedelta(minutes=7)

    with pytest.raises(StoreError, match="already ended"):
        store.heartbeat(run_id, T0 + timedelta(minutes=8))
    with pytest.raises(StoreError, match="no run 'nope'"):
        store.heartbeat("nope", T0)
    with pytest.raises(StoreError, match="run id must exist"):
        store.save(observation("orphan"), run_id="nope")
    assert store.count() == 1

    later = store.start_run(
        command="run", version="0.1.1", catalogue_digest="d", at=T0 + timedelta(days=1)
    )
    assert [r.id for r in store.runs()] == [run_id, later]
    assert [r.id for r in store.runs(since=T0 + timedelta(hours=1))] == [later]
    other = store.start_run(command="x", version="v", catalogue_digest=None, at=T0, hostname="h")
    assert {r.id: r.hostname for r in store.runs()}[other] == "h"


# -- opening again, migrations -----------------------------------------------------------------


def test_reopening_keeps_data_and_does_not_migrate_again(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store.open(db_url) as first:
        first.save(full_observation(), period_key="k")
        first.start_run(command="run", version="0", catalogue_digest=None, at=T0)

    def no_upgrade(*_: object) -> None:
        raise AssertionError("a database at head must not be migrated again")

    monkeypatch.setattr(migrate, "upgrade", no_upgrade)
    with Store.open(db_url) as again:
        assert again.count() == 1
        assert only(again) == [dataclasses.replace(full_observation(), kept_page=None)]
        assert again.kept_page("full") == full_observation().kept_page
        assert len(again.runs()) == 1
        assert again.save(full_observation("twice"), period_key="k") is False


def test_migrations_build_exactly_the_schema(db_url: str) -> None:
    Store.open(db_url).close()
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_heads() == migrate.heads()
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            assert compare_metadata(context, metadata) == []
            names = set(inspect(conn).get_table_names())
        assert names == {"alembic_version", *metadata.tables}
        assert {"runs", "probes", "kept_pages"} <= names
    finally:
        engine.dispose()


def test_migrations_go_down_and_up_again(db_url: str) -> None:
    from alembic import command

    Store.open(db_url).close()
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn, migrate.alembic_config(conn) as config:
            command.downgrade(config, "base")
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    with Store.open(db_url) as store:
        assert store.count() == 0


def test_a_database_from_a_newer_guichets_is_refused(db_url: str) -> None:
    Store.open(db_url).close()
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        engine.dispose()
    with pytest.raises(StoreError, match="9999, newer than this guichets"):
        Store.open(db_url)


def test_a_database_with_foreign_tables_is_refused(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE runs (x INTEGER)"))
    finally:
        engine.dispose()
    with pytest.raises(StoreError, match="has tables runs but no migration record"):
        Store.open(db_url)


# -- opening: URLs -----------------------------------------------------------------------------


def test_default_location_is_created_under_home(tmp_path: Path) -> None:
    home = tmp_path / "deep" / "data"
    with Store.open(home=home) as store:
        assert store.url == f"sqlite:///{home / 'guichets.sqlite'}"
        store.save(observation())
    assert (home / "guichets.sqlite").is_file()
    with Store.open(sqlite_url(home)) as store:
        assert store.count() == 1


def test_default_home_is_guichets_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with Store.open() as store:
        assert store.url == "sqlite:///guichets-data/guichets.sqlite"
    assert (tmp_path / "guichets-data" / "guichets.sqlite").is_file()


def test_in_memory_sqlite(tmp_path: Path) -> None:
    with Store.open("sqlite://") as store:
        store.save(observation())
        assert store.count() == 1


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("not a url", "'not a url'"),
        ("mysql://robot:s3cret@db.example/guichets", "'mysql://robot:***@db.example/guichets'"),
        ("sqlite:////nonexistent/folder/g.sqlite", "'sqlite:////nonexistent/folder/g.sqlite'"),
        (
            "postgresql://robot:s3cret@127.0.0.1:1/guichets",  # nothing listens on port 1
            "'postgresql+psycopg://robot:***@127.0.0.1:1/guichets'",
        ),
        ("postgresql+psycopg2://robot:s3cret@127.0.0.1/g", "psycopg2://robot:***@127.0.0.1/g"),
    ],
)
def test_a_bad_url_says_which_and_what_would_do(url: str, named: str) -> None:
    with pytest.raises(StoreError) as caught:
        Store.open(url)
    message = str(caught.value)
    assert named in message
    assert "s3cret" not in message
    assert "sqlite:///" in message and "postgresql://" in message  # what would be right


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_bytes(b"these are not the tables you are looking for" * 100)
    with pytest.raises(StoreError, match=r"notes\.sqlite"):
        Store.open(f"sqlite:///{path}")


def test_sqlite_connections_are_set_up(tmp_path: Path) -> None:
    """WAL, NORMAL sync, foreign keys and a busy timeout on every pooled connection."""
    with Store.open(sqlite_url(tmp_path)) as store, store._engine.connect() as conn:
        pragma = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }
    assert pragma == {
        "journal_mode": "wal",
        "synchronous": 1,  # NORMAL
        "foreign_keys": 1,
        "busy_timeout": 30000,
    }


def test_a_closed_store_says_so(store: Store) -> None:
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.count()


# -- concurrency -------------------------------------------------------------------------------


def test_sqlite_readers_do_not_block_the_writer(tmp_path: Path) -> None:
    """WAL: a reader in the middle of a transaction sees its snapshot; the writer goes on."""
    url = sqlite_url(tmp_path)
    with Store.open(url) as store:
        store.save(observation("before"))
        reader = sqlite3.connect(tmp_path / "guichets.sqlite", isolation_level=None)
        try:
            assert reader.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            reader.execute("BEGIN")
            assert reader.execute("SELECT count(*) FROM probes").fetchone() == (1,)
            began = time.monotonic()
            assert store.save(observation("during"))
            # Waiting for the reader would mean the 30 s busy timeout (then an error): the bound is
            # far below that and far above any loaded machine's save.
            assert time.monotonic() - began < 20
            assert reader.execute("SELECT count(*) FROM probes").fetchone() == (1,)
            reader.execute("COMMIT")
            assert reader.execute("SELECT count(*) FROM probes").fetchone() == (2,)
        finally:
            reader.close()


def test_readers_while_one_writer_writes(db_url: str) -> None:
    """Readers (other Store objects, as other processes would) never fail nor go back in time."""
    writes = 200
    errors: list[BaseException] = []
    done = threading.Event()
    seen: list[list[int]] = [[] for _ in range(3)]

    with Store.open(db_url) as writer:

        def write() -> None:
            try:
                for i in range(writes):
                    at = T0 + timedelta(seconds=i)
                    o = observation(f"w{i:04d}", started_at=at, finished_at=at)
                    assert writer.save(o, period_key=f"k{i}")
            except BaseException as exc:
                errors.append(exc)
            finally:
                done.set()

        def read(counts: list[int]) -> None:
            try:
                with Store.open(db_url) as reader:
                    while not done.is_set():
                        counts.append(reader.count())
                        listed = [o.probe_id for o in reader.observations(service="75-titres")]
                        assert listed == sorted(listed)
                    counts.append(reader.count())
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=read, args=(c,)) for c in seen]
        threads.append(threading.Thread(target=write))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert not errors, errors
    for counts in seen:
        assert counts == sorted(counts), "a reader saw fewer probes than before"
        assert counts[-1] == writes


def test_two_writers_racing_for_the_same_slots(db_url: str) -> None:
    """Two robots on one database: each slot ends with exactly one probe, nothing fails."""
    keys = [f"2026-10-24T{h:02d}:00Z/PT1H" for h in range(24)] * 2
    results: dict[str, list[bool]] = {"a": [], "b": []}
    errors: list[BaseException] = []
    with Store.open(db_url) as a, Store.open(db_url) as b:

        def race(name: str, store: Store) -> None:
            try:
                for i, key in enumerate(keys):
                    results[name].append(store.save(observation(f"{name}{i}"), period_key=key))
            except BaseException as exc:
                errors.append(exc)

        threads = [
            threading.Thread(target=race, args=("a", a)),
            threading.Thread(target=race, args=("b", b)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors
        assert sum(results["a"]) + sum(results["b"]) == 24
        assert a.count() == 24
        assert len(a.period_keys("75-titres", T0)) == 24


# -- PostgreSQL specifics ----------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_schemas_isolate_tests() -> None:
    """The fixture's own promise: a store in one schema does not see another's rows."""
    base = pg_base_url()
    with pg_schema(base) as one, pg_schema(base) as two:
        with Store.open(one) as store:
            store.save(observation())
        with Store.open(two) as store:
            assert store.count() == 0
        with Store.open(one) as store:
            assert store.count() == 1


@pytest.mark.postgres
def test_the_run_lock_taken_again_never_meets_its_own_earlier_session() -> None:
    """The run lock is taken again on a fresh connection when its session no longer answers
    (``runlock.RunLock.check``, after its connection was found gone). An earlier session of this
    process that still holds it is ended first, not given back to the pool with the lock: else
    the run would find its own lock taken and stop, naming itself. (A session that answers with
    an error is not taken again at all: ``tests/faults/test_second_run.py``.)"""
    from guichets.store.advisory import AdvisoryLock

    with pg_schema(pg_base_url()) as url, Store.open(url) as store:
        with store.reading("warm the pool"), store.reading("with a second connection"):
            pass  # two idle connections: a fresh one is another session than the lock's
        lock = AdvisoryLock(store, "guichets run", "guichets run test")
        assert lock.take() is None
        assert lock.take() is None  # again, as check() does when the session's connection went
        assert lock.held()
        other = AdvisoryLock(store, "guichets run", "guichets run other")
        assert other.take()  # held: the other is refused, naming the holder
        lock.release()
        assert other.take() is None
        other.release()
