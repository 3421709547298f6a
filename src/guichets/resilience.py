"""What the robot does when its own machinery fails: the database goes away, the disk fills.

A lost database connection (PostgreSQL restarted, a network cut) is waited out: the call is tried
again with growing pauses, on a fresh connection (the engine pings pooled connections before use),
for a bounded time; then the run stops with one clear line, never a page of tracebacks. Anything
else (a full disk, a broken schema) is not waited for: it is said at once, with its path.

Retrying a probe's save is safe: a probe's row, its records' rows and its ledger entry are one
transaction, so a save that did commit before the connection broke is refused the second time by
the store's one-probe-per-period rule (and its records are then cut off the file again).
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Callable
from typing import Final, TypeVar

from guichets.store import StoreError
from guichets.store.connection import is_connection_loss, ping

__all__ = [
    "DB_PATIENCE",
    "DatabaseLost",
    "DiskFull",
    "disk_message",
    "is_connection_loss",
    "ping",
    "retry_store",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

DB_PATIENCE: Final = 120.0
"""Seconds a lost database is waited for before the run stops: a restart takes a few seconds."""


class DatabaseLost(StoreError):
    """The database did not come back within the patience given; the message is one line."""


class DiskFull(OSError):
    """A write failed for lack of space (or quota); the message names the path."""

    def __str__(self) -> str:
        return str(self.strerror)


async def retry_store(
    action: str,
    call: Callable[[], T],
    *,
    patience: float = DB_PATIENCE,
    first_pause: float = 0.5,
    describe: str = "the database",
    ready: Callable[[], object] | None = None,
) -> T:
    """``call()``, tried again while it fails for a lost connection, for up to ``patience``
    seconds of pauses (0.5 s, 1 s, 2 s... at most 15 s each); then DatabaseLost, one line.

    ``ready`` (a cheap query) is tried before each new attempt: ``call`` runs again only once
    the database answers, so that a save does not leave a new WARC file at each attempt."""
    waited, pause = 0.0, first_pause
    retrying = False
    while True:
        try:
            if retrying and ready is not None:
                ready()
            return call()
        except StoreError as error:
            retrying = True
            if not is_connection_loss(error):
                raise
            if waited >= patience:
                first = str(error).splitlines()[0] if str(error) else type(error).__name__
                raise DatabaseLost(
                    f"lost the connection to {describe} while trying to {action}, and it did not "
                    f"come back within {patience:.0f} s ({first[:300]})"
                ) from error
            log.info("%s: connection lost (%s); trying again in %.1f s", action, error, pause)
            await asyncio.sleep(pause)
            waited += pause
            pause = min(pause * 2, 15.0, max(patience - waited, 0.1))


def disk_message(error: OSError, path: object) -> str:
    """One line for a failed write: what, where, and what to do for a full disk."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"no space left to write {path} ({error.strerror}): free some space on that disk; "
            "nothing was left half-written, and the next run goes on where this one stopped"
        )
    return f"cannot write {path}: {error.strerror or error}"
