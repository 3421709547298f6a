"""A PostgreSQL session advisory lock held for as long as a run lasts, on a connection of its own.

:mod:`guichets.runlock` says what the lock is for (one run per database and schema) and what to
do when it is lost; this holds the SQL. The lock belongs to a database session, so it goes when
its connection goes (a server restart, a network cut, ``pg_terminate_backend``): :meth:`held`
asks the session whether it still has it, and :meth:`take` tries again on a fresh connection.
:meth:`held` has three answers, not two: yes; no (the session says so, or its connection is
gone, and the lock with it); and "could not tell" (:class:`LockUnknown`: the session is there but
its answer was an error), on which nothing may be concluded — neither taking the lock again
(which first lets go of it) nor going on as if held.
"""

from __future__ import annotations

import contextlib
import hashlib
from contextlib import AbstractContextManager

from sqlalchemy import Connection, text

from guichets.store import Store, StoreError
from guichets.store.connection import is_connection_loss

__all__ = ["AdvisoryLock", "LockUnknown"]

_HOLDERS = text(
    "SELECT a.application_name, a.client_addr::text, a.backend_start "
    "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted "
    "AND ((l.classid::bigint << 32) | l.objid::bigint) = :key LIMIT 1"
)
_MINE = text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted "
    "AND l.pid = pg_backend_pid() AND ((l.classid::bigint << 32) | l.objid::bigint) = :key)"
)


def _key(purpose: str, schema: str) -> int:
    """The lock's key: a positive 63-bit number from the purpose and the schema's name
    (positive, so that pg_locks' classid and objid give it back as one bigint)."""
    digest = hashlib.sha256(f"{purpose} {schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF


class LockUnknown(StoreError):
    """Whether the lock is still held could not be told: its session answered with an error
    that is not a lost connection (an aborted transaction, a cancelled query, a server fault).
    Not a connection loss either, so a run does not wait it out: it stops, keeping the lock's
    session (and so the lock, if it has it) until it exits."""


class AdvisoryLock:
    """One advisory lock per database and schema, named ``purpose``; its session's
    ``application_name`` is ``name`` (who holds it, for the message of whoever is refused).

    guichets' tables live in the search path's schema and advisory locks are per database, so
    the schema goes into the key: two schemas of one database are two stores."""

    def __init__(self, store: Store, purpose: str, name: str) -> None:
        self.store = store
        self.purpose = purpose
        self.name = name[:63]  # PostgreSQL keeps 63 bytes of it
        self.key: int | None = None
        self._opened: AbstractContextManager[Connection] | None = None
        self._conn: Connection | None = None

    def take(self) -> str | None:
        """Take the lock on a fresh connection: None when taken, else who holds it (one line;
        empty when the holder cannot be seen). StoreError when the database cannot be reached."""
        self._drop()
        opened = self.store.reading("hold the run lock")
        conn = opened.__enter__()
        try:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            if self.key is None:
                schema = str(conn.execute(text("SELECT current_schema()")).scalar_one())
                self.key = _key(self.purpose, schema)
            conn.execute(
                text("SELECT set_config('application_name', :name, false)"), {"name": self.name}
            )
            got = conn.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
            ).scalar_one()
            if got:
                self._opened, self._conn = opened, conn
                return None
            found = conn.execute(_HOLDERS, {"key": self.key}).first()
        except BaseException as exc:
            opened.__exit__(type(exc), exc, exc.__traceback__)
            raise
        opened.__exit__(None, None, None)
        if found is None:
            return ""
        return (
            f"{found[0] or 'a client'} from {found[1] or 'a local socket'}, connected "
            f"{found[2]:%Y-%m-%d %H:%M:%S%z}"
        )

    def held(self) -> bool:
        """Whether this lock's session is alive and still holds it (one query on its own
        connection). False when the session says it does not, or when its connection is gone
        (the lock went with it); LockUnknown when it answered with any other error: "could not
        tell" is not "not held"."""
        if self._conn is None or self.key is None:
            return False
        try:
            return bool(self._conn.execute(_MINE, {"key": self.key}).scalar_one())
        except Exception as exc:
            if is_connection_loss(exc):
                return False  # a dead connection: the lock went with it
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise LockUnknown(
                f"could not tell whether this run still holds its run lock on "
                f"{self.store.url} ({first[:200]}): it stops rather than probe without knowing "
                "(or let go of a lock it may hold, for a second run to take)"
            ) from exc

    def release(self) -> None:
        """Give the lock back and the connection to the pool (a lost one took the lock)."""
        if self._conn is not None and self.key is not None:
            with contextlib.suppress(Exception):
                self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
        self._drop()

    def _drop(self) -> None:
        """Let go of the lock's connection, and of its session: a session that may still hold
        the lock (its query failed, its connection did not die) is never given back to the
        pool, where it would keep the lock from this run's next :meth:`take`."""
        opened, conn, self._opened, self._conn = self._opened, self._conn, None, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.execute(text("SELECT pg_advisory_unlock_all()"))
            with contextlib.suppress(Exception):
                conn.invalidate()  # closed, not pooled: whatever it held goes with it
        if opened is not None:
            with contextlib.suppress(Exception):
                opened.__exit__(None, None, None)
