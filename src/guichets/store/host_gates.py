"""The shared gates' rows in SQL: one row per host in ``host_gates`` (its lease, the end of its
last request, its ``Retry-After`` deadline, its breaker), through the workers' async pool.

What the rules are and why a lease in a table rather than an advisory lock is said in
:mod:`guichets.workers.gate`; the queries are here with the rest of the SQL. psycopg's errors
pass through: the gate says what a lost database means for a request.
"""

from __future__ import annotations

from typing import Any, Final

from psycopg_pool import AsyncConnectionPool

__all__ = ["HostGateRows"]

_ENSURE: Final = (
    "INSERT INTO host_gates (host, failures) VALUES (%(host)s, 0) ON CONFLICT DO NOTHING"
)

_TAKE: Final = """
UPDATE host_gates
   SET holder = %(holder)s,
       lease_until = clock_timestamp() + %(lease)s * interval '1 second'
 WHERE host = %(host)s AND (holder IS NULL OR lease_until < clock_timestamp())
RETURNING
   COALESCE(EXTRACT(EPOCH FROM open_until - clock_timestamp()), 0)::float8,
   COALESCE(EXTRACT(EPOCH FROM retry_until - clock_timestamp()), 0)::float8,
   COALESCE(EXTRACT(EPOCH FROM last_done + %(gap)s * interval '1 second'
                               - clock_timestamp()), 0)::float8,
   failures,
   open_until
"""

_GIVE: Final = """
UPDATE host_gates
   SET holder = NULL,
       lease_until = NULL,
       last_done = CASE WHEN %(sent)s THEN clock_timestamp() ELSE last_done END,
       failures = CASE WHEN %(failed)s THEN failures + 1
                       WHEN %(answered)s THEN 0 ELSE failures END,
       open_until = CASE
           WHEN %(failed)s AND failures + 1 >= %(max_failures)s
               THEN clock_timestamp() + %(cooldown)s * interval '1 second'
           WHEN %(answered)s THEN NULL
           ELSE open_until END,
       retry_until = CASE
           WHEN %(retry)s::float8 IS NOT NULL
               THEN clock_timestamp() + %(retry)s::float8 * interval '1 second'
           ELSE retry_until END
 WHERE host = %(host)s AND holder = %(holder)s
"""


_RELEASE: Final = (
    "UPDATE host_gates SET holder = NULL, lease_until = NULL "
    "WHERE host = %(host)s AND holder = %(holder)s"
)


class HostGateRows:
    """The ``host_gates`` table; every instant is the database's ``clock_timestamp()``."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def _execute(self, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(sql, params)
            return await cursor.fetchone() if cursor.description else None

    async def ensure(self, host: str) -> None:
        """The host's row, made if missing."""
        await self._execute(_ENSURE, {"host": host})

    async def take(
        self, host: str, holder: str, lease: float, gap: float
    ) -> tuple[Any, ...] | None:
        """The host's lease for ``holder`` when free or expired: (seconds the breaker stays open,
        seconds Retry-After still asks, seconds of the gap still to wait, failures, open_until);
        None while another holds it."""
        params = {"host": host, "holder": holder, "lease": lease, "gap": gap}
        return await self._execute(_TAKE, params)

    async def release(self, host: str, holder: str) -> None:
        """Give the lease back without a request sent."""
        await self._execute(_RELEASE, {"host": host, "holder": holder})

    async def give(self, params: dict[str, Any]) -> int:
        """Give the lease back after a request (``_GIVE``'s parameters); 0 when the lease had
        ended before (another holder may have taken the host)."""
        async with self.pool.connection() as conn:
            done = await conn.execute(_GIVE, params)
            return done.rowcount
