"""The store's engine: opening a database by URL (SQLite or PostgreSQL), bringing its schema to
the latest migration, and the connections and transactions every other part of the store uses.

SQLite runs in WAL mode with one writer at a time (``BEGIN IMMEDIATE``), so that a writer waits its
turn instead of failing half-way; errors name the database (password hidden) and say what to do.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

from sqlalchemy import (
    URL,
    Connection,
    Engine,
    create_engine,
    event,
    inspect,
    make_url,
    text,
)
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from guichets.datadir import DB_FILE, DEFAULT_HOME
from guichets.store import migrate
from guichets.store.schema import (
    metadata,
)

EXAMPLES: Final = (
    "a SQLite URL such as sqlite:///guichets-data/guichets.sqlite (its folder must exist) or a "
    "PostgreSQL URL such as postgresql://user:password@host:5432/guichets"
)


BUSY_SECONDS: Final = 30.0  # how long a SQLite writer waits for another one before failing


_PG_MIGRATION_LOCK: Final = 0x6775696368657473  # "guichets": one migrating process at a time


class StoreError(Exception):
    """The store cannot do what was asked; the message says which database and why."""


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


class StoreBase:
    """A database opened by URL; the parts of :class:`~guichets.store.Store` build on it."""

    def __init__(self, engine: Engine, url: str) -> None:
        self._engine = engine
        self.url = url  # password hidden: safe to print
        self._write_lock = threading.Lock()  # one writer per process; SQLite also locks the file
        self._closed = False

    @classmethod
    def open(cls, url: str | None = None, *, home: Path | None = None) -> Self:
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
    def writing(self, action: str) -> Iterator[Connection]:
        """A write transaction for other modules' tables (``store/assisted.py``)."""
        with self._writing(action) as conn:
            yield conn

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        try:
            yield
        except IntegrityError:
            raise
        except DBAPIError as exc:
            raise StoreError(f"cannot {action} in {self.url!r}: {_first_line(exc)}") from exc

    def close(self) -> None:
        """Release the connections; the store cannot be used afterwards."""
        self._closed = True
        self._engine.dispose()

    def sqlite_file(self) -> Path | None:
        """The SQLite database's file, for a reader of its own (``store/export_read.py``); None
        for another database or one in memory."""
        url = self._engine.url
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return None
        if str(url.database).startswith("file:"):  # a URI: left to SQLAlchemy's driver
            return None
        return Path(str(url.database))

    def forkable(self) -> bool:
        """Whether a child made by ``fork`` reaches the same data by :meth:`forked`: a file or a
        server, not SQLite in memory (a new connection there is another, empty database)."""
        url = self._engine.url
        return url.get_backend_name() != "sqlite" or self.sqlite_file() is not None

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
