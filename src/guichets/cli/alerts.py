"""``guichets alerts list`` and ``guichets alerts check``, and the alert options of run and demo."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from guichets.alerts.config import load_alerts_file
from guichets.alerts.delivery import QuietHours, check_url
from guichets.alerts.messages import CAUSES_FR, clean, instant_fr
from guichets.alerts.service import Alerting, AlertOptions, chain
from guichets.catalogue import Service
from guichets.cli.app import DbOption, HomeOption, app, console, errors, fail
from guichets.clock import Clock, SimulatedClock, SystemClock, parse_instant
from guichets.model import PARIS
from guichets.runner import Runner
from guichets.store.alerts import read_alerts
from guichets.store.outbox import read_outbox, retry_given_up
from guichets.tomlconfig import ConfigError
from guichets.untrusted import json_dumps

__all__ = [
    "AlertsConfigOption",
    "NotifyOption",
    "QuietHoursOption",
    "SiteUrlOption",
    "alert_options",
    "report_failure",
    "run_with_alerts",
]

alerts_app = typer.Typer(
    help="Alerts: a counter closed or reopened, the robot blind, a platform changed, probes "
    "stopped.",
    no_args_is_help=True,
)
app.add_typer(alerts_app, name="alerts")

NotifyOption = Annotated[
    list[str],
    typer.Option(
        "--notify",
        help="Deliver alerts to this Apprise URL (json://host:port/, mailto://…, and every other "
        "Apprise service). Repeatable.",
    ),
]
AlertsConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--alerts-config",
        help="TOML file: [notify] urls, quiet_hours, site_url, digest; [rules] thresholds "
        "(docs/alerts.md).",
        show_default=False,
    ),
]
QuietHoursOption = Annotated[
    str | None,
    typer.Option(
        "--quiet-hours",
        help="Paris hours when nothing is sent, e.g. 22:00-07:00; alerts wait until the end.",
        show_default=False,
    ),
]
SiteUrlOption = Annotated[
    str | None,
    typer.Option(
        "--site-url",
        help="Address of the published site, for the links in messages.",
        show_default=False,
    ),
]


def alert_options(
    notify: list[str], config: Path | None, quiet: str | None, site_url: str | None
) -> AlertOptions:
    """The alert options of a command line; a usage error exits 2 with what would be right."""
    options = AlertOptions()
    if config is not None:
        try:
            loaded = load_alerts_file(config)
        except ConfigError as exc:
            raise fail(str(exc)) from exc
        options.urls = list(loaded.notify.urls)
        options.site_url = loaded.notify.site_url
        options.rules = loaded.rules.rules()
        if loaded.notify.quiet_hours is not None:
            options.quiet = QuietHours.parse(loaded.notify.quiet_hours)
        options.digest = loaded.notify.digest
    options.urls += [url for url in notify if url not in options.urls]
    if quiet is not None:
        try:
            options.quiet = QuietHours.parse(quiet)
        except ValueError as exc:
            raise fail(f"--quiet-hours: {exc}") from exc
    if site_url is not None:
        options.site_url = site_url
    for url in options.urls:
        try:
            check_url(url)
        except ValueError as exc:
            raise fail(str(exc)) from exc
    return options


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        if len(text.strip()) == 10:  # a date: midnight in Paris
            day = date.fromisoformat(text.strip())
            return datetime.combine(day, time(0), PARIS).astimezone(UTC)
        return parse_instant(text)
    except ValueError as exc:
        raise fail(f"--since {text!r}: give a date (2026-10-01) or an instant") from exc


@alerts_app.command("list")
def list_command(
    open_only: Annotated[bool, typer.Option("--open", help="Only the alerts still open.")] = False,
    since: Annotated[
        str | None,
        typer.Option(help="Alerts open at or after this date (2026-10-01) or instant."),
    ] = None,
    service: Annotated[str | None, typer.Option(help="One service's alerts.")] = None,
    departement: Annotated[str | None, typer.Option(help="One département's alerts.")] = None,
    output: Annotated[
        str, typer.Option("--format", help="table or json (one object per alert, in a list).")
    ] = "table",
    home: HomeOption = None,
    db: DbOption = None,
) -> None:
    """The alerts stored by the runs: kind, cause, service, since when, until when, the probes
    and figures behind each."""
    if output not in ("table", "json"):
        raise fail(f"--format {output!r}: give table or json")
    from guichets.cli.report import open_store  # the report's modules, for this command only

    with open_store(home, db) as (store, _):
        found = read_alerts(
            store,
            open_only=open_only,
            since=_since(since),
            service=service,
            departement=departement,
        )
        waiting = len(read_outbox(store))
    if output == "json":
        typer.echo(json_dumps([a.to_json() for a in found], indent=1))
        return
    if waiting:
        errors.print(
            f"{waiting} message(s) in the outbox, not yet delivered: guichets alerts outbox",
            highlight=False,
        )
    if not found:
        console.print("no alert")
        return
    table = Table("kind", "cause", "service", "since (Paris)", "closed", "probes")
    for a in found:
        table.add_row(
            a.kind,
            clean(CAUSES_FR.get(a.cause, a.cause), 40),
            clean(a.subject, 60),
            instant_fr(a.since),
            "open" if a.closed_at is None else instant_fr(a.closed_at),
            str(a.figures.get("probes", a.figures.get("services", ""))),
        )
    console.print(table)


@alerts_app.command("outbox")
def outbox_command(
    retry: Annotated[
        bool,
        typer.Option(
            "--retry",
            help="Put the messages given up after their last retry back in the queue: the next "
            "run (or guichets alerts check --notify …) tries them again.",
        ),
    ] = False,
    output: Annotated[
        str, typer.Option("--format", help="table or json (one object per message, in a list).")
    ] = "table",
    home: HomeOption = None,
    db: DbOption = None,
) -> None:
    """The alert messages not yet delivered: held by quiet hours, waiting for a retry, or given
    up, each with its receiver (secrets masked), attempts and last error. A run sends what is
    due at start; nothing leaves the outbox but by being delivered."""
    if output not in ("table", "json"):
        raise fail(f"--format {output!r}: give table or json")
    from guichets.cli.report import open_store  # the report's modules, for this command only

    with open_store(home, db) as (store, _):
        if retry:
            again = retry_given_up(store, due=SystemClock().now())
            errors.print(f"{again} message(s) back in the queue", highlight=False)
        rows = read_outbox(store)
    if output == "json":
        typer.echo(json_dumps([r.to_json() for r in rows], indent=1))
        return
    if not rows:
        console.print("the outbox is empty: every message was delivered")
        return
    table = Table("state", "due (Paris)", "receiver", "title", "attempts", "last error")
    for r in rows:
        table.add_row(
            r.state,
            instant_fr(r.due),
            clean(r.target, 60),
            clean(r.title, 60),
            str(r.attempts),
            clean(r.last_error or "", 60),
        )
    console.print(table)


@alerts_app.command("check")
def check_command(
    catalogue: Annotated[
        Path | None,
        typer.Option(
            help="Catalogue giving each service's cadence [default: DATA/catalogue.toml].",
            show_default=False,
        ),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(help="Check as of this instant instead of now (replays, tests)."),
    ] = None,
    notify: NotifyOption = [],  # noqa: B006
    alerts_config: AlertsConfigOption = None,
    quiet_hours: QuietHoursOption = None,
    site_url: SiteUrlOption = None,
    home: HomeOption = None,
    db: DbOption = None,
) -> None:
    """The watchdog, for cron: opens a `stalled` alert for each service without a probe for two
    cadences (it works when the run itself died), and brings the alerts up to date with the
    stored probes. Exit code 1 when an alert is open, 0 otherwise."""
    options = alert_options(notify, alerts_config, quiet_hours, site_url)
    from guichets.cli.report import catalogue_of, open_store  # for this command only

    with open_store(home, db) as (store, folder):
        loaded = catalogue_of(catalogue, folder)
        services = [] if loaded is None else [s for s in loaded.services if s.enabled]
        if loaded is None:
            errors.print("note: no catalogue: stalled services cannot be told", highlight=False)
        clock: Clock = SystemClock() if at is None else SimulatedClock(parse_instant(at))

        async def check() -> int:
            watch = Alerting.start(store, clock, options, services, report=report_failure)
            try:
                watch.monitor.check(clock.now(), from_store=True)
            finally:
                await watch.close(drain=False)
            console.print(watch.summary(), highlight=False)
            return len(watch.monitor.engine.open_alerts())

        still_open = asyncio.run(check())
    if still_open:
        console.print(f"{still_open} alert(s) open: guichets alerts list --open", highlight=False)
        raise typer.Exit(1)


def report_failure(line: str) -> None:
    """A failed delivery, on stderr (never in the way of the probes)."""
    errors.print(line, highlight=False, soft_wrap=True, markup=False)


async def run_with_alerts(
    runner: Runner,
    options: AlertOptions,
    services: Sequence[Service],
    body: Coroutine[Any, Any, None],
) -> None:
    """Run ``body`` (the run's loop) with the alert rules after every stored probe and their
    delivery in the background; at the end, what is due is sent and the rest stays in the
    outbox for the next run."""
    watch = Alerting.start(runner.store, runner.clock, options, services, report=report_failure)
    runner.on_stored = chain(watch.monitor.on_stored, runner.on_stored)
    try:
        await body
    finally:
        await watch.close(drain=False)
        console.print(watch.summary(), highlight=False)
