"""The run loop: probe every service at its cadence, store each observation as it comes.

Several hosts are probed at once (``concurrency``), one request at a time per host (the shared
:class:`~guichets.http.HostGates`). Each probe is stored in its own transaction with its period's
key, so a run killed at any moment loses at most the probes in flight, and a restart probes the
periods that are still open and no period twice. A stop request (Ctrl-C) lets the probes in flight
finish, then ends the run cleanly.

On a simulated clock, use ``concurrency=1``: the clock jumps when every task waits on it, which is
exact only if no probe is waiting on real network I/O meanwhile.

With an :class:`~guichets.evidence.archive.EvidenceArchive`, each probe's exchanges are archived
as WARC records, written to disk before the probe is stored with their digests and its ledger
entry (``docs/evidence.md``): a kill at any moment leaves no probe without its records.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from guichets import __version__
from guichets.catalogue import Service
from guichets.clock import Clock
from guichets.evidence.archive import EvidenceArchive
from guichets.http import Exchange, HostGates, host_key
from guichets.model import Observation
from guichets.platforms import Target
from guichets.probe import ProbeSpec, new_probe_id, run_probe
from guichets.resilience import DB_PATIENCE, is_connection_loss, ping, retry_store
from guichets.schedule import Plan, period_key, period_start, planned_at
from guichets.store import Store, StoreError

__all__ = ["RunSummary", "Runner", "Scheduled", "from_catalogue"]

T = TypeVar("T")


@dataclass(frozen=True)
class Scheduled:
    """A service and how often to probe it."""

    spec: ProbeSpec
    cadence_seconds: int


def from_catalogue(services: Sequence[Service]) -> list[Scheduled]:
    """The runner's view of catalogue entries."""
    return [
        Scheduled(
            ProbeSpec(
                service=s.id,
                platform=s.platform,
                target=Target(
                    s.url,
                    None if s.planning is None else str(s.planning),
                    s.horizon_days,
                    s.other_hosts,
                    s.allows_local,
                ),
                departement=s.departement,
            ),
            s.cadence_seconds,
        )
        for s in services
    ]


@dataclass
class RunSummary:
    run_id: str
    probes: int = 0
    skipped_periods: int = 0
    by_outcome: dict[str, int] = field(default_factory=dict)


class Runner:
    """Probes a catalogue's services on a clock and stores what it finds."""

    def __init__(
        self,
        services: Sequence[Scheduled],
        store: Store,
        clock: Clock,
        gates: HostGates,
        *,
        seed: int = 0,
        plan: Plan = Plan.RANDOM,
        concurrency: int = 4,
        on_exchange: Callable[[Exchange], None] | None = None,
        on_observation: Callable[[Observation], None] | None = None,
        heartbeat_seconds: float = 300.0,
        command: str = "run",
        catalogue_digest: str | None = None,
        evidence: EvidenceArchive | None = None,
        on_stored: Callable[[Observation], Awaitable[None]] | None = None,
        on_planned: Callable[[str, datetime], None] | None = None,
        on_skipped: Callable[[str, datetime | None], None] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.services = list(services)
        self.store = store
        self.clock = clock
        self.gates = gates
        self.seed = seed
        self.plan = plan
        self.concurrency = concurrency
        self.on_exchange = on_exchange
        self.on_observation = on_observation
        self.heartbeat_seconds = heartbeat_seconds
        self.command = command
        self.catalogue_digest = catalogue_digest
        self.evidence = evidence  # opened and closed by the caller
        self.on_stored = on_stored  # e.g. a screenshot of the archived page, at probe time
        # A health check's view of the schedule: each probe planned (service, when due), and
        # each planned probe that will not be stored (fell behind, or another worker stored it).
        self.on_planned = on_planned
        self.on_skipped = on_skipped
        self.stop = asyncio.Event()
        self._failure: Exception | None = None
        self._run_id = ""
        self._last_beat = clock.now()
        self._hosts: dict[str, asyncio.Lock] = {}
        self.db_patience = DB_PATIENCE  # seconds a lost database is waited for (resilience.py)
        # The run lock's check (runlock.RunLock.check): before each probe, before each save and
        # at each heartbeat, so that a run whose database lock went with its connection never
        # goes on probing while a second run may have started.
        self.lock_check: Callable[[], None] | None = None

    async def run(self, *, until: datetime | None = None, once: bool = False) -> RunSummary:
        run_id = self.store.start_run(
            command=self.command,
            version=__version__,
            catalogue_digest=self.catalogue_digest,
            at=self.clock.now(),
            hostname=socket.gethostname(),
        )
        summary = RunSummary(run_id)
        self._run_id = run_id
        if once:
            await self._once(summary)
        else:
            await self._loop(summary, until)
        # Only a run that ends as asked is marked ended; a crashed one keeps its last heartbeat,
        # which is what statistics use to show the robot's own gaps.
        ended = self.clock.now()
        await self._retry("end the run", lambda: self.store.end_run(run_id, ended))
        return summary

    async def _retry(self, action: str, call: Callable[[], T]) -> T:
        return await retry_store(
            action, call, describe=self.store.url, patience=self.db_patience,
            ready=lambda: ping(self.store),
        )  # fmt: skip

    async def _hold_lock(self) -> None:
        if self.lock_check is not None:
            await self._retry("hold the run lock", self.lock_check)

    # -- one pass -------------------------------------------------------------------------------

    async def _once(self, summary: RunSummary) -> None:
        """Probe every service whose current period has no probe yet (a period is probed once:
        a second probe would weigh twice in the statistics)."""
        now = self.clock.now()
        slots = asyncio.Semaphore(self.concurrency)

        async def one(item: Scheduled) -> None:
            start = period_start(now, item.cadence_seconds)
            key = period_key(start, item.cadence_seconds)
            if key in self.store.period_keys(item.spec.service, start):
                summary.skipped_periods += 1
                return
            async with slots:
                if not self.stop.is_set():
                    await self._probe(item, key, None, summary)

        await asyncio.gather(*(one(item) for item in self.services))

    # -- the loop -------------------------------------------------------------------------------

    def _first_due(self, item: Scheduled, now: datetime) -> tuple[datetime, datetime]:
        """The next period of a service still without its probe, and when to probe it."""
        start = period_start(now, item.cadence_seconds)
        done = self.store.period_keys(item.spec.service, start)
        while period_key(start, item.cadence_seconds) in done:
            start += timedelta(seconds=item.cadence_seconds)
        return max(now, self._planned(item, start)), start

    def _planned(self, item: Scheduled, start: datetime) -> datetime:
        return planned_at(
            item.spec.service, start, item.cadence_seconds, seed=self.seed, plan=self.plan
        )

    async def _loop(self, summary: RunSummary, until: datetime | None) -> None:
        now = self.clock.now()
        order = itertools.count()
        queue: list[tuple[datetime, int, int, datetime]] = []
        for index, item in enumerate(self.services):
            due, start = self._first_due(item, now)
            heapq.heappush(queue, (due, next(order), index, start))
            self._planned_hook(item, due)
        slots = asyncio.Semaphore(self.concurrency)
        running: set[asyncio.Task[None]] = set()
        self._last_beat = now
        try:
            while queue and not self.stop.is_set():
                due, _, index, start = queue[0]
                if until is not None and due >= until:
                    break
                # Take a worker before waiting, so that the clock never jumps while probes run
                # with concurrency 1 (see the module's docstring).
                await slots.acquire()
                if not await self._wait_until(due):
                    slots.release()
                    break
                heapq.heappop(queue)
                item = self.services[index]
                following = start + timedelta(seconds=item.cadence_seconds)
                next_due = self._planned(item, following)
                heapq.heappush(queue, (next_due, next(order), index, following))
                self._planned_hook(item, next_due)
                if self.clock.now() >= following:
                    # The robot fell behind (a suspended machine, slow probes): a period that
                    # is over is a gap, not a burst of late probes.
                    summary.skipped_periods += 1
                    self._skipped_hook(item, due)
                    slots.release()
                    continue
                key = period_key(start, item.cadence_seconds)
                task = asyncio.create_task(self._probe_and_release(item, key, due, summary, slots))
                running.add(task)
                task.add_done_callback(running.discard)
        finally:
            if running:
                await asyncio.gather(*running, return_exceptions=True)
        if self._failure is not None:
            raise self._failure

    def _planned_hook(self, item: Scheduled, due: datetime) -> None:
        if self.on_planned is not None:
            self.on_planned(item.spec.service, due)

    def _skipped_hook(self, item: Scheduled, due: datetime | None) -> None:
        if self.on_skipped is not None:
            self.on_skipped(item.spec.service, due)

    async def _wait_until(self, due: datetime) -> bool:
        """Sleep on the clock until ``due``, beating the heartbeat on the way; False on stop."""
        while True:
            now = self.clock.now()
            if (now - self._last_beat).total_seconds() >= self.heartbeat_seconds:
                self._last_beat = now
                try:
                    self.store.heartbeat(self._run_id, now)
                    if self.lock_check is not None:
                        self.lock_check()
                except StoreError as error:  # a beat missed is no loss; the next one says more
                    if not is_connection_loss(error):
                        raise
            if self.stop.is_set():
                return False
            if now >= due:
                return True
            wake = min(due, self._last_beat + timedelta(seconds=self.heartbeat_seconds))
            sleeper = asyncio.ensure_future(self.clock.sleep((wake - now).total_seconds()))
            stopper = asyncio.ensure_future(self.stop.wait())
            _, pending = await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _probe_and_release(
        self,
        item: Scheduled,
        key: str,
        due: datetime,
        summary: RunSummary,
        slots: asyncio.Semaphore,
    ) -> None:
        try:
            await self._probe(item, key, due, summary)
        except Exception as error:
            # A probe never raises for what a site does; this is a failure of the robot itself
            # (the store is gone, a bug): stop probing, and let the run fail with it.
            if self._failure is None:
                self._failure = error
            self.stop.set()
        finally:
            slots.release()

    async def _probe(
        self, item: Scheduled, key: str | None, due: datetime | None, summary: RunSummary
    ) -> None:
        await self._hold_lock()
        probe_id = new_probe_id()
        archive = self.evidence
        recorder = None if archive is None else archive.recorder(probe_id, item.spec.service)
        hooks = [h for h in (None if recorder is None else recorder.on_exchange, self.on_exchange)
                 if h is not None]  # fmt: skip
        # One probe at a time per host: a probe's time limit then counts its own requests, not
        # a queue of the robot's other probes of the same site.
        lock = self._hosts.setdefault(host_key(item.spec.target.url), asyncio.Lock())
        async with lock:
            observation = await run_probe(
                item.spec, self.gates, self.clock, probe_id=probe_id, on_exchange=_each(hooks)
            )
        override = observation.extra.get("robots_override")
        await self._hold_lock()
        # A lost connection is waited out and the save tried again: safe, as a save that did
        # commit is refused the second time by the one-probe-per-period rule (resilience.py).
        if archive is not None and recorder is not None:
            stored = await self._retry("save a probe", lambda: archive.commit(
                recorder, observation, run_id=summary.run_id, period_key=key, scheduled_for=due,
                robots_override=override,
            ))  # fmt: skip
        else:
            stored = await self._retry("save a probe", lambda: self.store.save(
                observation, run_id=summary.run_id, period_key=key, scheduled_for=due,
                robots_override=override,
            ))  # fmt: skip
        if not stored:
            summary.skipped_periods += 1
            self._skipped_hook(item, due)
            return
        summary.probes += 1
        outcome = str(observation.outcome)
        summary.by_outcome[outcome] = summary.by_outcome.get(outcome, 0) + 1
        if self.on_observation is not None:
            self.on_observation(observation)
        if self.on_stored is not None:
            await self.on_stored(observation)


def _each(hooks: Sequence[Callable[[Exchange], None]]) -> Callable[[Exchange], None] | None:
    """One exchange hook that calls each of ``hooks`` (None when there are none)."""
    if not hooks:
        return None
    if len(hooks) == 1:
        return hooks[0]

    def call(exchange: Exchange) -> None:
        for hook in hooks:
            hook(exchange)

    return call
