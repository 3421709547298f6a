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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
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
    func,
    inspect,
    make_url,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from guichets.model import PARIS, Observation, Outcome, Step
from guichets.store import migrate
from guichets.store.schema import kept_pages, metadata, probes, runs

__all__ = ["Run", "Store", "StoreError", "metadata"]

DEFAULT_HOME: Final = Path("guichets-data")
DB_FILE: Final = "guichets.sqlite"
EXAMPLES: Final = (
    "a SQLite URL such as sqlite:///guichets-data/guichets.sqlite (its folder must exist) or a "
    "PostgreSQL URL such as postgresql://user:password@host:5432/guichets"
)
BUSY_SECONDS: Final = 30.0  # how long a SQLite writer waits for another one before failing
PAGE: Final = 1000  # rows per read transaction in observations()
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
    ) -> bool:
        """Store one probe (and its kept page) in one transaction.

        Returns False, storing nothing, when the service already has a probe for ``period_key``:
        after a restart the earlier probe stands. Probes without a period key always store.
        """
        row = self._probe_row(observation, run_id, period_key, scheduled_for, robots_override)
        try:
            with self._writing("save a probe") as conn:
                if conn.execute(self._insert_probe, row).first() is None:
                    return False
                if observation.kept_page is not None:
                    conn.execute(
                        kept_pages.insert().values(
                            probe_id=observation.probe_id,
                            url=observation.kept_url or observation.url,
                            body=observation.kept_page,
                        )
                    )
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
    ) -> Iterator[Observation]:
        """Stored probes started in [since, until), ordered by start then id.

        Read in pages of short transactions: a long report never holds a connection (nor, on
        SQLite, the WAL) open while its caller works. Kept pages are not loaded: see
        :meth:`kept_page`.
        """
        where = []
        if service is not None:
            where.append(probes.c.service == service)
        if departement is not None:
            where.append(probes.c.departement == departement)
        if since is not None:
            where.append(probes.c.started_at >= _aware("since", since))
        if until is not None:
            where.append(probes.c.started_at < _aware("until", until))
        base = (
            select(probes, kept_pages.c.url.label("kept_url"))
            .select_from(probes.outerjoin(kept_pages))
            .where(*where)
            .order_by(probes.c.started_at, probes.c.probe_id)
            .limit(PAGE)
        )
        return self._pages(base)  # not a generator itself: bad arguments fail here, not later

    def _pages(self, base: Select[Any]) -> Iterator[Observation]:
        after: tuple[datetime, str] | None = None
        while True:
            query = base
            if after is not None:
                query = query.where(
                    or_(
                        probes.c.started_at > after[0],
                        and_(probes.c.started_at == after[0], probes.c.probe_id > after[1]),
                    )
                )
            with self._guard("read probes"), self._connect() as conn:
                rows = conn.execute(query).all()
            for row in rows:
                yield self._observation(row._mapping)
            if len(rows) < PAGE:
                return
            after = (rows[-1].started_at, rows[-1].probe_id)

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
        )

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

    # -- closing --------------------------------------------------------------------------------

    def close(self) -> None:
        """Release the connections; the store cannot be used afterwards."""
        self._closed = True
        self._engine.dispose()

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
