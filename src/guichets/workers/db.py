"""Connections for the workers: async psycopg pools on the store's PostgreSQL database.

The store speaks SQLAlchemy (sync); the shared schedule and the shared gates are on the hot path
of every request and every job, so they use psycopg's async pool on the same database, never
blocking the event loop that runs the probes.
"""

from __future__ import annotations

from typing import Final

from psycopg_pool import AsyncConnectionPool

from guichets.store.connection import NotPostgres, conninfo

__all__ = ["NotPostgres", "conninfo", "open_pool"]

CONNECT_TIMEOUT: Final = 10  # seconds: a database that does not answer is a lost database


async def open_pool(
    url: str, *, size: int, name: str, wait: float = CONNECT_TIMEOUT * 3
) -> AsyncConnectionPool:
    """An open pool of at most ``size`` connections, named ``name`` in ``pg_stat_activity``;
    asking it for a connection fails after ``wait`` seconds (a lost database is noticed)."""
    pool = AsyncConnectionPool(
        conninfo(url),
        min_size=1,
        max_size=max(1, size),
        kwargs={
            "autocommit": True,
            "application_name": name[:63],
            "connect_timeout": CONNECT_TIMEOUT,
        },
        timeout=wait,
        open=False,
    )
    await pool.open(wait=True, timeout=CONNECT_TIMEOUT * 3)
    return pool
