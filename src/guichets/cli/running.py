"""What ``guichets run`` prints while and after it runs; the run itself is wired in
:mod:`guichets.usecases.run`.

A progress bar for a person at a terminal, one line per probe for a service's log; a line per
run of the runner, the screenshots taken and those that failed, what the alerts did.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from guichets.alerts.service import Alerting, AlertOptions
from guichets.catalogue import Catalogue, Service
from guichets.cli.alerts import report_failure
from guichets.cli.app import console, errors, fail
from guichets.model import Observation
from guichets.runner import Runner, RunSummary
from guichets.service import Endpoint, EndpointError, Totals
from guichets.usecases.run import (
    RobotRun,
    SiteOptions,
    long_service,
    run_pass,
    run_service,
)

__all__ = ["long_run", "run_once"]

Observer = Callable[[Observation], None]


@contextlib.contextmanager
def _progress(total: int | None, *, log_lines: bool = False) -> Iterator[Observer]:
    """What to call after each probe: a progress bar, or (``log_lines``) one line per probe."""
    if log_lines:
        yield lambda obs: console.print(
            f"{obs.finished_at:%Y-%m-%dT%H:%M:%SZ} {obs.service}: {obs.outcome} ({obs.detail})",
            highlight=False, markup=False, soft_wrap=True,
        )  # fmt: skip
        return
    columns = (TextColumn("{task.description}", markup=False), BarColumn(),
               TextColumn("{task.completed} probes"), TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("probing", total=total)
        yield lambda obs: progress.update(
            task, advance=1, description=f"{obs.service}: {obs.outcome}"
        )


@contextlib.asynccontextmanager
async def _screenshots(run: RobotRun, wanted: bool) -> AsyncIterator[None]:
    """The run's screenshots when ``wanted``; afterwards, how many and which failed."""
    if not wanted:
        yield
        return
    from guichets.evidence.screenshot import ScreenshotError

    async with contextlib.AsyncExitStack() as stack:
        try:
            taker = await stack.enter_async_context(run.screenshots())
        except ScreenshotError as exc:
            raise fail(str(exc)) from exc
        yield
    console.print(f"{taker.taken} screenshots in {run.home / 'evidence' / 'screenshots'}")
    for failure in taker.failed:
        errors.print(f"no screenshot for {failure}", highlight=False, soft_wrap=True)


@contextlib.asynccontextmanager
async def _alerts(
    run: RobotRun, options: AlertOptions, services: Sequence[Service]
) -> AsyncIterator[None]:
    """The alert rules after every stored probe; afterwards, what they did (also after a
    failure)."""
    watch: Alerting | None = None
    try:
        async with run.alerting(options, services, report=report_failure, drain=False) as watch:
            yield
    finally:
        if watch is not None:
            console.print(watch.summary(), highlight=False)


def _say_run(summary: RunSummary) -> None:
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.by_outcome.items()))
    console.print(f"run {summary.run_id}: {summary.probes} probes ({counts or 'none'})")


async def run_once(
    run: RobotRun,
    runner_of: Callable[[], Runner],
    alerts: AlertOptions,
    services: Sequence[Service],
    *,
    screenshots: bool,
) -> None:
    """``guichets run --once``, with its progress bar and what it did."""
    async with _alerts(run, alerts, services), _screenshots(run, screenshots):
        with _progress(len(services)) as seen:
            summary = await run_pass(runner_of(), seen)
        _say_run(summary)


def _say(text: str) -> None:
    errors.print(text, highlight=False, soft_wrap=True, markup=False)


def long_run(
    run: RobotRun,
    catalogue_path: Path,
    loaded: Catalogue,
    make_runner: Callable[[Catalogue], Runner],
    *,
    end: datetime | None,
    site: SiteOptions | None,
    endpoint: Endpoint | None,
    stall_after: float,
    screenshots: bool,
    alerts: AlertOptions,
    services: Sequence[Service],
) -> None:
    """The long ``guichets run`` until stopped, ``end`` or a failure; print what was done."""
    service = long_service(
        run, catalogue_path, loaded, make_runner,
        site=site, endpoint=endpoint, stall_after=stall_after, say=_say,
    )  # fmt: skip

    async def main() -> Totals:
        async with _alerts(run, alerts, services), _screenshots(run, screenshots):
            # A progress bar is for a person at a terminal; a service's log gets a line a probe.
            lines = not sys.stderr.isatty() and not console.is_terminal
            with _progress(None, log_lines=lines) as seen:
                return await run_service(service, end, seen)

    try:
        totals = asyncio.run(main())
    except EndpointError as exc:  # the endpoint's address is taken or not ours
        raise fail(str(exc)) from exc
    for summary in totals.summaries:  # as `run --once` says it, one line per run
        _say_run(summary)
    console.print(
        f"{totals.probes} probes in {len(totals.runs)} run(s); {totals.reloads} reloads, "
        f"{totals.site_builds} site builds",
        highlight=False,
        soft_wrap=True,
    )
