"""What a lost database connection looks like, a ping to tell when it is back, and the libpq
form of a store's URL for the clients that do not go through SQLAlchemy.

:mod:`guichets.resilience` decides what the robot does about a lost database (wait, then stop
with one line); telling a lost connection from a mistake needs the driver's exceptions, which
belong here with the rest of the database code. The workers' async pools and procrastinate take
a plain libpq URI (``postgresql://…``), made here from the store's URL so that both read the
same database with the same options (``options=-csearch_path=…`` included).
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import make_url, text
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError

from guichets.store import Store, StoreError

__all__ = ["NotPostgres", "conninfo", "is_connection_loss", "ping"]

_LOST: Final = (
    "server closed the connection",
    "connection refused",
    "terminating connection",
    "could not connect",
    "connection is closed",
    "connection not open",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "consuming input failed",
    "connection timed out",
    "connection reset",
    "ssl syscall error",
    "database is locked",  # SQLite: another writer holds it past the busy timeout
)


def _causes(error: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in found and len(found) < 10:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def is_connection_loss(error: BaseException) -> bool:
    """Whether ``error`` (a StoreError or what caused it) is a connection that went away, as
    opposed to a mistake that trying again would repeat."""
    for cause in _causes(error):
        if isinstance(cause, DBAPIError) and cause.connection_invalidated:
            return True
        if isinstance(cause, OperationalError | InterfaceError | StoreError):
            said = str(cause).lower()
            if any(marker in said for marker in _LOST):
                return True
    return False


def ping(store: Store) -> None:
    """One trivial query: StoreError (a connection loss) while the database is away."""
    with store.reading("reach the database") as conn:
        conn.execute(text("SELECT 1"))


class NotPostgres(ValueError):
    """Workers need PostgreSQL: the schedule and the gates are shared through it."""


def conninfo(url: str) -> str:
    """A libpq URI from a store URL (``postgresql://``, ``postgres://`` or
    ``postgresql+psycopg://``); its query (``options=-csearch_path=...``) is kept."""
    given = url.strip()
    try:
        parsed = make_url(given.replace("postgres://", "postgresql://", 1))
    except ArgumentError as exc:
        raise NotPostgres(f"cannot read {url!r} as a database URL") from exc
    if parsed.get_backend_name() != "postgresql":
        raise NotPostgres(
            "workers share their schedule through PostgreSQL: give --db postgresql://user@host/db "
            "(the single-machine `guichets run` works on SQLite)"
        )
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)
