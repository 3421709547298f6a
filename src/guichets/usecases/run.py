"""A run of the robot, wired once: the run lock, the evidence, the polite session's gates, the
alerts and the screenshots after each stored probe, the runner, and the long-running service.

``guichets run`` (one pass or a long run), ``guichets demo`` and the tests call this; the command
line keeps its options and its printing. The order is the robot's promise: the run lock first
(before the evidence's recovery, which must never touch a running run's files), then the
evidence, then the hooks after each stored probe (the alert rules, then the screenshot of the
archived page), then the runner, whose every probe and save first checks the run lock.

The workers (``guichets worker``) wire a probe their own way, in :mod:`guichets.workers.worker`:
they sit below the use cases, hold leases in the shared book instead of the run lock, and take no
screenshots.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from guichets.alerts.service import Alerting, AlertOptions, StoredHook, chain
from guichets.catalogue import Catalogue, Service
from guichets.clock import Clock
from guichets.evidence.archive import EvidenceArchive
from guichets.health import Health
from guichets.http import Exchange, HostGates, Politeness
from guichets.model import Observation
from guichets.runlock import RunLock, run_lock
from guichets.runner import Runner, RunSummary, from_catalogue
from guichets.schedule import Plan
from guichets.service import Endpoint, LongRun, Totals
from guichets.store import Store

if TYPE_CHECKING:
    from guichets.evidence.screenshot import ProbeTimeScreenshots

log = logging.getLogger(__name__)

__all__ = [
    "EvidenceUnwritable",
    "RobotRun",
    "SiteOptions",
    "long_service",
    "open_run",
    "run_pass",
    "run_service",
    "stop_on_signals",
]


class EvidenceUnwritable(Exception):
    """The evidence folder cannot be written: nothing is probed without its records."""


@dataclass
class RobotRun:
    """What a run holds while it lasts (opened by :func:`open_run`)."""

    home: Path
    store: Store
    clock: Clock
    gates: HostGates  # one for all runners: politeness outlives a reload
    lock: RunLock
    archive: EvidenceArchive | None
    hooks: list[StoredHook] = field(default_factory=list)  # after each stored probe, in order

    def runner(
        self,
        services: Sequence[Service],
        *,
        catalogue_digest: str | None,
        command: str,
        seed: int,
        plan: Plan,
        concurrency: int,
        db_patience: float | None = None,
        on_observation: Callable[[Observation], None] | None = None,
        on_exchange: Callable[[Exchange], None] | None = None,
    ) -> Runner:
        """A runner over ``services`` with this run's store, gates, evidence and hooks, checking
        the run lock before each probe, each save and at each heartbeat."""
        runner = Runner(
            from_catalogue(services), self.store, self.clock, self.gates, seed=seed, plan=plan,
            concurrency=concurrency, on_exchange=on_exchange, on_observation=on_observation,
            command=command, catalogue_digest=catalogue_digest, evidence=self.archive,
            on_stored=chain(*self.hooks),
        )  # fmt: skip
        if db_patience is not None:
            runner.db_patience = db_patience
        runner.lock_check = self.lock.check
        return runner

    @contextlib.asynccontextmanager
    async def alerting(
        self,
        options: AlertOptions,
        services: Sequence[Service],
        *,
        report: Callable[[str], None] | None,
        drain: bool,
    ) -> AsyncIterator[Alerting]:
        """The alert rules after every stored probe of the runners made inside, their delivery
        in the background; at the end what is due is sent and the rest stays in the store's
        outbox for the next run, or (``drain``, simulated clocks) every retry runs out."""
        watch = Alerting.start(self.store, self.clock, options, services, report=report)
        self.hooks.append(watch.monitor.on_stored)
        try:
            yield watch
        finally:
            self.hooks.remove(watch.monitor.on_stored)
            await watch.close(drain=drain)

    @contextlib.asynccontextmanager
    async def screenshots(self) -> AsyncIterator[ProbeTimeScreenshots]:
        """One browser for the whole run, a screenshot of each stored probe's archived page
        under HOME/evidence/screenshots. ScreenshotError when no browser can be started."""
        from guichets.evidence.screenshot import ProbeTimeScreenshots, Renderer

        renderer = Renderer()
        async with renderer:
            taker = ProbeTimeScreenshots(self.home, self.store, renderer)
            self.hooks.append(taker)
            try:
                yield taker
            finally:
                self.hooks.remove(taker)


@contextlib.contextmanager
def open_run(
    home: Path, store: Store, clock: Clock, politeness: Politeness, *, evidence: bool
) -> Iterator[RobotRun]:
    """Take the run lock on ``home`` (and the database), then open the evidence archive.
    AlreadyRunning when another run holds either; EvidenceUnwritable when the evidence cannot be
    written."""
    with contextlib.ExitStack() as stack:
        lock = stack.enter_context(run_lock(home, store))
        archive = None
        if evidence:
            info = {"http-header-user-agent": politeness.user_agent}
            try:
                archive = EvidenceArchive(home, store, clock, info=info).__enter__()
            except OSError as exc:
                raise EvidenceUnwritable(
                    f"cannot write the evidence under {home}/evidence: {exc}"
                ) from exc
            stack.push(_closing(archive))
        yield RobotRun(home, store, clock, HostGates(clock, politeness), lock, archive)


def _closing(archive: EvidenceArchive) -> Callable[..., bool]:
    """The archive's exit: after a failure of the run (the database gone, the disk full), the
    run's own error is the one said; a current file that cannot be closed then is only logged,
    and the next start's recovery closes it."""

    def close(exc_type: object, exc: BaseException | None, tb: object) -> bool:
        if exc is None:
            archive.close()
            return False
        try:
            archive.close()
        except Exception as error:
            log.info("the evidence file could not be closed after %s: %s", exc, error)
        return False

    return close


class SiteOptions:
    """Where and how often to rebuild the public site (``--site DIR --site-every 1h``)."""

    def __init__(self, out: Path, every: float, home: Path, db: str | None, catalogue: Path):
        self.out, self.every, self.home, self.db, self.catalogue = out, every, home, db, catalogue

    def build(self) -> object:
        """In the service's worker thread: a store of its own (SQLite connections stay in the
        thread that opened them), the catalogue as it is now on disk. The site's modules
        (Jinja2, pyarrow) are imported here, when a build is asked, not by every robot command."""
        from guichets.site.opendata_files import preload
        from guichets.usecases.site import DEFAULT_CONTACT, build_site_of, data_catalogue

        preload()  # once in this process: each build's month files' process shares it
        with Store.open(self.db, home=self.home) as store:
            return build_site_of(
                store, self.home, catalogue=data_catalogue(self.catalogue, self.home),
                out=self.out, contact=DEFAULT_CONTACT,
            )  # fmt: skip


def long_service(
    run: RobotRun,
    catalogue_path: Path,
    loaded: Catalogue,
    make_runner: Callable[[Catalogue], Runner],
    *,
    site: SiteOptions | None,
    endpoint: Endpoint | None,
    stall_after: float,
    say: Callable[[str], None],
) -> LongRun:
    """The long-running ``guichets run``: reloads, site rebuilds, ``/healthz`` and
    ``/metrics`` when an endpoint is given (prometheus_client is imported only then)."""
    metrics = None
    if endpoint is not None:
        from guichets.metrics import RobotMetrics

        metrics = RobotMetrics()
    return LongRun(
        catalogue_path, loaded, make_runner, run.clock, run.gates,
        health=Health(run.clock, stall_after), metrics=metrics,
        build_site=site.build if site is not None else None,
        site_every=site.every if site is not None else 3600.0,
        endpoint=endpoint, say=say,
    )  # fmt: skip


def stop_on_signals(stop: Callable[[], object], reload: Callable[[], object] | None = None) -> None:
    """SIGINT and SIGTERM stop cleanly (the probes in flight finish); SIGHUP reloads. Call
    from the running event loop."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop)
    if reload is not None:
        with contextlib.suppress(NotImplementedError, AttributeError):
            loop.add_signal_handler(signal.SIGHUP, reload)


async def run_pass(
    runner: Runner, on_observation: Callable[[Observation], None] | None
) -> RunSummary:
    """``guichets run --once``: every service whose current period has no probe, once."""
    stop_on_signals(runner.stop.set)
    runner.on_observation = on_observation
    return await runner.run(once=True)


async def run_service(
    service: LongRun,
    end: datetime | None,
    on_observation: Callable[[Observation], None] | None,
) -> Totals:
    """The long run until stopped, ``end`` or a failure."""
    stop_on_signals(service.stop, service.reload)
    service.on_observation = on_observation
    return await service.run(until=end)
