"""The scheduler: enter the periods ahead in the book and defer one job per period.

The instants are the single-machine runner's (``guichets.schedule.planned_at``: stratified,
reproducible from the seed), so that a catalogue probed by ``guichets run`` or by workers is
sampled the same way. A period already open whose instant has passed is deferred to now, as the
runner does; a period already in the book is left alone, so running the scheduler again (from
cron, or from two machines) never defers a period twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from guichets.runner import Scheduled
from guichets.schedule import Plan, period_start, planned_at
from guichets.workers.book import Book, PeriodJob, replicated
from guichets.workers.db import open_pool
from guichets.workers.queue import defer, ensure_schema, make_app

__all__ = ["ScheduleResult", "periods_ahead", "schedule", "schedule_jobs"]


@dataclass
class ScheduleResult:
    periods: int = 0  # periods (and replicates) within the horizon
    deferred: int = 0  # jobs deferred now
    replicates: int = 0  # of which second vantage points


def periods_ahead(
    services: Sequence[Scheduled],
    now: datetime,
    ahead: timedelta,
    *,
    seed: int = 0,
    plan: Plan = Plan.RANDOM,
    replicate: float = 0.0,
) -> list[PeriodJob]:
    """Every period open now or starting before ``now + ahead``, with its instant."""
    out: list[PeriodJob] = []
    horizon = now + ahead
    for item in services:
        cadence = item.cadence_seconds
        start = period_start(now, cadence)
        spec = item.spec
        while start < horizon:
            instant = planned_at(spec.service, start, cadence, seed=seed, plan=plan)
            job = PeriodJob(
                service=spec.service,
                platform=spec.platform,
                url=spec.target.url,
                counter=spec.target.counter,
                horizon_days=spec.target.horizon_days,
                departement=spec.departement,
                cadence_seconds=cadence,
                period_start=start,
                planned_at=max(now, instant),
                other_hosts=spec.target.other_hosts,
                allow_local=spec.target.allow_local,
            )
            out.append(job)
            if replicated(spec.service, job.period_key, replicate, seed):
                out.append(job.replicate())
            start += timedelta(seconds=cadence)
    return out


async def schedule(
    url: str,
    services: Sequence[Scheduled],
    *,
    now: datetime,
    ahead: timedelta,
    seed: int = 0,
    plan: Plan = Plan.RANDOM,
    replicate: float = 0.0,
) -> ScheduleResult:
    """Plan and defer the periods ahead; the store's schema must be at head (``Store.open``)."""
    jobs = periods_ahead(services, now, ahead, seed=seed, plan=plan, replicate=replicate)
    return await schedule_jobs(url, jobs)


async def schedule_jobs(url: str, jobs: list[PeriodJob]) -> ScheduleResult:
    """Enter these periods in the book and defer the jobs of those that were not there."""
    result = ScheduleResult(periods=len(jobs))
    pool = await open_pool(url, size=2, name="guichets-schedule")
    try:
        await ensure_schema(pool)
        book = Book(pool)
        new = await book.plan(jobs)
        # A period in the book without its job (a scheduler stopped between the two writes).
        wanted = {(j.service, j.period_key, j.role): j for j in jobs}
        orphans = [wanted[k] for k in await book.unqueued() if k in wanted]
        todo = list({(j.service, j.period_key, j.role): j for j in [*new, *orphans]}.values())
        app = make_app(url, size=2, name="guichets-schedule")
        async with app.open_async():
            deferred = await defer(app, todo)
        await book.set_jobs(deferred)
    finally:
        await pool.close()
    result.deferred = len(deferred)
    result.replicates = sum(1 for j, _ in deferred if j.role == "replicate")
    return result
