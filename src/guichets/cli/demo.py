"""``guichets demo``: the robot against the bundled simulated prefectures."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from guichets import datadir
from guichets.cli.alerts import (
    AlertsConfigOption,
    NotifyOption,
    QuietHoursOption,
    SiteUrlOption,
    alert_options,
    report_failure,
)
from guichets.cli.app import DbOption, app, console, errors, fail
from guichets.cli.report import print_summary
from guichets.cli.site import serve_site
from guichets.model import Observation
from guichets.runlock import AlreadyRunning, LockRefused
from guichets.site.opendata_files import MonthsBusy
from guichets.site.publish import SiteBusy
from guichets.store import Store
from guichets.usecases.demo import DEMO_CADENCE, DEMO_SCENARIO, run_demo
from guichets.usecases.site import build_site_of, data_catalogue

DEMO_SCREENSHOTS = 1  # latest probes per service shown with their screenshot on the demo's site


@app.command()
def demo(
    days: Annotated[int, typer.Option(min=1, max=366, help="Simulated days to probe.")] = 30,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the simulated world (default: the scenario's).")
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Data directory to write (database, catalogue).")
    ] = datadir.DEFAULT_HOME,
    cadence: Annotated[
        str,
        typer.Option(help="Probe each service once per period, at a random instant: 30m, 1h, 3h…"),
    ] = DEMO_CADENCE,
    db: DbOption = None,
    site: Annotated[
        bool,
        typer.Option(
            "--site/--no-site", help="Build the public website of the demo into OUT/site."
        ),
    ] = True,
    serve: Annotated[
        bool,
        typer.Option("--serve/--no-serve", help="Serve the demo's website afterwards on loopback."),
    ] = True,
    port: Annotated[int, typer.Option(help="Port for serving the website afterwards.")] = 8765,
    evidence: Annotated[
        bool,
        typer.Option(
            "--evidence/--no-evidence",
            help="Archive every exchange under OUT/evidence (WARC, digests, ledger), like a run.",
        ),
    ] = True,
    assisted: Annotated[
        int,
        typer.Option(
            min=0,
            max=200,
            help="A scripted person makes N attempts through the assisted console, spread over "
            "the period, on the démarches behind a captcha (docs/human-assisted.md).",
        ),
    ] = 0,
    notify: NotifyOption = [],  # noqa: B006
    alerts_config: AlertsConfigOption = None,
    quiet_hours: QuietHoursOption = None,
    site_url: SiteUrlOption = None,
) -> None:
    """Run the robot over the france-demo scenario on a simulated clock.

    Starts the simulated prefectures in process (each site on its own loopback address), writes
    their catalogue to OUT/catalogue.toml, probes every service once per CADENCE period over DAYS
    simulated days (politely: one request per second per host, in simulated time), stores every
    observation and its evidence under OUT, prints a table per service, builds the public website
    into OUT/site and serves it on http://127.0.0.1:PORT/ until Ctrl-C. The default cadence,
    6h (four probes a day per service at random instants), keeps the demo near a minute; --cadence
    1h probes hourly like the original robot (several minutes).
    The alert rules run after every probe; --notify URL delivers them (e.g. json://127.0.0.1:PORT/).
    Afterwards:

      GUICHETS_HOME=OUT guichets report

      GUICHETS_HOME=OUT guichets alerts list
    """
    alerts = alert_options(notify, alerts_config, quiet_hours, site_url)
    started = time.perf_counter()
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed} probes"),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"{DEMO_SCENARIO}, {days} simulated days", total=None)

        def seen(obs: Observation) -> None:
            progress.update(task, advance=1, description=f"{obs.started_at:%Y-%m-%d %H:%M}")

        if assisted and not evidence:
            raise fail("--assisted keeps the attempts' evidence: drop --no-evidence")
        demo_run = run_demo(
            out, days=days, seed=seed, cadence=cadence, db_url=db, on_observation=seen,
            evidence=evidence, alerts=alerts, report=report_failure, assisted=assisted,
        )  # fmt: skip
        try:
            result = asyncio.run(demo_run)
        except (AlreadyRunning, LockRefused) as exc:
            raise fail(str(exc), 1) from exc
    elapsed = time.perf_counter() - started
    with Store.open(db, home=out) as store:
        print_summary(store.observations(since=result.start, until=result.end, assisted=False))
    console.print(
        f"{result.summary.probes} probes from {result.start:%Y-%m-%d} to {result.end:%Y-%m-%d} "
        f"in {elapsed:.0f} s; forbidden requests seen by the simulator: {result.forbidden}. "
        f"Data in {out}/ — GUICHETS_HOME={out} guichets report"
    )
    console.print(result.alerts + f" — GUICHETS_HOME={out} guichets alerts list", highlight=False)
    if not site:
        return
    shots = DEMO_SCREENSHOTS if evidence else 0
    with Store.open(db, home=out) as store:
        try:
            built = build_site_of(
                store, out, catalogue=data_catalogue(None, out), screenshots=shots,
                status=console.status, say=lambda text: console.print(text, highlight=False),
                note=lambda text: errors.print(text, highlight=False),
            )  # fmt: skip
        except (SiteBusy, MonthsBusy, LockRefused) as exc:  # another build of its data: no wait
            raise fail(str(exc), 1) from exc
    console.print(f"Website: {built.pages} pages in {built.out}/ in {built.seconds:.1f} s")
    if serve:
        serve_site(built.out, port=port)
