"""The robot's commands: ``probe`` once, ``run`` a catalogue, ``catalogue check``."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from guichets.catalogue import Catalogue, check_report, load_catalogue
from guichets.cli.alerts import (
    AlertsConfigOption,
    NotifyOption,
    QuietHoursOption,
    SiteUrlOption,
    alert_options,
)
from guichets.cli.app import (
    DbOption,
    HomeOption,
    app,
    console,
    duration,
    fail,
    home_and_db,
    is_duration,
)
from guichets.cli.running import long_run, run_once
from guichets.clock import SystemClock, parse_instant
from guichets.health import DEFAULT_STALL_AFTER
from guichets.http import DEFAULT_USER_AGENT, HostGates, Politeness
from guichets.model import Observation
from guichets.platforms import READERS, Target, reader_for
from guichets.probe import ProbeSpec, run_probe
from guichets.resilience import DB_PATIENCE, DiskFull, disk_message
from guichets.runlock import AlreadyRunning, LockRefused
from guichets.runner import Runner
from guichets.schedule import Plan
from guichets.service import parse_endpoint
from guichets.store import Store, StoreError
from guichets.tomlconfig import ConfigError
from guichets.untrusted import json_dumps
from guichets.usecases.run import EvidenceUnwritable, SiteOptions, open_run

catalogue_app = typer.Typer(
    help="Catalogues of services to probe: check, coverage, add rows from a URL, verify rows live.",
    no_args_is_help=True,
)
app.add_typer(catalogue_app, name="catalogue")


def _politeness(
    gap: float, timeout: float, user_agent: str | None, ignore: list[str]
) -> Politeness:
    overrides: dict[str, str] = {}
    for item in ignore:
        host, _, reason = item.partition("=")
        if not host or not reason.strip():
            raise fail(
                f"--ignore-robots-for {item!r}: give HOST=REASON, e.g. "
                "'127.0.0.1:8765=local test server'; the reason is recorded with every probe"
            )
        overrides[host] = reason.strip()
    if gap < 0 or timeout <= 0:
        raise fail("--gap must be >= 0 and --timeout > 0 (seconds)")
    return Politeness(
        user_agent=user_agent or DEFAULT_USER_AGENT,
        min_gap=gap,
        timeout=timeout,
        robots_overrides=overrides,
    )


GapOption = Annotated[
    float,
    typer.Option(help="Seconds between two requests to one host (lower it only for local tests)."),
]
TimeoutOption = Annotated[float, typer.Option(help="Seconds allowed per request.")]
AgentOption = Annotated[
    str | None,
    typer.Option(
        "--user-agent", help="Identifying User-Agent with a contact URL [default: guichets/…]."
    ),
]
IgnoreRobotsOption = Annotated[
    list[str],
    typer.Option(
        "--ignore-robots-for",
        help="HOST=REASON: do not obey robots.txt for that host (host as in the URL, with :port); "
        "the override and its reason are recorded with every probe. Repeatable.",
    ),
]


@app.command()
def probe(
    url: Annotated[
        str,
        typer.Argument(help="The booking URL, e.g. https://www.isere.gouv.fr/booking/create/4129"),
    ],
    platform: Annotated[
        str, typer.Option(help=f"Booking platform: {', '.join(sorted(READERS))}.")
    ] = "ezbooking",
    planning: Annotated[
        str | None, typer.Option(help="Counter to probe (default: the first one offered).")
    ] = None,
    horizon_days: Annotated[
        int, typer.Option(min=1, max=366, help="How far ahead to look for slots.")
    ] = 91,
    gap: GapOption = 1.0,
    timeout: TimeoutOption = 20.0,
    user_agent: AgentOption = None,
    ignore_robots_for: IgnoreRobotsOption = [],  # noqa: B006
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Probe one booking URL once, like a person, and say what was found.

    Walks the platform's path up to the page that shows availability and reads it; never books.
    Exits 0 whatever the outcome (available, unavailable, barrier, site_error, unrecognized);
    2 for a usage error. Nothing is stored.

    Example: guichets probe http://127.0.0.1:8765/isere/booking/create/4129 --gap 0 --json
    """
    try:
        reader = reader_for(platform)
        reader.check_url(url)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    if planning is not None and not planning.isdigit():
        raise fail(f"--planning {planning!r}: a counter id is a number, e.g. --planning 14202")
    politeness = _politeness(gap, timeout, user_agent, ignore_robots_for)
    spec = ProbeSpec(service="adhoc", platform=platform, target=Target(url, planning, horizon_days))
    clock = SystemClock()
    observation = asyncio.run(run_probe(spec, HostGates(clock, politeness), clock))
    if as_json:
        typer.echo(json_dumps(observation.to_json()))
        return
    _print_observation(observation)


def _print_observation(obs: Observation) -> None:
    console.print(Text(str(obs.outcome), style="bold"), f"({obs.detail}) — {obs.message}")
    if obs.counter:
        console.print(f"counter: {obs.counter}")
    if obs.slots:
        console.print("first slots: " + ", ".join(f"{s:%Y-%m-%d %H:%M}" for s in obs.slots[:2]))
    console.print(
        f"category: {obs.category or '-'}   requests: {obs.requests}   "
        f"horizon: {obs.horizon_end:%Y-%m-%d}" if obs.horizon_end else
        f"category: {obs.category or '-'}   requests: {obs.requests}"
    )  # fmt: skip


@catalogue_app.command("check")
def catalogue_check(
    file: Annotated[Path, typer.Argument(help="The catalogue TOML file.")],
) -> None:
    """Validate a catalogue: exit 0 when it is sound, 2 with every problem and its line."""
    code, text = check_report(file)
    if code:
        raise fail(text, code)
    console.print(text, highlight=False)


def _seconds(text: str, option: str) -> float:
    """A positive duration (``cli.app.duration``'s spelling: ASCII digits and a unit)."""
    seconds = duration(text, option)
    if seconds > 0:
        return seconds
    raise fail(f"{option} {text!r}: give a duration such as 30m, 1h or 1d")


def _until(text: str | None, now: datetime) -> datetime | None:
    """An instant, or a duration from ``now`` (``cli.app.duration``'s spelling)."""
    if text is None:
        return None
    if is_duration(text):
        return now + timedelta(seconds=duration(text, "--until"))
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise fail(f"--until {text!r}: give an instant (2026-12-01T00:00:00+01:00) or a "
                   "duration (90m, 12h, 30d)") from exc  # fmt: skip


@app.command()
def run(
    catalogue: Annotated[Path, typer.Option(help="The catalogue TOML file of services to probe.")],
    home: HomeOption = None,
    db: DbOption = None,
    once: Annotated[
        bool, typer.Option("--once", help="Probe every service once, then stop.")
    ] = False,
    until: Annotated[
        str | None, typer.Option(help="Stop at this instant or after this duration (e.g. 24h).")
    ] = None,
    gap: GapOption = 1.0,
    timeout: TimeoutOption = 20.0,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Hosts probed at once.")] = 4,
    seed: Annotated[int, typer.Option(help="Seed of the random probe instants.")] = 0,
    plan: Annotated[
        Plan,
        typer.Option(
            help="'random': a random instant in each period; 'fixed': the same minute every period."
        ),
    ] = Plan.RANDOM,
    user_agent: AgentOption = None,
    ignore_robots_for: IgnoreRobotsOption = [],  # noqa: B006
    evidence: Annotated[
        bool,
        typer.Option(
            "--evidence/--no-evidence",
            help="Archive every request and response (WARC, digests, ledger) under HOME/evidence.",
        ),
    ] = True,
    db_patience: Annotated[
        float,
        typer.Option(
            min=0,
            help="Seconds a lost database connection is waited for (saves are tried again) "
            "before the run stops with an error.",
        ),
    ] = DB_PATIENCE,
    screenshots: Annotated[
        bool,
        typer.Option(
            "--screenshots",
            help="After each probe, render its archived page to HOME/evidence/screenshots "
            "(headless Chromium).",
        ),
    ] = False,
    site: Annotated[
        Path | None,
        typer.Option(help="Rebuild the public site and open data into this folder as probes come."),
    ] = None,
    site_every: Annotated[
        str, typer.Option(help="How often the site is rebuilt when probes came (30m, 1h, 1d).")
    ] = "1h",
    metrics: Annotated[
        str | None,
        typer.Option(
            help="Serve GET /healthz and GET /metrics (Prometheus) on HOST:PORT, e.g. "
            "127.0.0.1:9108."
        ),
    ] = None,
    stall_after: Annotated[
        float,
        typer.Option(min=1.0, help="Seconds a due probe may be late before /healthz answers 503."),
    ] = DEFAULT_STALL_AFTER,
    notify: NotifyOption = [],  # noqa: B006
    alerts_config: AlertsConfigOption = None,
    quiet_hours: QuietHoursOption = None,
    site_url: SiteUrlOption = None,
) -> None:
    """Probe every service of a catalogue at its cadence and store each observation.

    Each service is probed once per period of its cadence, at a random instant within it. A
    restart goes on where the last run stopped: no period is probed twice. Ctrl-C or SIGTERM lets
    the probes in flight finish and stops cleanly; SIGHUP reloads the catalogue (a catalogue with
    problems is refused and the old one kept, with the problems said). With --site, the public
    site and its open data are rebuilt every --site-every when probes came, and once more when a
    run ends as asked. With --metrics, GET /healthz answers 200 while probes are made on time and
    503 with why otherwise; GET /metrics is in the Prometheus text format.
    The alert rules run after every stored probe (`guichets alerts list`); --notify delivers them
    (docs/alerts.md).
    """
    if once and until:
        raise fail("give --once or --until, not both")
    if once and (site is not None or metrics is not None):
        raise fail("--site and --metrics belong to a long run: leave out --once")
    try:
        endpoint = parse_endpoint(metrics) if metrics is not None else None
    except ValueError as exc:
        raise fail(f"--metrics {exc}") from exc
    every = _seconds(site_every, "--site-every")
    if screenshots and not evidence:
        raise fail("--screenshots renders the archived pages: it needs --evidence")
    try:
        loaded = load_catalogue(catalogue)
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    politeness = _politeness(gap, timeout, user_agent, ignore_robots_for)
    alerts = alert_options(notify, alerts_config, quiet_hours, site_url)
    folder, url = home_and_db(home, db)
    clock = SystemClock()
    end = _until(until, clock.now())
    services = [s for s in loaded.services if s.enabled]
    try:
        store = Store.open(url, home=folder)
    except StoreError as exc:
        raise fail(str(exc)) from exc
    with store:
        try:
            with open_run(folder, store, clock, politeness, evidence=evidence) as robot:
                recovery = robot.archive.recovery if robot.archive is not None else None
                for line in recovery.lines() if recovery else []:
                    console.print(f"evidence: {line}", highlight=False, soft_wrap=True)

                def make_runner(chosen: Catalogue) -> Runner:
                    return robot.runner(
                        [s for s in chosen.services if s.enabled], catalogue_digest=chosen.digest,
                        command="run", seed=seed, plan=plan, concurrency=concurrency,
                        db_patience=db_patience,
                    )  # fmt: skip

                if once:
                    asyncio.run(
                        run_once(robot, lambda: make_runner(loaded), alerts, services,
                                 screenshots=screenshots)
                    )  # fmt: skip
                else:
                    options = (
                        None if site is None else SiteOptions(site, every, folder, url, catalogue)
                    )
                    long_run(
                        robot, catalogue, loaded, make_runner, end=end, site=options,
                        endpoint=endpoint, stall_after=stall_after, screenshots=screenshots,
                        alerts=alerts, services=services,
                    )  # fmt: skip
        except (AlreadyRunning, LockRefused) as exc:
            raise fail(str(exc), 1) from exc
        except EvidenceUnwritable as exc:
            raise fail(str(exc)) from exc
        except StoreError as exc:  # the database went away and did not come back, say
            raise fail(str(exc).splitlines()[0], 1) from exc
        except OSError as exc:  # a full disk, say: the archive names the path
            raise fail(
                str(exc) if isinstance(exc, DiskFull) else disk_message(exc, folder), 1
            ) from exc
        console.print(f"{store.count()} probes stored in {store.url}")
