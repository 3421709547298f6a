"""One worker: takes the due jobs of the shared schedule and probes them, with the same code as
``guichets run`` (:func:`guichets.probe.run_probe`, the evidence archive, the store).

Beside procrastinate's loop, a worker runs two duties of its own:

- a **heartbeat** that renews its leases (``schedule_periods.lease_until``) and its row in
  ``workers``; if the database cannot be reached, the worker stops probing at once and says so
  (a probe it could not store is no probe, and its leases end by themselves);
- a **sweep**, shared by every live worker: a period whose worker stopped renewing its lease
  (killed, cut off) goes back to the queue while it is open, or is recorded as lost with the
  reason; a period still planned when it ends is recorded as lost; a job a dead worker took
  before claiming its period goes back to the queue.

Each worker writes its evidence under ``HOME/evidence/warc/workers/<name>/`` of a root every
machine shares, and recovers only its own folder when it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from procrastinate import App
from procrastinate.exceptions import ConnectorException
from procrastinate.jobs import Status
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from guichets import __version__
from guichets.clock import Clock, SystemClock
from guichets.evidence.archive import EvidenceArchive
from guichets.http import Exchange, Politeness
from guichets.probe import new_probe_id, run_probe
from guichets.store import Origin, Store, StoreError
from guichets.workers.book import Book, PeriodJob
from guichets.workers.db import open_pool
from guichets.workers.gate import GateUnavailable, SharedGates
from guichets.workers.queue import TASK, defer, ensure_schema, make_app, register_task

__all__ = ["Worker", "WorkerConfig", "WorkerSummary"]

log = logging.getLogger(__name__)

_DB_ERRORS = (
    psycopg.Error,
    PoolTimeout,
    OSError,
    TimeoutError,
    StoreError,
    GateUnavailable,
    ConnectorException,
)

# Of those, what says that the database itself went away when a duty ends on it (an OSError of
# a full disk, say, is not; a refused or reset connection is).
_LOST_DB = (
    psycopg.Error,
    PoolTimeout,
    ConnectionError,
    TimeoutError,
    StoreError,
    ConnectorException,
)


@dataclass(frozen=True)
class WorkerConfig:
    url: str  # the store's PostgreSQL URL
    home: Path  # the evidence root, shared by every machine (a network filesystem)
    name: str
    vantage: str
    concurrency: int = 4
    politeness: Politeness = field(default_factory=Politeness)
    evidence: bool = True
    heartbeat: float = 10.0  # seconds between two renewals of the leases
    lease: float = 60.0  # seconds without a heartbeat after which a worker counts as gone
    poll: float = 2.0  # seconds between two looks at the queue (NOTIFY wakes it sooner)
    replicate_wait: float = 5.0  # seconds before a replicate looks again for its first probe


@dataclass
class WorkerSummary:
    probes: int = 0
    replicates: int = 0
    skipped: int = 0
    lost: int = 0  # periods this worker recorded as lost (its own, or by the sweep)
    given_back: int = 0  # periods of dead workers put back in the queue by its sweep
    by_outcome: dict[str, int] = field(default_factory=dict)
    failure: str | None = None  # why it stopped, when it did not stop as asked


class Worker:
    """``await Worker(config).run()`` until :attr:`stop` is set or the database is lost."""

    def __init__(
        self,
        config: WorkerConfig,
        *,
        clock: Clock | None = None,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        if config.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.config = config
        self.clock = clock or SystemClock()
        self.on_event = on_event or (lambda text: log.info("%s", text))
        self.stop = asyncio.Event()
        self.summary = WorkerSummary()
        self.holder = f"{config.name}:{os.getpid()}:{secrets.token_hex(3)}"
        self._store: Store | None = None
        self._archive: EvidenceArchive | None = None
        self._book: Book | None = None
        self._gates: SharedGates | None = None
        self._app: App | None = None
        self._run_id = ""
        self._commit = asyncio.Lock()
        # How long the database may be away before the worker gives up: its leases must not end
        # while it still probes, so less than a lease minus a heartbeat.
        self.patience = max(0.5, min(10.0, config.lease - config.heartbeat))

    # -- life -----------------------------------------------------------------------------------

    async def run(self) -> WorkerSummary:
        config = self.config
        store = self._store = await asyncio.to_thread(Store.open, config.url)
        pool: AsyncConnectionPool | None = None
        try:
            pool = await open_pool(
                config.url,
                size=config.concurrency + 3,
                name=f"guichets-worker-{config.name}",
                wait=self.patience,
            )
            await ensure_schema(pool)
            book = self._book = Book(pool)
            await book.register(config.name, config.vantage, socket.gethostname(), config.lease)
            self._run_id = store.start_run(
                command=f"worker {config.name} ({config.vantage})",
                version=__version__,
                catalogue_digest=None,
                at=self.clock.now(),
                hostname=socket.gethostname(),
            )
            self._gates = SharedGates(self.clock, config.politeness, pool, self.holder)
            with contextlib.ExitStack() as stack:
                if config.evidence:
                    info = {
                        "http-header-user-agent": config.politeness.user_agent,
                        "guichets-worker": config.name,
                        "guichets-vantage": config.vantage,
                    }
                    archive = EvidenceArchive(
                        config.home, store, self.clock, info=info, worker=config.name
                    )
                    self._archive = stack.enter_context(archive)
                    for line in archive.recovery.lines() if archive.recovery else []:
                        self.on_event(f"evidence: {line}")
                await self._serve()
        except _DB_ERRORS as exc:
            self._fail(f"lost the database ({_say(exc)})")
        finally:
            if self.summary.failure is None:
                with contextlib.suppress(*_DB_ERRORS):
                    if self._run_id:
                        store.end_run(self._run_id, self.clock.now())
                    if self._book is not None:
                        await self._book.stopped(config.name, "stopped as asked")
            else:
                with contextlib.suppress(*_DB_ERRORS, Exception):
                    if self._book is not None:
                        await asyncio.wait_for(
                            self._book.stopped(config.name, self.summary.failure), self.patience
                        )
            if pool is not None:
                await pool.close()
            store.close()
        return self.summary

    async def _serve(self) -> None:
        config = self.config
        app = self._app = make_app(
            config.url,
            size=config.concurrency + 3,
            name=f"guichets-worker-{config.name}",
            timeout=self.patience,
        )
        register_task(app, self._handle)
        async with app.open_async():
            duties = [
                asyncio.create_task(
                    app.run_worker_async(
                        queues=["probes"],
                        name=config.name,
                        concurrency=config.concurrency,
                        install_signal_handlers=False,
                        update_heartbeat_interval=config.heartbeat,
                        stalled_worker_timeout=config.lease,
                        fetch_job_polling_interval=config.poll,
                        abort_job_polling_interval=max(config.poll, 5.0),
                        delete_jobs="never",
                    ),
                    name="procrastinate",
                ),
                asyncio.create_task(self._beat(), name="heartbeat"),
                asyncio.create_task(self._sweeping(), name="sweep"),
            ]
            stopper = asyncio.create_task(self.stop.wait())
            done, _ = await asyncio.wait([*duties, stopper], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stopper and not task.cancelled() and task.exception() is not None:
                    exc = task.exception()
                    if isinstance(exc, _LOST_DB):  # procrastinate's listener, the heartbeat...
                        self._fail(f"lost the database ({task.get_name()}: {_say(exc)})")
                    else:
                        self._fail(f"{task.get_name()} failed: {_say(exc)}")
            self.stop.set()
            for task in [*duties, stopper]:
                task.cancel()
            results = await asyncio.gather(*duties, stopper, return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException) and not isinstance(
                    result, asyncio.CancelledError
                ):
                    log.debug("duty ended with %r", result)

    def _fail(self, reason: str) -> None:
        if self.summary.failure is None:
            self.summary.failure = reason
            self.on_event(
                f"worker {self.config.name}: {reason}: stopped probing; the periods it held go "
                "back to the other workers when its lease ends"
            )
        self.stop.set()

    # -- duties ---------------------------------------------------------------------------------

    async def _beat(self) -> None:
        assert self._book is not None and self._store is not None
        store_beat = last_ok = self.clock.now()
        while not self.stop.is_set():
            try:
                await self._book.renew(self.config.name, self.config.lease)
                now = last_ok = self.clock.now()
                if (now - store_beat).total_seconds() >= 60:
                    store_beat = now
                    await asyncio.to_thread(self._store.heartbeat, self._run_id, now)
            except _DB_ERRORS as exc:
                away = (self.clock.now() - last_ok).total_seconds()
                if away >= self.patience:  # its leases are about to end: others take over
                    self._fail(f"lost the database for {away:.0f} s ({_say(exc)})")
                    return
                log.warning("%s: heartbeat failed (%s); trying again", self.config.name, exc)
            await self._pause(self.config.heartbeat)

    async def _sweeping(self) -> None:
        while not self.stop.is_set():
            await self._pause(self.config.lease / 2 * (0.5 + random.random()))
            if self.stop.is_set():
                return
            try:
                await self.sweep()
            except _DB_ERRORS as exc:  # the heartbeat decides whether the database is lost
                log.warning("%s: sweep failed (%s)", self.config.name, _say(exc))

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), timeout=max(0.0, seconds))

    async def sweep(self) -> None:
        """Give back or record as lost what dead workers left (see the module's docstring)."""
        book, app = self._book, self._app
        assert book is not None and app is not None
        for row in await book.expired():
            job = await self._job_of(row["job_id"])
            if job is None:
                continue
            state = await book.state(job)
            if state is None or state["state"] != "probing" or not state["expired"]:
                continue
            gone = f"worker {row['worker']} stopped renewing its lease during the probe"
            if state["stored"]:
                await book.mark_done(job, f"{gone}, after storing it")
            elif state["over"]:
                await book.lose(job, f"{gone}; the period ended before another could take it")
                self.summary.lost += 1
            else:
                await book.give_back(job, f"{gone}; given back by {self.config.name}")
                await self._requeue(app, job, row["job_id"])
                self.summary.given_back += 1
        self.summary.lost += await book.lose_unclaimed()
        # Jobs a dead worker fetched but had not claimed (the book still says planned).
        stalled = await app.job_manager.get_stalled_jobs(
            task_name=TASK, seconds_since_heartbeat=self.config.lease
        )
        for stale in stalled:
            job = PeriodJob.from_args(stale.task_kwargs)
            state = await book.state(job)
            if state is not None and state["state"] == "planned" and not state["over"]:
                await self._requeue(app, job, stale.id)
            elif state is None or state["state"] in ("done", "lost") or state["over"]:
                with contextlib.suppress(Exception):
                    await app.job_manager.finish_job(stale, Status.FAILED, delete_job=False)

    async def _job_of(self, job_id: int | None) -> PeriodJob | None:
        if job_id is None or self._app is None:
            return None
        assert self._book is not None
        args = await self._book.job_args(job_id)
        return None if args is None else PeriodJob.from_args(args)

    async def _requeue(self, app: App, job: PeriodJob, job_id: int | None) -> None:
        """The job again, due now: the same job if its worker died while running it."""
        if job_id is not None:
            try:
                await app.job_manager.retry_job_by_id_async(job_id, retry_at=self.clock.now())
                return
            except Exception as exc:  # not in "doing" any more: another sweep requeued it
                log.debug("job %s not retried: %s", job_id, exc)
        now = self.clock.now()
        await defer(app, [replace(job, planned_at=now)])

    # -- one job --------------------------------------------------------------------------------

    async def _handle(self, job: PeriodJob, job_id: int | None) -> None:
        try:
            await self._probe(job, job_id)
        except _DB_ERRORS as exc:
            self._fail(f"lost the database ({_say(exc)})")
            raise RuntimeError(self.summary.failure) from None

    async def _probe(self, job: PeriodJob, job_id: int | None) -> None:
        config, book, gates, store = self.config, self._book, self._gates, self._store
        assert book is not None and gates is not None and store is not None
        if self.stop.is_set():  # taken as it was stopping: due again now, for another worker
            assert self._app is not None
            await defer(self._app, [replace(job, planned_at=self.clock.now())])
            return
        claim = await book.claim(
            job, worker=config.name, vantage=config.vantage, lease=config.lease, job_id=job_id
        )
        if claim.action == "skip":
            self.summary.skipped += 1
            if "after its period ended" in claim.reason:
                self.summary.lost += 1
            log.info("%s %s %s: %s", job.role, job.service, job.period_key, claim.reason)
            return
        if claim.action == "later":
            await self._later(job, claim.reason)
            return
        probe_id = new_probe_id()
        archive = self._archive
        recorder = None if archive is None else archive.recorder(probe_id, job.service)
        hook: Callable[[Exchange], None] | None = None if recorder is None else recorder.on_exchange
        observation = await run_probe(job.spec(), gates, self.clock, probe_id=probe_id,
                                      on_exchange=hook)  # fmt: skip
        replicate = job.role == "replicate"
        origin = Origin(config.name, config.vantage, job.period_key if replicate else None)
        keys: dict[str, Any] = {
            "run_id": self._run_id,
            "period_key": job.stored_key,
            "scheduled_for": job.planned_at,
            "robots_override": observation.extra.get("robots_override"),
            "origin": origin,
        }
        async with self._commit:  # one writer of the archive's file at a time
            if archive is not None and recorder is not None:
                stored = await asyncio.to_thread(archive.commit, recorder, observation, **keys)
            else:
                stored = await asyncio.to_thread(store.save, observation, **keys)
        await book.finish(job, worker=config.name, probe_id=probe_id if stored else None)
        if not stored:
            self.summary.skipped += 1
            return
        if replicate:
            self.summary.replicates += 1
        else:
            self.summary.probes += 1
        outcome = str(observation.outcome)
        self.summary.by_outcome[outcome] = self.summary.by_outcome.get(outcome, 0) + 1

    async def _later(self, job: PeriodJob, reason: str) -> None:
        """A replicate whose first probe is not taken yet, or was taken from this vantage point:
        due again shortly, for any worker; lost when its period ends first."""
        assert self._app is not None and self._book is not None
        at = self.clock.now() + timedelta(seconds=self.config.replicate_wait)
        if at >= job.period_end:
            await self._book.lose(
                job, f"no second vantage point took it while its period was open ({reason})"
            )
            self.summary.lost += 1
            return
        await defer(self._app, [replace(job, planned_at=at)])


def _say(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
