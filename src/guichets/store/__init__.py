"""The store: every probe the robot made, as it found it, in SQLite or PostgreSQL.

Everything downstream (statistics, evidence, the public site) reads the probes stored here, so
the store never rewrites or drops a probe: a second probe for a slot of the schedule that already
has one is refused, not merged. Opening a store brings its schema to the latest migration.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

from sqlalchemy import (
    URL,
    Connection,
    Engine,
    RowMapping,
    Select,
    and_,
    create_engine,
    event,
    false,
    func,
    inspect,
    make_url,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.elements import ColumnElement

from guichets.evidence.ledger import GENESIS, entry_digest, probe_digest, records_digest
from guichets.model import PARIS, Observation, Outcome, Step
from guichets.stats import rollups as daily
from guichets.stats.periods import DateRange, local_day
from guichets.stats.tally import facts_of
from guichets.store import migrate
from guichets.store.schema import (
    evidence_files,
    evidence_heads,
    evidence_ledger,
    evidence_records,
    kept_pages,
    metadata,
    probes,
    runs,
)

__all__ = [
    "EvidenceFile",
    "EvidenceRecord",
    "LedgerEntry",
    "Origin",
    "Run",
    "Store",
    "StoreError",
    "metadata",
]

DEFAULT_HOME: Final = Path("guichets-data")
DB_FILE: Final = "guichets.sqlite"
EXAMPLES: Final = (
    "a SQLite URL such as sqlite:///guichets-data/guichets.sqlite (its folder must exist) or a "
    "PostgreSQL URL such as postgresql://user:password@host:5432/guichets"
)
BUSY_SECONDS: Final = 30.0  # how long a SQLite writer waits for another one before failing
PAGE: Final = 1000  # rows per read transaction in observations()


def as_utc(value: Any) -> datetime:
    """An instant of the probes table as read: PostgreSQL gives an aware datetime, SQLite through
    ``UTCDateTime`` too, and a raw SQLite column (fast readers) the naive UTC text stored."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    try:
        return datetime.fromisoformat(value + "+00:00")  # the usual text, parsed in one step
    except ValueError:
        parsed = datetime.fromisoformat(value)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def after_position(position: tuple[datetime, str]) -> ColumnElement[bool]:
    """Probes sorting after ``position`` (started_at, probe_id); spelt so that SQLite walks the
    ``started_at`` index from there (an ``OR`` alone makes it start over from the first probe
    of the range every time, so that each page costs more than the last)."""
    at, probe_id = position
    return and_(
        probes.c.started_at >= at, or_(probes.c.started_at > at, probes.c.probe_id > probe_id)
    )


_PG_MIGRATION_LOCK: Final = 0x6775696368657473  # "guichets": one migrating process at a time


class StoreError(Exception):
    """The store cannot do what was asked; the message says which database and why."""


@dataclass(frozen=True, slots=True)
class Run:
    """One run of the robot: when it started, its last sign of life, and when it ended."""

    id: str
    started_at: datetime
    heartbeat_at: datetime
    ended_at: datetime | None
    hostname: str
    version: str
    command: str
    catalogue_digest: str | None


def _hide_password(url: str) -> str:
    """Mask the password of a URL even when SQLAlchemy cannot parse it."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def _aware(name: str, value: datetime) -> datetime:
    """Refuse naive datetimes here, before any SQL: an instant without an offset is ambiguous."""
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{name}={value.isoformat()} is a naive datetime; the store keeps instants: "
            "give a timezone-aware value, e.g. datetime(..., tzinfo=UTC)"
        )
    return value


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return lines[0] if lines else type(cause).__name__


def _show(url: URL) -> str:
    """The URL to print: password hidden, SQLite paths as typed (not percent-escaped)."""
    if url.get_backend_name() == "sqlite":
        return f"sqlite:///{url.database}" if url.database else "sqlite://"
    return url.render_as_string(hide_password=True)


def _normalise(url: str) -> URL:
    """Parse a URL; plain ``postgresql://`` (and ``postgres://``) mean psycopg 3."""
    text_url = url.strip()
    for prefix in ("postgres://", "postgresql://"):
        if text_url.startswith(prefix):
            text_url = "postgresql+psycopg://" + text_url[len(prefix) :]
    try:
        parsed = make_url(text_url)
    except ArgumentError as exc:
        raise StoreError(
            f"cannot read {_hide_password(url)!r} as a database URL; expected {EXAMPLES}"
        ) from exc
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreError(
            f"cannot use {_show(parsed)!r}: the store supports "
            f"SQLite and PostgreSQL only; expected {EXAMPLES}"
        )
    return parsed


def _sqlite_engine(url: URL) -> Engine:
    memory = url.database in (None, "", ":memory:")
    if not memory:
        folder = Path(str(url.database)).parent
        if not folder.is_dir():
            raise StoreError(
                f"cannot open {_show(url)!r}: folder {folder} "
                f"does not exist; create it, or give {EXAMPLES}"
            )
    engine = create_engine(
        url,
        connect_args={"timeout": BUSY_SECONDS, "check_same_thread": False},
        **({"poolclass": StaticPool} if memory else {}),
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin (see _begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL: readers never block the writer nor wait for it. NORMAL: no fsync per commit, and
        # a power cut can lose the last commits but never corrupt the file.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_SECONDS * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # A writer takes the write lock at BEGIN, so it waits its turn (busy_timeout) instead of
        # failing half-way when a read transaction turns into a write.
        write = conn.get_execution_options().get("guichets_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _dump_steps(trail: tuple[Step, ...]) -> str:
    return json.dumps(
        [
            {
                "method": step.method,
                "url": step.url,
                "status": step.status,
                "at": _aware("step.at", step.at).astimezone(UTC).isoformat(),
                "note": step.note,
            }
            for step in trail
        ],
        ensure_ascii=False,
    )


def _load_steps(data: str) -> tuple[Step, ...]:
    return tuple(
        Step(
            method=item["method"],
            url=item["url"],
            status=item["status"],
            at=datetime.fromisoformat(item["at"]).astimezone(UTC),
            note=item.get("note", ""),
        )
        for item in json.loads(data)
    )


def _load_slots(data: str) -> tuple[datetime, ...]:
    """Slots as stored (wall-clock and offset); in Europe/Paris where that zone agrees.

    Europe/Paris datetimes compare equal when they differ only by ``fold`` (PEP 495), so the two
    02:30 of the night the clocks go back can only be told apart with fixed offsets: then the
    slots keep the offsets they were stored with.
    """
    fixed = tuple(datetime.fromisoformat(item) for item in json.loads(data))
    paris = tuple(
        local if local.utcoffset() == slot.utcoffset() else slot
        for slot, local in ((slot, slot.astimezone(PARIS)) for slot in fixed)
    )
    return paris if list(paris) == sorted(set(paris)) else fixed


def _row_to_run(row: Any) -> Run:
    return Run(
        id=row.id,
        started_at=row.started_at,
        heartbeat_at=row.heartbeat_at,
        ended_at=row.ended_at,
        hostname=row.hostname,
        version=row.version,
        command=row.command,
        catalogue_digest=row.catalogue_digest,
    )


@dataclass(frozen=True, slots=True)
class EvidenceFile:
    """A WARC file of the evidence (``evidence_files``): digest and size once closed."""

    name: str
    created_at: datetime
    hostname: str
    software: str
    clock: str
    closed_at: datetime | None = None
    size: int | None = None
    sha256: str | None = None
    pruned_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class EvidenceRecord:
    """A WARC record (``evidence_records``): whose, what, its digest and where its bytes are."""

    record_id: str
    probe_id: str | None
    ordinal: int
    kind: str
    uri: str
    status: int | None
    sha256: str
    file: str
    position: int | None
    size: int | None
    pruned_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """A probe's entry in its service's hash chain (``evidence_ledger``)."""

    probe_id: str
    service: str
    seq: int
    records: int
    records_sha256: str
    probe_sha256: str
    entry_sha256: str


@dataclass(frozen=True, slots=True)
class Origin:
    """Who made a probe and from where (``guichets worker``); a replicate is a second probe of
    a period from another vantage point, which statistics never count (``replicate_of`` holds
    the period's key)."""

    worker: str | None = None
    vantage: str | None = None
    replicate_of: str | None = None


_IN_CHUNK: Final = 500  # ids per IN (...) list


class Store:
    """Probes and runs in one database. Open with :meth:`open`; safe to share between threads."""

    def __init__(self, engine: Engine, url: str) -> None:
        self._engine = engine
        self.url = url  # password hidden: safe to print
        self._write_lock = threading.Lock()  # one writer per process; SQLite also locks the file
        self._closed = False
        # Built once with bind parameters, not per probe with .values(): a third of the time.
        insert = (postgresql if engine.dialect.name == "postgresql" else sqlite).insert
        self._insert_probe = (
            insert(probes)
            .on_conflict_do_nothing(index_elements=[probes.c.service, probes.c.period_key])
            .returning(probes.c.probe_id)  # rowcount is not reliable here on every driver
        )
        self._rollups = daily.RollupWriter(engine.dialect.name)  # see stats/rollups.py

    # -- opening --------------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str | None = None, *, home: Path | None = None) -> Store:
        """Open (creating if needed) and migrate to head the database at ``url``.

        Without a URL, the SQLite file ``guichets.sqlite`` in ``home`` (default
        ``guichets-data``, created if missing).
        """
        if url is None:
            folder = DEFAULT_HOME if home is None else Path(home)
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the data folder {folder}: {exc}") from exc
            parsed = URL.create("sqlite", database=str(folder / DB_FILE))
        else:
            parsed = _normalise(url)
        shown = _show(parsed)
        try:
            if parsed.get_backend_name() == "sqlite":
                engine = _sqlite_engine(parsed)
            else:
                engine = create_engine(parsed, pool_pre_ping=True)
        except (NoSuchModuleError, ImportError) as exc:
            raise StoreError(
                f"cannot open {shown!r}: no driver for it ({exc}); plain postgresql:// uses "
                f"psycopg 3, which guichets installs; expected {EXAMPLES}"
            ) from exc
        except ArgumentError as exc:
            raise StoreError(f"cannot open {shown!r}: {exc}; expected {EXAMPLES}") from exc
        store = cls(engine, shown)
        try:
            store._migrate()
        except StoreError:
            engine.dispose()
            raise
        except DBAPIError as exc:
            engine.dispose()
            raise StoreError(
                f"cannot open {shown!r}: {_first_line(exc)}; check that the server runs and the "
                f"database exists and is reachable, or give {EXAMPLES}"
            ) from exc
        return store

    def _migrate(self) -> None:
        """Bring the schema to head; a database already there is left untouched.

        The check is a plain read; only when an upgrade is needed does it take the write lock
        (SQLite) or an advisory lock (PostgreSQL) and check again, so two processes opening a new
        database at once migrate it once.
        """
        want = set(migrate.heads())
        with self._connect() as conn:
            have = set(migrate.current(conn))
        if have == want:
            return
        sqlite_db = self._engine.dialect.name == "sqlite"
        with self._connect(write=True) as conn:
            if sqlite_db:
                # SQLite migrations copy tables (batch mode): foreign keys must not fire then.
                # The pragma is a no-op inside a transaction, hence before BEGIN.
                self._raw(conn, "PRAGMA foreign_keys=OFF")
            try:
                with conn.begin():
                    if not sqlite_db:
                        conn.execute(
                            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
                        )
                    have = set(migrate.current(conn))
                    if have == want:
                        return
                    unknown = sorted(rev for rev in have if not migrate.known(rev))
                    if unknown:
                        raise StoreError(
                            f"{self.url!r} is at schema revision {', '.join(unknown)}, newer "
                            f"than this guichets knows ({', '.join(sorted(want))}): upgrade "
                            "guichets, or open another database"
                        )
                    clash = set(inspect(conn).get_table_names()) & set(metadata.tables)
                    if not have and clash:
                        raise StoreError(
                            f"{self.url!r} already has tables {', '.join(sorted(clash))} but no "
                            "migration record: it is not a guichets store; give an empty database"
                        )
                    try:
                        migrate.upgrade(conn)
                    except DBAPIError as exc:
                        raise StoreError(
                            f"cannot migrate {self.url!r}: {_first_line(exc)}"
                        ) from exc
                    if sqlite_db and conn.exec_driver_sql("PRAGMA foreign_key_check").first():
                        raise StoreError(f"migrating {self.url!r} broke a foreign key")
            finally:
                if sqlite_db:
                    self._raw(conn, "PRAGMA foreign_keys=ON")

    @staticmethod
    def _raw(conn: Connection, sql: str) -> None:
        """Run ``sql`` on the driver's connection, outside any transaction."""
        conn.connection.dbapi_connection.execute(sql)  # type: ignore[union-attr]

    @contextmanager
    def _connect(self, *, write: bool = False) -> Iterator[Connection]:
        if self._closed:
            raise StoreError(f"the store {self.url!r} is closed")
        with self._engine.connect() as conn:
            if write:
                conn.execution_options(guichets_write=True)
            yield conn

    @contextmanager
    def _writing(self, action: str) -> Iterator[Connection]:
        """One write transaction, one at a time in this process."""
        with (
            self._write_lock,
            self._guard(action),
            self._connect(write=True) as conn,
            conn.begin(),
        ):
            yield conn

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        try:
            yield
        except IntegrityError:
            raise
        except DBAPIError as exc:
            raise StoreError(f"cannot {action} in {self.url!r}: {_first_line(exc)}") from exc

    # -- runs -----------------------------------------------------------------------------------

    def start_run(
        self,
        *,
        command: str,
        version: str,
        catalogue_digest: str | None,
        at: datetime,
        hostname: str | None = None,
    ) -> str:
        """Record that a run starts now; returns its id for the probes and heartbeats."""
        _aware("at", at)
        run_id = uuid.uuid4().hex
        with self._writing("start a run") as conn:
            conn.execute(
                runs.insert().values(
                    id=run_id,
                    started_at=at,
                    heartbeat_at=at,
                    ended_at=None,
                    hostname=hostname if hostname is not None else socket.gethostname(),
                    version=version,
                    command=command,
                    catalogue_digest=catalogue_digest,
                )
            )
        return run_id

    def heartbeat(self, run_id: str, at: datetime) -> None:
        """Record that the run is alive at ``at``: its gaps are the robot's, not the sites'."""
        self._touch(run_id, "record a heartbeat", heartbeat_at=_aware("at", at))

    def end_run(self, run_id: str, at: datetime) -> None:
        """Record that the run ended cleanly at ``at`` (a run that died keeps ended_at null)."""
        _aware("at", at)
        self._touch(run_id, "end a run", heartbeat_at=at, ended_at=at)

    def _touch(self, run_id: str, action: str, **values: datetime) -> None:
        with self._writing(action) as conn:
            done = conn.execute(
                update(runs).where(runs.c.id == run_id, runs.c.ended_at.is_(None)).values(**values)
            )
            if done.rowcount == 1:
                return
            known = conn.execute(select(runs.c.ended_at).where(runs.c.id == run_id)).first()
        if known is None:
            raise StoreError(f"cannot {action}: no run {run_id!r} in {self.url!r}")
        raise StoreError(f"cannot {action}: run {run_id!r} already ended at {known.ended_at}")

    def runs(self, *, since: datetime | None = None) -> list[Run]:
        """Runs that were alive at or after ``since``, oldest first."""
        query = select(runs).order_by(runs.c.started_at, runs.c.id)
        if since is not None:
            query = query.where(runs.c.heartbeat_at >= _aware("since", since))
        with self._guard("read runs"), self._connect() as conn:
            return [_row_to_run(row) for row in conn.execute(query)]

    # -- probes ---------------------------------------------------------------------------------

    def save(
        self,
        observation: Observation,
        *,
        run_id: str | None = None,
        period_key: str | None = None,
        scheduled_for: datetime | None = None,
        robots_override: str | None = None,
        origin: Origin | None = None,
    ) -> bool:
        """Store one probe (and its kept page) in one transaction.

        Returns False, storing nothing, when the service already has a probe for ``period_key``:
        after a restart the earlier probe stands. Probes without a period key always store.
        """
        row = self._probe_row(observation, run_id, period_key, scheduled_for, robots_override)
        row.update(_origin_values(origin))
        return self._save(observation, row)

    def _save(
        self,
        observation: Observation,
        row: dict[str, Any],
        also: Callable[[Connection, dict[str, Any]], None] | None = None,
    ) -> bool:
        """The probe's transaction; ``also`` adds to it (the evidence's rows and ledger entry)."""
        try:
            with self._writing("save a probe") as conn:
                if conn.execute(self._insert_probe, row).first() is None:
                    return False
                # Replicates and assisted reads stay out of the robot's figures.
                if row.get("replicate_of") is None and not observation.assisted:
                    self._rollups.add(conn, facts_of(observation))  # its day, same transaction
                if observation.kept_page is not None:
                    conn.execute(
                        kept_pages.insert().values(
                            probe_id=observation.probe_id,
                            url=observation.kept_url or observation.url,
                            body=observation.kept_page,
                        )
                    )
                if also is not None:
                    also(conn, row)
        except IntegrityError as exc:
            raise StoreError(
                f"cannot save probe {observation.probe_id!r} in {self.url!r}: "
                f"{_first_line(exc)} (a probe id is stored once; a run id must exist)"
            ) from exc
        return True

    @staticmethod
    def _probe_row(
        o: Observation,
        run_id: str | None,
        period_key: str | None,
        scheduled_for: datetime | None,
        robots_override: str | None,
    ) -> dict[str, Any]:
        _aware("started_at", o.started_at)
        _aware("finished_at", o.finished_at)
        if scheduled_for is not None:
            _aware("scheduled_for", scheduled_for)
        if o.horizon_end is not None:
            _aware("horizon_end", o.horizon_end)
        for slot in o.slots:
            _aware("slot", slot)
        outcome = Outcome(o.outcome)
        category = o.category
        return {
            "probe_id": o.probe_id,
            "run_id": run_id,
            "service": o.service,
            "departement": o.departement,
            "platform": o.platform,
            "url": o.url,
            "counter": o.counter,
            "period_key": period_key,
            "scheduled_for": scheduled_for,
            "started_at": o.started_at,
            "finished_at": o.finished_at,
            "outcome": outcome.value,
            "detail": str(o.detail),
            "category": None if category is None else category.value,
            "first_slot": o.first_slot,
            "slots_count": len(o.slots),
            "slots": json.dumps([slot.isoformat() for slot in o.slots]),
            "horizon_end": o.horizon_end,
            "requests": o.requests,
            "http_status": o.http_status,
            "message": o.message,
            "trail": _dump_steps(o.trail),
            "extra": json.dumps(dict(o.extra), ensure_ascii=False),
            "cpu_seconds": float(o.cpu_seconds),
            "robots_override": robots_override,
            "worker": None,
            "vantage": None,
            "replicate_of": None,
            "assisted": o.assisted,
            "person": o.person,
        }

    def period_keys(self, service: str, since: datetime) -> set[str]:
        """The schedule slots of ``service`` already probed, among probes started since ``since``.

        The runner asks this on start, so that a restart does not probe a slot twice.
        """
        query = select(probes.c.period_key).where(
            probes.c.service == service,
            probes.c.started_at >= _aware("since", since),
            probes.c.period_key.is_not(None),
        )
        with self._guard("read period keys"), self._connect() as conn:
            return {key for (key,) in conn.execute(query)}

    def observations(
        self,
        *,
        service: str | None = None,
        departement: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        replicates: bool = False,
        assisted: bool | None = None,
        person: str | None = None,
    ) -> Iterator[Observation]:
        """Stored probes started in [since, until), ordered by start then id; the replicates
        of a second vantage point only when asked (statistics never count them); only the
        robot's (``assisted=False``), only assisted ones (``True``) or both (``None``), and only
        one person's when ``person`` is given.

        Read in pages of short transactions: a long report never holds a connection (nor, on
        SQLite, the WAL) open while its caller works. Kept pages are not loaded: see
        :meth:`kept_page`.
        """
        where: list[ColumnElement[bool]] = [] if replicates else [probes.c.replicate_of.is_(None)]
        if service is not None:
            where.append(probes.c.service == service)
        if departement is not None:
            where.append(probes.c.departement == departement)
        if since is not None:
            where.append(probes.c.started_at >= _aware("since", since))
        if until is not None:
            where.append(probes.c.started_at < _aware("until", until))
        if assisted is not None:
            where.append(probes.c.assisted.is_(true() if assisted else false()))
        if person is not None:
            where.append(probes.c.person == person)
        base = (
            select(probes, kept_pages.c.url.label("kept_url"))
            .select_from(probes.outerjoin(kept_pages))
            .where(*where)
            .order_by(probes.c.started_at, probes.c.probe_id)
            .limit(PAGE)
        )
        return self._pages(base)  # not a generator itself: bad arguments fail here, not later

    def _pages(self, base: Select[Any]) -> Iterator[Observation]:
        for row in self.probe_pages(base):
            yield self._observation(row._mapping)

    def probe_pages(
        self, base: Select[Any], after: tuple[datetime, str] | None = None
    ) -> Iterator[Row[Any]]:
        """The rows of ``base`` (a select of probes ordered by ``started_at, probe_id`` and
        limited to :data:`PAGE` rows) sorting after ``after``, read in pages of short
        transactions, each resuming after the last row read (``observations`` and the open-data
        export both read this way)."""
        while True:
            query = base if after is None else base.where(after_position(after))
            with self._guard("read probes"), self._connect() as conn:
                rows = conn.execute(query).all()
            yield from rows
            if len(rows) < PAGE:
                return
            after = (as_utc(rows[-1].started_at), rows[-1].probe_id)

    @contextmanager
    def reading(self, action: str) -> Iterator[Connection]:
        """A read-only connection for queries of other modules; errors name the database."""
        with self._guard(action), self._connect() as conn:
            yield conn

    @contextmanager
    def writing(self, action: str) -> Iterator[Connection]:
        """A write transaction for other modules' tables (``store/assisted.py``)."""
        with self._writing(action) as conn:
            yield conn

    @staticmethod
    def _observation(row: RowMapping) -> Observation:
        horizon_end: datetime | None = row["horizon_end"]
        return Observation(
            probe_id=row["probe_id"],
            service=row["service"],
            platform=row["platform"],
            url=row["url"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            outcome=Outcome(row["outcome"]),
            detail=row["detail"],
            slots=_load_slots(row["slots"]),
            horizon_end=None if horizon_end is None else horizon_end.astimezone(PARIS),
            counter=row["counter"],
            requests=row["requests"],
            http_status=row["http_status"],
            message=row["message"],
            departement=row["departement"],
            trail=_load_steps(row["trail"]),
            kept_page=None,
            kept_url=row["kept_url"],
            cpu_seconds=row["cpu_seconds"],
            extra=json.loads(row["extra"]),
            assisted=bool(row["assisted"]),
            person=row["person"],
        )

    def latest_observations(self, service: str, limit: int) -> list[Observation]:
        """The robot's ``limit`` latest probes of ``service``, latest first (off its index)."""
        query = (
            select(probes, kept_pages.c.url.label("kept_url"))
            .select_from(probes.outerjoin(kept_pages))
            .where(probes.c.service == service, probes.c.assisted.is_(false()))
            .order_by(probes.c.started_at.desc(), probes.c.probe_id.desc())
            .limit(limit)
        )
        with self._guard("read the latest probes"), self._connect() as conn:
            return [self._observation(row._mapping) for row in conn.execute(query)]

    def kept_page(self, probe_id: str) -> bytes | None:
        """The page kept with a probe (unrecognized pages only), or None."""
        query = select(kept_pages.c.body).where(kept_pages.c.probe_id == probe_id)
        with self._guard("read a kept page"), self._connect() as conn:
            body = conn.execute(query).scalar_one_or_none()
        return None if body is None else bytes(body)

    def count(self) -> int:
        """How many probes are stored."""
        with self._guard("count probes"), self._connect() as conn:
            return int(conn.execute(select(func.count()).select_from(probes)).scalar_one())

    # -- daily rollups (guichets.stats.rollups) -------------------------------------------------

    def rollups(
        self, days: DateRange, *, service: str | None = None, departement: str | None = None
    ) -> Iterator[daily.DayRollup]:
        """What each service's probes add up to, day by day (Paris dates), as stored, by service
        and day; read lazily in one transaction (a year of hundreds of services is not held).

        ``save`` keeps them up to date; call :meth:`refresh_rollups` first to make sure.
        """
        with self._guard("read rollups"), self._connect() as conn:
            yield from daily.read(conn, days, service, departement)

    def refresh_rollups(
        self, days: DateRange, *, service: str | None = None, departement: str | None = None
    ) -> int:
        """Rebuild the rollups of ``days`` if they do not count the probes stored; returns the
        service-days rebuilt (0 when they were right).

        A database from before the rollups, or probes written by other means, are caught here.
        """
        with self._guard("check rollups"), self._connect() as conn:
            behind = daily.stale(conn, days, service, departement)
        if not behind:
            return 0
        return self.rebuild_rollups(days, service=service, departement=departement)

    def rebuild_rollups(
        self, days: DateRange, *, service: str | None = None, departement: str | None = None
    ) -> int:
        """Recompute the rollups of ``days`` from the raw probes, a month at a time (bounded
        memory, short transactions); returns the service-days written."""
        written = 0
        first = days.first
        while first <= days.last:
            chunk = DateRange(first, min(days.last, first + timedelta(days=30)))
            with self._writing("rebuild rollups") as conn:
                written += daily.rebuild(conn, chunk, service, departement)
            first = chunk.last + timedelta(days=1)
        return written

    def probe_days(self) -> DateRange | None:
        """The Paris dates of the first and the last stored probe; None without probes."""
        # Two queries: SQLite reads a lone min() or max() off the index, not both at once.
        first_q = select(func.min(probes.c.started_at))
        last_q = select(func.max(probes.c.started_at))
        with self._guard("read the probes' dates"), self._connect() as conn:
            first = conn.execute(first_q).scalar_one()
            last = conn.execute(last_q).scalar_one()
        if first is None or last is None:
            return None
        return DateRange(local_day(first), local_day(last))

    def services(self) -> list[str]:
        """The ids of the services that have stored probes, sorted."""
        query = select(probes.c.service).distinct().order_by(probes.c.service)
        with self._guard("read service ids"), self._connect() as conn:
            return [service for (service,) in conn.execute(query)]

    def probe_points(
        self, days: DateRange, *, service: str | None = None, departement: str | None = None
    ) -> list[tuple[str, datetime, str, str | None]]:
        """(service, started_at, outcome, category) of every probe of the robot's in ``days``, by
        service and time: the sequence the release analysis reads, without whole observations."""
        query = select(
            probes.c.service, probes.c.started_at, probes.c.outcome, probes.c.category
        ).where(
            probes.c.started_at >= days.start,
            probes.c.started_at < days.end,
            probes.c.assisted.is_(false()),
        )
        if service is not None:
            query = query.where(probes.c.service == service)
        if departement is not None:
            query = query.where(probes.c.departement == departement)
        query = query.order_by(probes.c.service, probes.c.started_at)
        with self._guard("read probes"), self._connect() as conn:
            return [(s, at, o, c) for s, at, o, c in conn.execute(query)]

    # -- evidence (guichets.evidence, docs/evidence.md) -----------------------------------------

    def save_with_evidence(
        self,
        observation: Observation,
        records: Sequence[EvidenceRecord],
        *,
        run_id: str | None = None,
        period_key: str | None = None,
        scheduled_for: datetime | None = None,
        robots_override: str | None = None,
        origin: Origin | None = None,
    ) -> bool:
        """Store one probe, its WARC records' rows and its ledger entry in one transaction.

        The records' bytes must already be in their file (flushed to disk): a probe never exists
        without its records. Returns False, storing nothing, like :meth:`save`.
        """
        row = self._probe_row(observation, run_id, period_key, scheduled_for, robots_override)
        row.update(_origin_values(origin))

        def chain(conn: Connection, stored: dict[str, Any]) -> None:
            if records:
                conn.execute(evidence_records.insert(), [_record_values(r) for r in records])
            service = observation.service
            head = conn.execute(
                select(evidence_heads.c.seq, evidence_heads.c.entry_sha256)
                .where(evidence_heads.c.service == service)
                .with_for_update()
            ).first()
            seq, previous = (1, GENESIS) if head is None else (head.seq + 1, head.entry_sha256)
            probe_sha = probe_digest(stored, observation.kept_page)
            records_sha = records_digest((r.record_id, r.sha256) for r in records)
            entry = entry_digest(
                previous, service=service, seq=seq, probe_id=observation.probe_id,
                probe_sha256=probe_sha, records=len(records), records_sha256=records_sha,
            )  # fmt: skip
            conn.execute(
                evidence_ledger.insert().values(
                    probe_id=observation.probe_id, service=service, seq=seq, records=len(records),
                    records_sha256=records_sha, probe_sha256=probe_sha, entry_sha256=entry,
                )
            )  # fmt: skip
            if head is None:
                conn.execute(
                    evidence_heads.insert().values(service=service, seq=seq, entry_sha256=entry)
                )
            else:
                conn.execute(
                    update(evidence_heads)
                    .where(evidence_heads.c.service == service)
                    .values(seq=seq, entry_sha256=entry)
                )

        return self._save(observation, row, chain)

    def add_evidence_file(self, file: EvidenceFile, warcinfo: EvidenceRecord) -> None:
        """Record a new WARC file and its first record (warcinfo), already on disk."""
        _aware("created_at", file.created_at)
        with self._writing("record an evidence file") as conn:
            conn.execute(evidence_files.insert().values(**_file_values(file)))
            conn.execute(evidence_records.insert().values(**_record_values(warcinfo)))

    def close_evidence_file(self, name: str, *, size: int, sha256: str, at: datetime) -> None:
        """Record that a WARC file is complete: its size and SHA-256 are final."""
        _aware("at", at)
        with self._writing("close an evidence file") as conn:
            conn.execute(
                update(evidence_files)
                .where(evidence_files.c.name == name)
                .values(closed_at=at, size=size, sha256=sha256)
            )

    def retire_evidence(
        self,
        *,
        at: datetime,
        pruned: Collection[str] = (),
        moved: Sequence[tuple[str, str, int, int]] = (),
        new_files: Sequence[EvidenceFile] = (),
        retired_files: Collection[str] = (),
    ) -> None:
        """Retention, in one transaction: records whose bytes are dropped (their rows and digests
        stay), records copied into a new file ``(record_id, file, position, size)``, new files
        already on disk, and files whose bytes are gone (their digests stay)."""
        _aware("at", at)
        with self._writing("retire evidence") as conn:
            for file in new_files:
                conn.execute(evidence_files.insert().values(**_file_values(file)))
            for record_id, file_name, position, size in moved:
                conn.execute(
                    update(evidence_records)
                    .where(evidence_records.c.record_id == record_id)
                    .values(file=file_name, position=position, size=size)
                )
            ids = list(pruned)
            for start in range(0, len(ids), _IN_CHUNK):
                conn.execute(
                    update(evidence_records)
                    .where(evidence_records.c.record_id.in_(ids[start : start + _IN_CHUNK]))
                    .values(position=None, size=None, pruned_at=at)
                )
            if retired_files:
                conn.execute(
                    update(evidence_files)
                    .where(evidence_files.c.name.in_(list(retired_files)))
                    .values(pruned_at=at)
                )

    def evidence_files(self) -> list[EvidenceFile]:
        """Every WARC file ever recorded, oldest first (pruned ones included)."""
        query = select(evidence_files).order_by(evidence_files.c.created_at, evidence_files.c.name)
        with self._guard("read evidence files"), self._connect() as conn:
            return [EvidenceFile(**row._mapping) for row in conn.execute(query)]

    def evidence_records(
        self, *, file: str | None = None, probe_ids: Collection[str] | None = None
    ) -> list[EvidenceRecord]:
        """Record rows of one file (by position) or of some probes (by probe, then order);
        every record without either."""
        order = [evidence_records.c.file, evidence_records.c.position]
        base = select(evidence_records)
        if file is not None:
            base = base.where(evidence_records.c.file == file)
        if probe_ids is None:
            with self._guard("read evidence records"), self._connect() as conn:
                return [_record(row) for row in conn.execute(base.order_by(*order))]
        ids = list(probe_ids)
        found: list[EvidenceRecord] = []
        with self._guard("read evidence records"), self._connect() as conn:
            for start in range(0, len(ids), _IN_CHUNK):
                chunk = base.where(evidence_records.c.probe_id.in_(ids[start : start + _IN_CHUNK]))
                found += [_record(row) for row in conn.execute(chunk)]
        return sorted(found, key=lambda r: (r.probe_id or "", r.ordinal))

    def ledger(
        self, *, service: str | None = None, probe_ids: Collection[str] | None = None
    ) -> list[LedgerEntry]:
        """Ledger entries (of a service, of some probes) by service, then sequence number."""
        query = select(evidence_ledger).order_by(evidence_ledger.c.service, evidence_ledger.c.seq)
        if service is not None:
            query = query.where(evidence_ledger.c.service == service)
        ids = None if probe_ids is None else list(probe_ids)
        with self._guard("read the ledger"), self._connect() as conn:
            if ids is None:
                return [LedgerEntry(**row._mapping) for row in conn.execute(query)]
            found: list[LedgerEntry] = []
            for start in range(0, len(ids), _IN_CHUNK):
                chunk = query.where(evidence_ledger.c.probe_id.in_(ids[start : start + _IN_CHUNK]))
                found += [LedgerEntry(**row._mapping) for row in conn.execute(chunk)]
            return sorted(found, key=lambda e: (e.service, e.seq))

    def ledger_heads(self) -> dict[str, tuple[int, str]]:
        """Each service's last ledger entry: (seq, entry_sha256)."""
        with self._guard("read the ledger heads"), self._connect() as conn:
            return {
                row.service: (row.seq, row.entry_sha256)
                for row in conn.execute(select(evidence_heads))
            }

    def probe_digests(self, *, service: str | None = None) -> Iterator[tuple[str, str, str]]:
        """``(probe_id, service, probe_sha256)`` of every stored probe, recomputed from its row
        as it is now (the ledger holds what it was when stored)."""
        query = (
            select(probes, kept_pages.c.body.label("kept_body"))
            .select_from(probes.outerjoin(kept_pages))
            .order_by(probes.c.service, probes.c.started_at, probes.c.probe_id)
        )
        if service is not None:
            query = query.where(probes.c.service == service)
        with self._guard("read probes"), self._connect() as conn:
            for row in conn.execution_options(yield_per=PAGE).execute(query):
                values = row._mapping
                body = values["kept_body"]
                yield (
                    values["probe_id"],
                    values["service"],
                    probe_digest(values, None if body is None else bytes(body)),
                )

    # -- closing --------------------------------------------------------------------------------

    def close(self) -> None:
        """Release the connections; the store cannot be used afterwards."""
        self._closed = True
        self._engine.dispose()

    def forked(self) -> None:
        """Call first in a child process made by ``fork`` that uses this store: the child
        opens its own connections and leaves the parent's alone (SQLAlchemy's rule)."""
        self._engine.dispose(close=False)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"


def _origin_values(origin: Origin | None) -> dict[str, str | None]:
    if origin is None:
        return {}
    return {"worker": origin.worker, "vantage": origin.vantage, "replicate_of": origin.replicate_of}


def _file_values(file: EvidenceFile) -> dict[str, Any]:
    return {name: getattr(file, name) for name in EvidenceFile.__slots__}


def _record_values(record: EvidenceRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in EvidenceRecord.__slots__}


def _record(row: Any) -> EvidenceRecord:
    return EvidenceRecord(**row._mapping)
