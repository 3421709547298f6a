"""The ``guichets`` command line: arguments in, calls, output. The work lives in the modules."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from guichets import __version__
from guichets.clock import Clock, ScaledClock, SimulatedClock, SystemClock, parse_instant
from guichets.simulator import ScenarioConfig, Simulator, World, load_scenario
from guichets.simulator.groundtruth import share_without_slot
from guichets.tomlconfig import ConfigError

app = typer.Typer(
    name="guichets",
    help=(
        "Observatory of access to French prefecture counters through online booking.\n\n"
        "A robot walks a person's path on booking sites up to the page that shows availability, "
        "never books, and records what it saw. Everything can be tried offline against the "
        "bundled simulator:\n\n"
        "  guichets simulate --scenario france-demo --port 8765\n\n"
        "  guichets demo --days 30"
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True)


class ClockKind(StrEnum):
    frozen = "frozen"
    system = "system"


class HostKind(StrEnum):
    path = "path"
    loopback = "loopback"


def _version(value: bool) -> None:
    if value:
        console.print(f"guichets {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Observatory of access to prefecture counters through online booking."""


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a usage or input error on stderr; the caller raises what this returns."""
    errors.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def _load(scenario: str) -> ScenarioConfig:
    try:
        return load_scenario(scenario)
    except ConfigError as exc:
        raise fail(str(exc)) from exc


def _parse_start(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise fail(f"--start: {exc}") from exc


@app.command()
def simulate(
    scenario: Annotated[
        str,
        typer.Option(help="A bundled scenario name (france-demo) or the path of a scenario TOML."),
    ] = "france-demo",
    host: Annotated[str, typer.Option(help="Loopback address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).")] = 8765,
    hosts: Annotated[
        HostKind,
        typer.Option(
            help="'path': every site under http://HOST:PORT/{site}/ ; 'loopback': each site at "
            "the root of its own loopback address (127.1.0.N:PORT), as separate hosts."
        ),
    ] = HostKind.path,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the ground truth (default: the scenario's).")
    ] = None,
    clock: Annotated[
        ClockKind,
        typer.Option(
            help="'frozen': simulated time that moves only by POST /_clock (or --speed); "
            "'system': the machine's clock."
        ),
    ] = ClockKind.frozen,
    start: Annotated[
        str | None,
        typer.Option(
            help="Simulated start instant, ISO 8601 with offset (default: the scenario's start)."
        ),
    ] = None,
    speed: Annotated[
        float | None,
        typer.Option(
            help="Run simulated time this many times faster than the wall clock "
            "(2592000 = a month per second)."
        ),
    ] = None,
) -> None:
    """Serve simulated prefecture booking sites on loopback, with their ground truth.

    Every site of the scenario is served as the real booking module serves it (steps 0-4, the
    eZSESSID session, the AJAX week grid, error pages). Beside the sites:

    [bold]GET /_sites[/]                      the sites and the booking URL of every service

    [bold]GET /_truth[/]                      every service, its URL and counters

    [bold]GET /_truth/SERVICE?at=INSTANT[/]   what was bookable at an instant (&planning=ID)

    [bold]GET /_truth/SERVICE/timeline?from=&to=[/]  the exact timeline of a period

    [bold]GET /_forbidden[/]                  requests a person sends only to book (must stay empty)

    [bold]GET|POST /_clock[/]                 the simulated time;
    POST {"advance": 3600} or {"set": "2026-10-06T09:00:00+02:00"}

    Example, a person's path with curl:

      curl -c jar -b jar http://127.0.0.1:8765/puy-de-dome/booking/create/7001/0

      curl -c jar -b jar -L -d condition=on -d nextButton=x \\
        http://127.0.0.1:8765/puy-de-dome/booking/create/7001/0
    """
    config = _load(scenario)
    origin = _parse_start(start) or config.scenario.start
    sim_clock: Clock
    if clock is ClockKind.system:
        sim_clock = SystemClock()
    elif speed is not None:
        if speed <= 0:
            raise fail("--speed must be a positive number")
        sim_clock = ScaledClock(origin, speed)
    else:
        sim_clock = SimulatedClock(origin, autojump=False)
    try:
        simulator = Simulator(
            config,
            clock=sim_clock,
            seed=seed,
            host=host,
            port=port,
            hosts="loopback" if hosts is HostKind.loopback else "path",
        )
    except ValueError as exc:
        raise fail(str(exc)) from exc
    asyncio.run(_serve(simulator))


async def _serve(simulator: Simulator) -> None:
    try:
        await simulator.start()
    except OSError as exc:
        raise fail(f"cannot listen on {simulator.host}:{simulator.port}: {exc.strerror}") from exc
    console.print(
        f"Simulating [bold]{simulator.scenario.scenario.name}[/] "
        f"({len(simulator.world.services)} services) at {simulator.base_url}  "
        f"clock: {simulator.clock.now().isoformat()}"
    )
    console.print(f"Sites: {simulator.base_url}/_sites   truth: {simulator.base_url}/_truth")
    console.print("Ctrl-C stops.")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await simulator.stop()


@app.command()
def demo(
    days: Annotated[int, typer.Option(min=1, max=366, help="Simulated days to cover.")] = 30,
    seed: Annotated[int | None, typer.Option(help="Seed of the ground truth.")] = None,
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the simulator afterwards.")
    ] = True,
    port: Annotated[int, typer.Option(help="Port for serving afterwards.")] = 8765,
) -> None:
    """Run the bundled france-demo scenario and show what it holds.

    Until the robot exists this prints, per simulated service, the ground truth over the period:
    the share of time with no bookable slot, the share of time down, and the first slots at the
    start; then it serves the simulator so that the sites can be visited.
    """
    config = load_scenario("france-demo")
    world = World.from_scenario(config, seed)
    start = world.start
    end = start + timedelta(days=days)
    table = Table(title=f"france-demo, ground truth from {start:%Y-%m-%d} for {days} days")
    for column in ("service", "dept", "counter", "no slot", "down", "first slot at start"):
        table.add_column(column)
    for service in world:
        spells = service.outages.between(start, end)
        down = (
            sum((min(s.end, end) - max(s.start, start)).total_seconds() for s in spells)
            / (end - start).total_seconds()
        )
        for counter in service.counters.values():
            share = share_without_slot(counter.timeline(start, end))
            free = counter.free_slots(start)
            table.add_row(
                service.id,
                service.site.departement,
                str(counter.counter_id),
                f"{share:.1%}",
                f"{down:.1%}",
                free[0].start.strftime("%Y-%m-%d %H:%M") if free else "-",
            )
    console.print(table)
    if serve:
        simulate(scenario="france-demo", host="127.0.0.1", port=port, hosts=HostKind.path,
                 seed=seed, clock=ClockKind.frozen, start=None, speed=None)  # fmt: skip


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
