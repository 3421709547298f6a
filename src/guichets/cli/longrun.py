"""``guichets run`` as a long-running service: reloads, site rebuilds, health and metrics.

The command in :mod:`guichets.cli.robot` reads its options and opens the store and the evidence;
this wires :class:`guichets.service.LongRun` to the terminal and the signals: SIGINT and SIGTERM
stop cleanly (the probes in flight finish), SIGHUP reloads the catalogue.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from guichets.alerts.service import Alerting, AlertOptions, chain
from guichets.catalogue import Catalogue, Service
from guichets.cli.alerts import report_failure
from guichets.cli.app import console, errors, fail
from guichets.clock import Clock
from guichets.evidence.screenshot import ProbeTimeScreenshots, Renderer, ScreenshotError
from guichets.health import Health
from guichets.http import HostGates
from guichets.metrics import RobotMetrics
from guichets.runner import Runner
from guichets.service import Endpoint, EndpointError, LongRun, Totals
from guichets.store import Store

__all__ = ["SiteOptions", "long_run"]


class SiteOptions:
    """Where and how often to rebuild the public site (``--site DIR --site-every 1h``)."""

    def __init__(self, out: Path, every: float, home: Path, db: str | None, catalogue: Path):
        self.out, self.every, self.home, self.db, self.catalogue = out, every, home, db, catalogue

    def build(self) -> object:
        """In the service's worker thread: a store of its own (SQLite connections stay in the
        thread that opened them), the catalogue as it is now on disk. The site's modules
        (Jinja2, pyarrow) are imported here, when a build is asked, not by every robot command."""
        from guichets.usecases.site import DEFAULT_CONTACT, build_site_of, data_catalogue

        with Store.open(self.db, home=self.home) as store:
            return build_site_of(
                store, self.home, catalogue=data_catalogue(self.catalogue, self.home),
                out=self.out, contact=DEFAULT_CONTACT,
            )  # fmt: skip


def _say(text: str) -> None:
    errors.print(text, highlight=False, soft_wrap=True, markup=False)


def long_run(
    catalogue_path: Path,
    loaded: Catalogue,
    make_runner: Callable[[Catalogue], Runner],
    clock: Clock,
    gates: HostGates,
    *,
    end: datetime | None,
    site: SiteOptions | None,
    endpoint: Endpoint | None,
    stall_after: float,
    shots: tuple[Path, Store] | None,
    alerts: tuple[Store, AlertOptions, Sequence[Service]] | None = None,
) -> Totals:
    """Run until stopped, ``end`` or a failure; print what was done."""
    metrics = RobotMetrics() if endpoint is not None else None
    service = LongRun(
        catalogue_path, loaded, make_runner, clock, gates,
        health=Health(clock, stall_after), metrics=metrics,
        build_site=site.build if site is not None else None,
        site_every=site.every if site is not None else 3600.0,
        endpoint=endpoint, say=_say,
    )  # fmt: skip
    try:
        totals = asyncio.run(_main(service, end, shots, alerts))
    except EndpointError as exc:  # the endpoint's address is taken or not ours
        raise fail(str(exc)) from exc
    for summary in totals.summaries:  # as `run --once` says it, one line per run
        counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.by_outcome.items()))
        console.print(f"run {summary.run_id}: {summary.probes} probes ({counts or 'none'})")
    console.print(
        f"{totals.probes} probes in {len(totals.runs)} run(s); {totals.reloads} reloads, "
        f"{totals.site_builds} site builds",
        highlight=False,
        soft_wrap=True,
    )
    return totals


async def _main(
    service: LongRun,
    end: datetime | None,
    shots: tuple[Path, Store] | None,
    alerts: tuple[Store, AlertOptions, Sequence[Service]] | None,
) -> Totals:
    """The alert rules after every stored probe, across reloads (over the services of the
    catalogue the service started with), then the run itself."""
    if alerts is None:
        return await _signalled(service, end, shots)
    store, options, services = alerts
    watch = Alerting.start(store, service.clock, options, services, report=report_failure)
    make = service.make_runner

    def alerting(catalogue: Catalogue) -> Runner:
        runner = make(catalogue)
        runner.on_stored = chain(watch.monitor.on_stored, runner.on_stored)
        return runner

    service.make_runner = alerting
    try:
        return await _signalled(service, end, shots)
    finally:
        await watch.close(drain=False)
        console.print(watch.summary(), highlight=False)


async def _signalled(
    service: LongRun, end: datetime | None, shots: tuple[Path, Store] | None
) -> Totals:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, service.stop)
    with contextlib.suppress(NotImplementedError, AttributeError):
        loop.add_signal_handler(signal.SIGHUP, service.reload)
    if shots is None:
        return await _with_progress(service, end)
    try:
        renderer = Renderer()
    except ScreenshotError as exc:
        raise fail(str(exc)) from exc
    async with renderer:
        taker = ProbeTimeScreenshots(*shots, renderer)
        make = service.make_runner

        def with_shots(catalogue: Catalogue) -> Runner:
            runner = make(catalogue)
            runner.on_stored = chain(runner.on_stored, taker)
            return runner

        service.make_runner = with_shots
        totals = await _with_progress(service, end)
    console.print(f"{taker.taken} screenshots in {shots[0] / 'evidence' / 'screenshots'}")
    for failure in taker.failed:
        errors.print(f"no screenshot for {failure}", highlight=False, soft_wrap=True)
    return totals


async def _with_progress(service: LongRun, end: datetime | None) -> Totals:
    columns = (TextColumn("{task.description}", markup=False), BarColumn(),
               TextColumn("{task.completed} probes"), TimeElapsedColumn())  # fmt: skip
    # A progress bar is for a person at a terminal; a service's log gets one line per probe.
    if not sys.stderr.isatty() and not console.is_terminal:
        service.on_observation = lambda obs: console.print(
            f"{obs.finished_at:%Y-%m-%dT%H:%M:%SZ} {obs.service}: {obs.outcome} ({obs.detail})",
            highlight=False, markup=False, soft_wrap=True,
        )  # fmt: skip
        return await service.run(until=end)
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("probing", total=None)
        service.on_observation = lambda obs: progress.update(
            task, advance=1, description=f"{obs.service}: {obs.outcome}"
        )
        return await service.run(until=end)
