"""The job queue's tables (procrastinate's ``procrastinate_*``), created once per database.

procrastinate brings its own schema (its ``schema.sql``, handed in by
:mod:`guichets.workers.queue`); this creates it when the database has none, under a
transaction-level advisory lock so that two workers starting at once create it once.
"""

from __future__ import annotations

from typing import Final

from psycopg_pool import AsyncConnectionPool

__all__ = ["ensure_job_tables"]

_SCHEMA_LOCK: Final = 0x6775696368657471  # one process creates procrastinate's tables


async def ensure_job_tables(pool: AsyncConnectionPool, schema: str) -> bool:
    """Run ``schema`` if the database has no ``procrastinate_jobs`` yet; True if it did."""
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        cursor = await conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")
        row = await cursor.fetchone()
        if row is not None and row[0]:
            return False
        await conn.execute(schema)
        return True
