"""``guichets simulate``: the fake prefecture sites, for people, tests and benchmarks."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from datetime import datetime
from enum import StrEnum
from typing import Annotated

import typer

from guichets.cli.app import app, console, fail
from guichets.clock import Clock, ScaledClock, SimulatedClock, SystemClock, parse_instant
from guichets.simulator import ScenarioConfig, Simulator, load_scenario
from guichets.tomlconfig import ConfigError


class ClockKind(StrEnum):
    frozen = "frozen"
    system = "system"


class HostKind(StrEnum):
    path = "path"
    loopback = "loopback"


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

    * **GET /_sites**: the sites and the booking URL of every service
    * **GET /_truth**: every service, its URL and counters
    * **GET /_truth/SERVICE?at=INSTANT**: what was bookable at an instant (&planning=ID)
    * **GET /_truth/SERVICE/timeline?from=&to=**: the exact timeline of a period
    * **GET /_forbidden**: requests a person sends only to book (must stay empty)
    * **GET|POST /_clock**: the simulated time; POST {"advance": 3600} or
      {"set": "2026-10-06T09:00:00+02:00"}

    A person's path with curl:

        curl -c jar -b jar http://127.0.0.1:8765/puy-de-dome/booking/create/7001/0
        curl -c jar -b jar -L -d condition=on -d nextButton=x \\
          http://127.0.0.1:8765/puy-de-dome/booking/create/7001/0
    """
    origin = _parse_start(start)
    if speed is not None and speed <= 0:
        raise fail("--speed must be a positive number")
    serve_scenario(
        scenario, host=host, port=port, hosts=hosts, seed=seed, clock=clock, start=origin,
        speed=speed,
    )  # fmt: skip


def serve_scenario(
    scenario: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    hosts: HostKind = HostKind.path,
    seed: int | None = None,
    clock: ClockKind = ClockKind.frozen,
    start: datetime | None = None,
    speed: float | None = None,
) -> None:
    """Serve a scenario until Ctrl-C (also used by the demo to let people look around)."""
    config = _load(scenario)
    origin = start or config.scenario.start
    sim_clock: Clock
    if clock is ClockKind.system:
        sim_clock = SystemClock()
    elif speed is not None:
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
        f"Simulating {simulator.scenario.scenario.name} "
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
