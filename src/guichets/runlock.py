"""One ``guichets run`` per data directory, and per PostgreSQL database.

Two runs on the same data would probe every service twice (wasted requests, two requests at once
to one host: against the politeness promise), and only the store's uniqueness would keep the data
clean. So a run takes, before anything else:

- an exclusive ``flock`` on ``HOME/run.lock``, a file that says who holds it (pid, host, start
  time). The kernel drops the lock when the process ends, however it ends (a SIGKILL included),
  so a lock is never stale; the file's text only names the holder;
- with PostgreSQL, a session advisory lock on a connection held for the whole run, whose
  ``application_name`` names the holder the same way (other machines can run on one database).

A second run exits at once with a message naming the first. After a lost PostgreSQL connection
the advisory lock goes with it; the data-directory lock stays.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import text

from guichets.store import Store, StoreError

__all__ = ["LOCK_FILE", "AlreadyRunning", "run_lock"]

LOCK_FILE: Final = "run.lock"


def _key(schema: str) -> int:
    """The advisory lock's key: a positive 63-bit number from the schema's name (positive, so
    that pg_locks' classid and objid give it back as one bigint)."""
    digest = hashlib.sha256(f"guichets run {schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF


_APPLICATION: Final = "guichets run"


class AlreadyRunning(Exception):
    """Another run holds the data directory or the database; the message names it."""


def _holder_text() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _describe(holder: dict[str, Any] | None) -> str:
    if not holder:
        return "another guichets run (it did not say who it is)"
    return (
        f"guichets run pid {holder.get('pid', '?')} on host {holder.get('host', '?')}, "
        f"started {holder.get('started', '?')}"
    )


def _read_holder(handle: Any) -> dict[str, Any] | None:
    try:
        handle.seek(0)
        value = json.loads(handle.read(4096) or "null")
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


@contextlib.contextmanager
def _folder_lock(home: Path) -> Iterator[None]:
    home.mkdir(parents=True, exist_ok=True)
    path = home / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "r+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunning(
                f"{home} is in use by {_describe(_read_holder(handle))}; one run per data "
                f"directory (the lock is {path}, released when that process ends)"
            ) from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(_holder_text()) + "\n")
            handle.flush()
        except OSError:
            pass  # the lock holds; only the holder's description could not be written
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _database_lock(store: Store) -> Iterator[None]:
    with store.reading("hold the run lock") as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        # One lock per database and schema: guichets' tables live in the search path's schema,
        # and advisory locks are per database, so the schema goes into the key.
        schema = str(conn.execute(text("SELECT current_schema()")).scalar_one())
        key = _key(schema)
        holder = json.dumps(_holder_text())
        name = f"{_APPLICATION} {holder}"[:63]  # PostgreSQL keeps 63 bytes of it
        conn.execute(text("SELECT set_config('application_name', :name, false)"), {"name": name})
        got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar_one()
        if not got:
            found = conn.execute(
                text(
                    "SELECT a.application_name, a.client_addr::text, a.backend_start "
                    "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted "
                    "AND ((l.classid::bigint << 32) | l.objid::bigint) = :key LIMIT 1"
                ),
                {"key": key},
            ).first()
            who = "another guichets run"
            if found is not None:
                who = (
                    f"{found[0] or 'a client'} from {found[1] or 'a local socket'}, connected "
                    f"{found[2]:%Y-%m-%d %H:%M:%S%z}"
                )
            raise AlreadyRunning(f"{store.url} is in use by {who}; one run per database")
        try:
            yield
        finally:
            with contextlib.suppress(Exception):  # a lost connection took the lock with it
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})


@contextlib.contextmanager
def run_lock(home: Path, store: Store) -> Iterator[None]:
    """Hold the data directory (and the PostgreSQL database) for one run; AlreadyRunning when
    another holds either, naming it."""
    with _folder_lock(home), contextlib.ExitStack() as stack:
        if store.url.startswith("postgresql"):
            try:
                stack.enter_context(_database_lock(store))
            except StoreError as exc:
                raise AlreadyRunning(f"cannot take the run lock on {store.url}: {exc}") from exc
        yield
