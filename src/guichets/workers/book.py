"""The shared book of the schedule: every period of every service, and what became of it.

A period is ``planned`` when its job is deferred, ``probing`` while a worker holds its lease,
``done`` when its probe is stored, ``lost`` when nobody probed it while it was open. The book is
what makes "never probed twice, never lost unrecorded" checkable with one query:

- a worker **claims** a period before probing it, in one ``UPDATE`` that succeeds only if the
  period is still planned and open: two workers never both hold it;
- the lease is renewed by the worker's heartbeat; a worker killed mid-probe stops renewing, and the
  sweep (run by every live worker) gives the period back to the queue while it is open, or
  records it as lost, with a note saying why;
- a probe is stored under the unique (service, period) key of ``probes``, the last guard.

All instants are the database's (``clock_timestamp()``), one clock for every machine.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from guichets.platforms import Target
from guichets.probe import ProbeSpec
from guichets.schedule import period_key

__all__ = ["Book", "Claim", "NameTaken", "PeriodJob", "replicated"]

Role = Literal["probe", "replicate"]
REPLICATE_SUFFIX: Final = "#replicate"


@dataclass(frozen=True)
class PeriodJob:
    """One period of one service, as a job carries it: all a worker needs, no catalogue."""

    service: str
    platform: str
    url: str
    counter: str | None
    horizon_days: int
    departement: str | None
    cadence_seconds: int
    period_start: datetime
    planned_at: datetime
    role: Role = "probe"

    @property
    def period_key(self) -> str:
        return period_key(self.period_start, self.cadence_seconds)

    @property
    def period_end(self) -> datetime:
        return self.period_start + timedelta(seconds=self.cadence_seconds)

    @property
    def stored_key(self) -> str:
        """The key the probe is stored under: a replicate has its own, so that the unique
        (service, period) of ``probes`` holds one probe and one replicate at most."""
        key = self.period_key
        return key + REPLICATE_SUFFIX if self.role == "replicate" else key

    def spec(self) -> ProbeSpec:
        return ProbeSpec(
            service=self.service,
            platform=self.platform,
            target=Target(self.url, self.counter, self.horizon_days),
            departement=self.departement,
        )

    def to_args(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "platform": self.platform,
            "url": self.url,
            "counter": self.counter,
            "horizon_days": self.horizon_days,
            "departement": self.departement,
            "cadence_seconds": self.cadence_seconds,
            "period_start": self.period_start.astimezone(UTC).isoformat(),
            "planned_at": self.planned_at.astimezone(UTC).isoformat(),
            "role": self.role,
        }

    @classmethod
    def from_args(cls, args: dict[str, Any]) -> PeriodJob:
        role = args.get("role", "probe")
        if role not in ("probe", "replicate"):
            raise ValueError(f"unknown role {role!r}")
        return cls(
            service=str(args["service"]),
            platform=str(args["platform"]),
            url=str(args["url"]),
            counter=None if args.get("counter") is None else str(args["counter"]),
            horizon_days=int(args["horizon_days"]),
            departement=None if args.get("departement") is None else str(args["departement"]),
            cadence_seconds=int(args["cadence_seconds"]),
            period_start=datetime.fromisoformat(args["period_start"]),
            planned_at=datetime.fromisoformat(args["planned_at"]),
            role=role,
        )

    def replicate(self) -> PeriodJob:
        return replace(self, role="replicate")


def replicated(service: str, key: str, share: float, seed: int = 0) -> bool:
    """Whether the period is one of the share ``share`` probed from a second vantage point:
    drawn from a digest, so that every scheduler draws the same periods."""
    if share <= 0:
        return False
    digest = hashlib.sha256(f"replicate/{seed}/{service}/{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


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

    async def plan(self, jobs: list[PeriodJob]) -> list[PeriodJob]:
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

    async def set_jobs(self, deferred: list[tuple[PeriodJob, int]]) -> None:
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
        self, job: PeriodJob, *, worker: str, vantage: str, lease: float, job_id: int | None
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

    async def finish(self, job: PeriodJob, *, worker: str, probe_id: str | None) -> None:
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

    async def lose(self, job: PeriodJob, note: str) -> None:
        await self._count(_LOSE, {"note": note, **_key(job)})

    # -- the sweep ------------------------------------------------------------------------------

    async def state(self, job: PeriodJob) -> dict[str, Any] | None:
        return await self._one(
            "SELECT state, worker, lease_until < clock_timestamp() AS expired, "
            "clock_timestamp() >= period_end AS over, "
            "EXISTS (SELECT 1 FROM probes WHERE probes.service = schedule_periods.service "
            "        AND probes.period_key = %(stored)s) AS stored "
            "FROM schedule_periods WHERE service = %(service)s AND period_key = %(key)s "
            "AND role = %(role)s",
            {"stored": job.stored_key, **_key(job)},
        )

    async def give_back(self, job: PeriodJob, note: str) -> None:
        """A period whose worker died: planned again, for another worker, while it is open."""
        await self._count(
            "UPDATE schedule_periods SET state = 'planned', lease_until = NULL, note = %(note)s "
            "WHERE service = %(service)s AND period_key = %(key)s AND role = %(role)s "
            "AND state = 'probing'",
            {"note": note, **_key(job)},
        )

    async def mark_done(self, job: PeriodJob, note: str) -> None:
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

    async def expired(self) -> list[dict[str, Any]]:
        """Periods held by a worker whose lease ended (it stopped renewing: killed, cut off)."""
        return await self._all(
            "SELECT service, period_key, role, worker, job_id FROM schedule_periods "
            "WHERE state = 'probing' AND lease_until < clock_timestamp()",
            {},
        )


def _key(job: PeriodJob) -> dict[str, str]:
    return {"service": job.service, "key": job.period_key, "role": job.role}
