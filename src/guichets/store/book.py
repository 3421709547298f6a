"""The shared book of the schedule, in SQL: ``schedule_periods`` (every period of every service
and what became of it) and ``workers`` (who is alive), through the workers' async pool.

What the states mean and why a claim is one ``UPDATE`` are said in :mod:`guichets.workers.book`,
which holds the jobs themselves; the queries are here with the rest of the SQL. They use psycopg's
async pool rather than the store's SQLAlchemy engine: they run on the workers' event loop, on the
path of every job. All instants are the database's (``clock_timestamp()``), one clock for every
machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

__all__ = ["Book", "BookPeriod", "Claim", "NameTaken"]


class BookPeriod(Protocol):
    """What the book needs of a period's job (:class:`guichets.workers.book.PeriodJob`)."""

    @property
    def service(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def period_key(self) -> str: ...
    @property
    def period_start(self) -> datetime: ...
    @property
    def period_end(self) -> datetime: ...
    @property
    def planned_at(self) -> datetime: ...
    @property
    def stored_key(self) -> str: ...


P = TypeVar("P", bound=BookPeriod)


class NameTaken(Exception):
    """Two live workers cannot share a name."""


@dataclass(frozen=True)
class Claim:
    """What a worker may do with a job: ``probe`` it; ``skip`` it (done, lost, held by another);
    ``later`` (a replicate whose first probe is not yet taken, or was taken from here)."""

    action: Literal["probe", "skip", "later"]
    reason: str = ""


_PLAN = """
INSERT INTO schedule_periods (service, period_key, role, period_start, period_end, planned_at,
                              state, attempts, note)
SELECT s, k, r, ps, pe, pa, 'planned', 0, ''
  FROM unnest(%(services)s::text[], %(keys)s::text[], %(roles)s::text[],
              %(starts)s::timestamptz[], %(ends)s::timestamptz[], %(planned)s::timestamptz[])
       AS t(s, k, r, ps, pe, pa)
ON CONFLICT DO NOTHING
RETURNING service, period_key, role
"""

_CLAIM = """
UPDATE schedule_periods p
   SET state = 'probing', worker = %(worker)s, vantage = %(vantage)s, attempts = attempts + 1,
       claimed_at = clock_timestamp(), job_id = %(job_id)s,
       lease_until = clock_timestamp() + %(lease)s * interval '1 second'
 WHERE service = %(service)s AND period_key = %(key)s AND role = %(role)s
   AND state = 'planned' AND clock_timestamp() < period_end
   AND (%(role)s = 'probe' OR EXISTS (
        SELECT 1 FROM schedule_periods f
         WHERE f.service = p.service AND f.period_key = p.period_key AND f.role = 'probe'
           AND f.state IN ('probing', 'done') AND f.vantage IS DISTINCT FROM %(vantage)s))
RETURNING 1
"""

_LOSE = """
UPDATE schedule_periods
   SET state = 'lost', lease_until = NULL, note = %(note)s
 WHERE service = %(service)s AND period_key = %(key)s AND role = %(role)s
   AND state IN ('planned', 'probing')
"""


class Book:
    """The ``schedule_periods`` and ``workers`` tables, through an async pool."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def _one(self, sql: str, params: dict[str, Any]) -> dict[str, Any] | None:
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(sql, params)
            return await cur.fetchone() if cur.description else None

    async def _all(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(sql, params)
            return await cur.fetchall() if cur.description else []

    async def _count(self, sql: str, params: dict[str, Any]) -> int:
        async with self.pool.connection() as conn:
            done = await conn.execute(sql, params)
            return done.rowcount

    # -- the scheduler --------------------------------------------------------------------------

    async def plan(self, jobs: list[P]) -> list[P]:
        """Enter periods in the book; returns those that were not there (to defer)."""
        if not jobs:
            return []
        rows = await self._all(
            _PLAN,
            {
                "services": [j.service for j in jobs],
                "keys": [j.period_key for j in jobs],
                "roles": [j.role for j in jobs],
                "starts": [j.period_start for j in jobs],
                "ends": [j.period_end for j in jobs],
                "planned": [j.planned_at for j in jobs],
            },
        )
        new = {(r["service"], r["period_key"], r["role"]) for r in rows}
        return [j for j in jobs if (j.service, j.period_key, j.role) in new]

    async def set_jobs(self, deferred: Sequence[tuple[BookPeriod, int]]) -> None:
        """Note which job carries each period."""
        if not deferred:
            return
        await self._count(
            "UPDATE schedule_periods p SET job_id = t.j FROM unnest(%(s)s::text[], "
            "%(k)s::text[], %(r)s::text[], %(j)s::bigint[]) AS t(s, k, r, j) "
            "WHERE p.service = t.s AND p.period_key = t.k AND p.role = t.r",
            {
                "s": [j.service for j, _ in deferred],
                "k": [j.period_key for j, _ in deferred],
                "r": [j.role for j, _ in deferred],
                "j": [i for _, i in deferred],
            },
        )

    async def unqueued(self) -> list[tuple[str, str, str]]:
        """Planned, open periods without a job (a scheduler stopped between the two writes)."""
        rows = await self._all(
            "SELECT service, period_key, role FROM schedule_periods WHERE state = 'planned' "
            "AND job_id IS NULL AND period_end > clock_timestamp()",
            {},
        )
        return [(r["service"], r["period_key"], r["role"]) for r in rows]

    # -- a worker -------------------------------------------------------------------------------

    async def register(self, worker: str, vantage: str, hostname: str, lease: float) -> None:
        """Enter the worker in ``workers``; refused while another live worker has its name (its
        evidence folder and its leases would be shared)."""
        took = await self._count(
            """
            INSERT INTO workers (name, vantage, hostname, started_at, heartbeat_at)
            VALUES (%(w)s, %(v)s, %(h)s, clock_timestamp(), clock_timestamp())
            ON CONFLICT (name) DO UPDATE SET vantage = excluded.vantage,
                hostname = excluded.hostname, started_at = excluded.started_at,
                heartbeat_at = excluded.heartbeat_at, stopped_at = NULL, stop_reason = NULL
            WHERE workers.stopped_at IS NOT NULL
               OR workers.heartbeat_at < clock_timestamp() - %(l)s * interval '1 second'
            """,
            {"w": worker, "v": vantage, "h": hostname, "l": lease},
        )
        if took == 0:
            raise NameTaken(
                f"a worker named {worker!r} is running (its heartbeat is less than {lease:g} s "
                "old): give this one another --name, or wait for the other's lease to end"
            )

    async def stopped(self, worker: str, reason: str) -> None:
        await self._count(
            "UPDATE workers SET stopped_at = clock_timestamp(), stop_reason = %(r)s "
            "WHERE name = %(w)s",
            {"w": worker, "r": reason},
        )

    async def renew(self, worker: str, lease: float) -> None:
        """The worker's heartbeat: it is alive, and keeps the periods it is probing."""
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute(
                "UPDATE workers SET heartbeat_at = clock_timestamp() WHERE name = %(w)s",
                {"w": worker},
            )
            await conn.execute(
                "UPDATE schedule_periods SET lease_until = clock_timestamp() + %(l)s * "
                "interval '1 second' WHERE worker = %(w)s AND state = 'probing'",
                {"w": worker, "l": lease},
            )

    async def claim(
        self, job: BookPeriod, *, worker: str, vantage: str, lease: float, job_id: int | None
    ) -> Claim:
        """Take the period for a probe, or say why not (and record it lost if it is over)."""
        params = {"worker": worker, "vantage": vantage, "lease": lease, "job_id": job_id}
        if await self._one(_CLAIM, {**params, **_key(job)}) is not None:
            return Claim("probe")
        row = await self._one(
            "SELECT state, worker, vantage, clock_timestamp() >= period_end AS over "
            "FROM schedule_periods WHERE service = %(service)s AND period_key = %(key)s "
            "AND role = %(role)s",
            _key(job),
        )
        if row is None:
            return Claim("skip", "the period is not in the book")
        if row["state"] != "planned":
            return Claim("skip", f"the period is {row['state']} (by {row['worker'] or 'nobody'})")
        if row["over"]:
            late = f"taken by {worker} after its period ended: no worker was free while it was open"
            await self.lose(job, late)
            return Claim("skip", late)
        return Claim("later", "its first probe is not yet taken from another vantage point")

    async def finish(self, job: BookPeriod, *, worker: str, probe_id: str | None) -> None:
        """The probe is stored (or the store already had one for the period)."""
        note = "" if probe_id is not None else "the store already held a probe of this period"
        await self._count(
            "UPDATE schedule_periods SET state = 'done', lease_until = NULL, probe_id = "
            "%(probe_id)s, note = CASE WHEN note = '' THEN %(note)s WHEN %(note)s = '' THEN note "
            "ELSE note || '; ' || %(note)s END "
            "WHERE service = %(service)s AND period_key = %(key)s "
            "AND role = %(role)s AND state = 'probing' AND worker = %(worker)s",
            {"probe_id": probe_id, "note": note, "worker": worker, **_key(job)},
        )

    async def lose(self, job: BookPeriod, note: str) -> None:
        await self._count(_LOSE, {"note": note, **_key(job)})

    # -- the sweep ------------------------------------------------------------------------------

    async def state(self, job: BookPeriod) -> dict[str, Any] | None:
        return await self._one(
            "SELECT state, worker, lease_until < clock_timestamp() AS expired, "
            "clock_timestamp() >= period_end AS over, "
            "EXISTS (SELECT 1 FROM probes WHERE probes.service = schedule_periods.service "
            "        AND probes.period_key = %(stored)s) AS stored "
            "FROM schedule_periods WHERE service = %(service)s AND period_key = %(key)s "
            "AND role = %(role)s",
            {"stored": job.stored_key, **_key(job)},
        )

    async def give_back(self, job: BookPeriod, note: str) -> None:
        """A period whose worker died: planned again, for another worker, while it is open."""
        await self._count(
            "UPDATE schedule_periods SET state = 'planned', lease_until = NULL, note = %(note)s "
            "WHERE service = %(service)s AND period_key = %(key)s AND role = %(role)s "
            "AND state = 'probing'",
            {"note": note, **_key(job)},
        )

    async def mark_done(self, job: BookPeriod, note: str) -> None:
        await self._count(
            "UPDATE schedule_periods SET state = 'done', lease_until = NULL, note = %(note)s, "
            "probe_id = (SELECT probe_id FROM probes WHERE probes.service = %(service)s "
            "            AND probes.period_key = %(stored)s) "
            "WHERE service = %(service)s AND period_key = %(key)s AND role = %(role)s",
            {"note": note, "stored": job.stored_key, **_key(job)},
        )

    async def lose_unclaimed(self) -> int:
        """Planned periods that ended with nobody taking them: lost, and said so."""
        return await self._count(
            "UPDATE schedule_periods SET state = 'lost', note = CASE WHEN note = '' THEN "
            "'no worker took it while its period was open' ELSE note || '; then no worker took "
            "it while its period was open' END WHERE state = 'planned' "
            "AND period_end <= clock_timestamp()",
            {},
        )

    async def job_args(self, job_id: int) -> dict[str, Any] | None:
        """The arguments of procrastinate's job ``job_id`` (None when it is gone)."""
        row = await self._one(
            "SELECT args FROM procrastinate_jobs WHERE id = %(id)s", {"id": job_id}
        )
        return None if row is None else dict(row["args"])

    async def expired(self) -> list[dict[str, Any]]:
        """Periods held by a worker whose lease ended (it stopped renewing: killed, cut off)."""
        return await self._all(
            "SELECT service, period_key, role, worker, job_id FROM schedule_periods "
            "WHERE state = 'probing' AND lease_until < clock_timestamp()",
            {},
        )


def _key(job: BookPeriod) -> dict[str, str]:
    return {"service": job.service, "key": job.period_key, "role": job.role}
