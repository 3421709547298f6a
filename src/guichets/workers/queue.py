"""The job queue: procrastinate on the PostgreSQL database the data lives in.

Why procrastinate: it keeps jobs in PostgreSQL (no other broker to run, back up or secure), defers
a job to an instant (``scheduled_at``), hands each due job to one worker (``SELECT ... FOR UPDATE
SKIP LOCKED``), wakes workers with LISTEN/NOTIFY, records workers' heartbeats and finds the jobs
of stalled ones, and refuses a second waiting job with the same ``queueing_lock``. One job per
(role, service, period) carries everything a worker needs (``PeriodJob.to_args``), so workers need
no catalogue: the scheduler's catalogue is the one source.

Its tables (``procrastinate_*``) are created in the database's first schema of the search path by
procrastinate's own ``schema.sql`` the first time a scheduler or worker starts, under an advisory
lock; Alembic does not manage them (they are procrastinate's, and only PostgreSQL has them).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

from procrastinate import App, JobContext, PsycopgConnector
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.jobs import Job
from procrastinate.schema import SchemaManager
from psycopg_pool import AsyncConnectionPool

from guichets.store.jobs import ensure_job_tables
from guichets.workers.book import PeriodJob
from guichets.workers.db import CONNECT_TIMEOUT, conninfo

__all__ = ["QUEUE", "TASK", "defer", "ensure_schema", "make_app", "register_task"]

log = logging.getLogger(__name__)

TASK: Final = "guichets.probe_period"
QUEUE: Final = "probes"


def make_app(url: str, *, size: int, name: str, timeout: float = CONNECT_TIMEOUT * 3) -> App:
    """A procrastinate app on the store's database (not yet open)."""
    connector = PsycopgConnector(
        conninfo=conninfo(url),
        min_size=1,
        max_size=max(2, size),
        timeout=timeout,
        kwargs={"application_name": name[:63], "connect_timeout": CONNECT_TIMEOUT},
    )
    return App(connector=connector)


async def ensure_schema(pool: AsyncConnectionPool) -> bool:
    """Create procrastinate's tables if the database has none; True if it did."""
    return await ensure_job_tables(pool, SchemaManager.get_schema())


def queueing_lock(job: PeriodJob) -> str:
    """At most one waiting job per (role, service, period)."""
    return f"{job.role}:{job.service}:{job.period_key}"


def _job(job: PeriodJob) -> Job:
    return Job(
        id=None,
        queue=QUEUE,
        lock=None,
        queueing_lock=queueing_lock(job),
        task_name=TASK,
        task_kwargs=job.to_args(),
        scheduled_at=job.planned_at,
    )


async def defer(app: App, jobs: list[PeriodJob]) -> list[tuple[PeriodJob, int]]:
    """Defer each period's job to its instant; a period that already has a waiting job keeps it.

    Returns the jobs deferred now, with their ids.
    """
    if not jobs:
        return []
    try:
        done = await app.job_manager.batch_defer_jobs_async([_job(j) for j in jobs])
        return [(j, int(d.id or 0)) for j, d in zip(jobs, done, strict=True)]
    except AlreadyEnqueued:
        pass  # one of them was already waiting: one by one, keeping the ones that were
    out = []
    for job in jobs:
        try:
            deferred = await app.job_manager.defer_job_async(_job(job))
        except AlreadyEnqueued:
            log.info("%s already has a waiting job", queueing_lock(job))
            continue
        out.append((job, int(deferred.id or 0)))
    return out


Handler = Callable[[PeriodJob, int | None], Awaitable[None]]


def register_task(app: App, handler: Handler) -> None:
    """Make ``handler`` the task that runs each period's job in this process."""

    async def probe_period(context: JobContext, /, **kwargs: Any) -> None:
        await handler(PeriodJob.from_args(kwargs), context.job.id)

    app.task(name=TASK, queue=QUEUE, pass_context=True)(probe_period)
