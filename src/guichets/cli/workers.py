"""Several machines: ``schedule`` defers the periods ahead, ``worker`` takes the due ones,
``workers status`` and ``workers agreement`` say what became of them (docs/deploy.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from guichets.catalogue import load_catalogue
from guichets.cli.app import (
    DbOption,
    HomeOption,
    app,
    console,
    duration,
    errors,
    fail,
    home_and_db,
)
from guichets.cli.robot import AgentOption, GapOption, IgnoreRobotsOption, TimeoutOption
from guichets.cli.robot import _politeness as politeness_of
from guichets.clock import SystemClock
from guichets.runner import from_catalogue
from guichets.schedule import Plan
from guichets.store import Store, StoreError
from guichets.tomlconfig import ConfigError
from guichets.untrusted import json_dumps

workers_app = typer.Typer(
    help="What the workers of the shared schedule did: periods, vantage points.",
    no_args_is_help=True,
)
app.add_typer(workers_app, name="workers")


def _postgres(db: str | None) -> str:
    if not db:
        raise fail(
            "the shared schedule lives in PostgreSQL: give --db postgresql://user@host/db or set "
            "GUICHETS_DB (the single-machine `guichets run` works on SQLite)"
        )
    from guichets.workers.db import NotPostgres, conninfo

    try:
        conninfo(db)
    except NotPostgres as exc:
        raise fail(str(exc)) from exc
    return db


def _open(db: str) -> Store:
    try:
        return Store.open(db)
    except StoreError as exc:
        raise fail(str(exc)) from exc


@app.command()
def schedule(
    catalogue: Annotated[Path, typer.Option(help="The catalogue TOML file of services to probe.")],
    db: DbOption = None,
    ahead: Annotated[
        str, typer.Option(help="Defer the periods that start within this duration (e.g. 24h).")
    ] = "24h",
    seed: Annotated[int, typer.Option(help="Seed of the random probe instants.")] = 0,
    plan: Annotated[
        Plan,
        typer.Option(
            help="'random': a random instant in each period; 'fixed': the same minute every period."
        ),
    ] = Plan.RANDOM,
    replicate: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Share of periods also probed from a second vantage point (stored as "
            "replicates, never counted in the figures), e.g. 0.05.",
        ),
    ] = 0.0,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch", help="Keep deferring: again every quarter of --ahead, until Ctrl-C."
        ),
    ] = False,
) -> None:
    """Defer one job per service and period of a catalogue, for the workers to take.

    Each job is due at its period's random instant (the same instants as `guichets run`). A
    period already deferred is left alone, so running it again (from cron, or from two machines)
    never defers a period twice. PostgreSQL only: the database the data lives in.

    Example: guichets schedule --catalogue catalogue.toml --db postgresql://guichets@db/guichets
    """
    url = _postgres(db)
    try:
        loaded = load_catalogue(catalogue)
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    window = timedelta(seconds=duration(ahead, "--ahead"))
    services = from_catalogue([s for s in loaded.services if s.enabled])
    from guichets.workers.scheduler import schedule as defer_ahead

    _open(url).close()  # brings the schema to head
    clock = SystemClock()
    while True:
        result = asyncio.run(
            defer_ahead(url, services, now=clock.now(), ahead=window, seed=seed, plan=plan,
                        replicate=replicate)
        )  # fmt: skip
        console.print(
            f"{result.periods} periods within {ahead}: {result.deferred} jobs deferred now "
            f"({result.replicates} replicates), the others were already", highlight=False
        )  # fmt: skip
        if not watch:
            return
        try:
            asyncio.run(asyncio.sleep(window.total_seconds() / 4))
        except KeyboardInterrupt:
            return


@app.command()
def worker(
    db: DbOption = None,
    home: HomeOption = None,
    name: Annotated[
        str | None,
        typer.Option(help="This worker's name, unique among live workers [default: host name]."),
    ] = None,
    vantage: Annotated[
        str | None,
        typer.Option(
            help="Where this worker probes from, e.g. 'paris-fibre' or 'ovh-gra' "
            "[default: its name]."
        ),
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Probes at once.")] = 4,
    gap: GapOption = 1.0,
    timeout: TimeoutOption = 20.0,
    user_agent: AgentOption = None,
    ignore_robots_for: IgnoreRobotsOption = [],  # noqa: B006
    evidence: Annotated[
        bool,
        typer.Option(
            "--evidence/--no-evidence",
            help="Archive every exchange under HOME/evidence/warc/workers/NAME (HOME shared by "
            "every machine).",
        ),
    ] = True,
    heartbeat: Annotated[
        float, typer.Option(min=0.1, help="Seconds between two renewals of its leases.")
    ] = 10.0,
    lease: Annotated[
        float,
        typer.Option(
            min=1.0,
            help="Seconds without a heartbeat after which its periods go to other workers.",
        ),
    ] = 60.0,
    poll: Annotated[
        float, typer.Option(min=0.05, help="Seconds between looks at the queue.")
    ] = 2.0,
) -> None:
    """Take the due jobs of the shared schedule and probe them, until Ctrl-C (or SIGTERM).

    Same probe, same politeness as `guichets run`, and the politeness holds for all workers
    together: one request at a time per host and the gap, Retry-After and the circuit breaker
    are shared through the database. A worker that loses the database stops probing, says so
    and exits 1; its periods go back to the other workers when its lease ends.

    Example: guichets worker --db postgresql://guichets@db/guichets --home /mnt/evidence
    --name gra-1 --vantage ovh-gra
    """
    url = _postgres(db)
    if heartbeat * 2 > lease:
        raise fail("--lease must be at least twice --heartbeat, or live workers lose their leases")
    politeness = politeness_of(gap, timeout, user_agent, ignore_robots_for)
    folder, _ = home_and_db(home, None)
    label = name or socket.gethostname()
    if not label or "/" in label or label.startswith("."):
        raise fail(f"--name {label!r}: a worker's name is also its evidence folder's")
    from guichets.workers.book import NameTaken
    from guichets.workers.worker import Worker, WorkerConfig

    config = WorkerConfig(
        url=url, home=folder, name=label, vantage=vantage or label, concurrency=concurrency,
        politeness=politeness, evidence=evidence, heartbeat=heartbeat, lease=lease, poll=poll,
    )  # fmt: skip
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    runner = Worker(config, on_event=lambda text: errors.print(text, highlight=False))

    def consequence(record: logging.LogRecord) -> bool:
        """The libraries' complaints in one line each (no traceback: a lost connection is not a
        bug); once the worker has said it lost the database, none (consequences, not news)."""
        if not record.name.startswith(("procrastinate", "psycopg", "asyncio")):
            return True
        record.exc_info, record.exc_text = None, None
        return runner.summary.failure is None

    for handler in logging.getLogger().handlers:
        handler.addFilter(consequence)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, runner.stop.set)
        await runner.run()

    console.print(
        f"worker {label} (vantage {config.vantage}, pid {os.getpid()}) on {url.split('@')[-1]}",
        highlight=False,
    )
    try:
        asyncio.run(main())
    except NameTaken as exc:
        raise fail(str(exc)) from exc
    summary = runner.summary
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.by_outcome.items()))
    console.print(
        f"worker {label}: {summary.probes} probes ({counts or 'none'}), {summary.replicates} "
        f"replicates, {summary.skipped} jobs skipped, {summary.given_back} periods given back, "
        f"{summary.lost} recorded as lost",
        highlight=False,
    )
    if summary.failure is not None:
        raise fail(f"worker {label}: {summary.failure}", 1)


@workers_app.command("status")
def status(
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Workers (heartbeat, stopped, why) and the periods of the book by state."""
    url = _postgres(db)
    store = _open(url)
    from guichets.workers.report import book_status

    with store:
        found = book_status(store)
    if as_json:
        typer.echo(json_dumps(found, indent=2))
        return
    for item in found["workers"]:
        state = (
            f"stopped {item['stopped_at']} ({item['stop_reason']})"
            if item["stopped_at"]
            else f"heartbeat {item['heartbeat_at']}"
        )
        console.print(f"{item['name']} [{item['vantage']}] on {item['hostname']}: {state}",
                      highlight=False)  # fmt: skip
    states = ", ".join(f"{k} {v}" for k, v in sorted(found["periods"].items()))
    console.print(f"periods: {states or 'none'}", highlight=False)
    for lost in found["lost"][:20]:
        console.print(f"lost {lost['service']} {lost['period_key']} ({lost['role']}): "
                      f"{lost['note']}", highlight=False, soft_wrap=True)  # fmt: skip


@workers_app.command("agreement")
def agreement(
    db: DbOption = None,
    home: HomeOption = None,
    since: Annotated[
        str | None, typer.Option("--from", help="First day (YYYY-MM-DD, Paris).")
    ] = None,
    until: Annotated[str | None, typer.Option("--to", help="Last day (YYYY-MM-DD, Paris).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """How often two vantage points that probed the same period found the same thing.

    Each replicate is compared with its period's first probe: same outcome, same category; the
    pairs where one vantage point met a barrier and the other read the page are listed (a robot
    blocked there, not a site down).
    """
    folder, url = home_and_db(home, db)
    try:
        store = Store.open(url, home=folder)
    except StoreError as exc:
        raise fail(str(exc)) from exc
    from guichets.periods import DateRange, parse_day
    from guichets.workers.report import agreement as agreement_of

    days = None
    if since is not None or until is not None:
        try:
            first = parse_day(since) if since else parse_day("2000-01-01")
            last = parse_day(until) if until else parse_day("2999-12-31")
            days = DateRange(first, last)
        except ValueError as exc:
            raise fail(f"--from/--to: {exc}") from exc
    with store:
        found = agreement_of(store, days)
    if as_json:
        typer.echo(json_dumps(found, indent=2))
        return
    console.print(
        f"{found['pairs']} pairs of probes of one period from two vantage points: "
        f"{found['same_outcome']} with the same outcome ({_share(found['outcome_agreement'])}), "
        f"{found['same_category']} with the same category among valid pairs "
        f"({_share(found['category_agreement'])})",
        highlight=False,
    )
    for pair in found["vantage_barriers"][:30]:
        console.print(
            f"{pair['service']} {pair['period_key']}: bloqué depuis {pair['blocked_from']}, "
            f"lu depuis {pair['read_from']}",
            highlight=False,
        )


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
