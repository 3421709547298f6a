"""The demo: the robot against the bundled simulated prefectures, on a simulated clock.

This module wires the two sides together, as the tests and the benchmarks do; the robot's own
modules never import the simulator. Everything lands in a data directory, like a real run:
``GUICHETS_HOME=DIR guichets report`` reads it afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from guichets import datadir
from guichets.alerts.service import AlertOptions
from guichets.catalogue import Service, catalogue_to_toml, load_catalogue
from guichets.clock import SimulatedClock
from guichets.evidence.archive import EvidenceArchive
from guichets.http import Exchange, Politeness
from guichets.model import Observation
from guichets.runner import Runner, RunSummary
from guichets.schedule import Plan
from guichets.simulator import Simulator, load_scenario
from guichets.store import Store
from guichets.usecases.run import open_run

__all__ = ["DEMO_CADENCE", "DEMO_SCENARIO", "DemoResult", "run_demo", "simulated_catalogue"]

DEMO_SCENARIO = "france-demo"
# Four probes a day per service, at random instants: 30 simulated days in about a minute here.
DEMO_CADENCE = "6h"
DEMO_TRUTH_KEPT = timedelta(days=10)  # a week grid shows the days already gone of its week


@dataclass
class DemoResult:
    home: Path
    start: datetime
    end: datetime
    summary: RunSummary
    forbidden: int
    alerts: str = ""  # what the alerts did: opened, closed, delivered


def simulated_catalogue(simulator: Simulator, cadence: str) -> list[Service]:
    """One catalogue entry per simulated counter, with the simulator's loopback URLs.

    Only the legacy module names its counter (``planning``); a démarche of RDV-Préfecture or an
    eAppointment office and motive is one calendar, named by its URL alone.
    """
    urls = simulator.entry_urls()
    services = []
    for site in simulator.scenario.sites:
        for config in site.services:
            several = len(config.counters) > 1
            for counter in config.counters:
                services.append(
                    Service(
                        id=f"{config.id}-{counter.id}" if several else config.id,
                        departement=site.departement,
                        site=site.name,
                        procedure=config.procedure,
                        platform=site.platform,
                        url=urls[config.id],
                        planning=counter.id if site.platform == "ezbooking" else None,
                        cadence=cadence,
                        label=f"{config.title} — {counter.label}",
                    )
                )
    return services


async def run_demo(
    home: Path,
    *,
    days: int = 30,
    seed: int | None = None,
    cadence: str = DEMO_CADENCE,
    gap: float = 1.0,
    db_url: str | None = None,
    on_observation: Callable[[Observation], None] | None = None,
    on_exchange: Callable[[Exchange], None] | None = None,
    evidence: bool = True,
    alerts: AlertOptions | None = None,
    report: Callable[[str], None] | None = None,
    assisted: int = 0,
) -> DemoResult:
    """Run the robot over ``days`` simulated days of the demo scenario; store under ``home``.

    With ``evidence`` (the default) every exchange is archived under ``home/evidence`` with its
    digests and ledger entries, as a real run does, so that ``guichets evidence verify`` and
    ``guichets evidence dossier`` work on the demo's data. Like a run, the demo holds the run
    lock on ``home`` (AlreadyRunning while another run or demo holds it). The alert rules run
    after every probe (``docs/alerts.md``); ``alerts`` says where to deliver them, and
    ``report`` hears of each failed delivery.


    With ``assisted`` = N, a scripted person (``demo_person``) makes N attempts through the
    assisted console, spread over the period, on the démarches behind a captcha: the robot runs up
    to each instant, stands still while the person's attempt runs, then goes on, so that its own
    probes are the ones it would have made alone.
    """
    if assisted and not evidence:
        raise ValueError("assisted attempts keep their evidence: drop --no-evidence")
    scenario = load_scenario(DEMO_SCENARIO)
    start = scenario.scenario.start
    clock = SimulatedClock(start)
    home.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240  (once, before anything runs)
    # The demo asks no question about the past: the simulator forgets it, so that memory stays
    # flat however many days are run (the truth of the last days is kept for the pages).
    async with Simulator(
        scenario, clock=clock, seed=seed, hosts="loopback", keep=DEMO_TRUTH_KEPT
    ) as simulator:
        path = datadir.catalogue(home)
        path.write_text(catalogue_to_toml(simulated_catalogue(simulator, cadence)), "utf-8")
        catalogue = load_catalogue(path)
        end = start + timedelta(days=days)
        with (
            Store.open(db_url, home=home) as store,
            open_run(home, store, clock, Politeness(min_gap=gap), evidence=evidence) as robot,
        ):
            options = alerts or AlertOptions()
            chosen = scenario.scenario.seed if seed is None else seed
            # simulated time: at the end, every retry of the alerts' delivery runs out (drain)
            async with robot.alerting(
                options, catalogue.services, report=report, drain=True
            ) as watch:
                runner = robot.runner(
                    catalogue.services, catalogue_digest=catalogue.digest,
                    command=f"demo --days {days}", seed=chosen, plan=Plan.RANDOM, concurrency=1,
                    on_observation=on_observation, on_exchange=on_exchange,
                )  # fmt: skip
                if assisted:
                    assert robot.archive is not None
                    summary = await _with_person(
                        runner, simulator, store, robot.archive, clock, list(catalogue.services),
                        home, assisted, end,
                    )  # fmt: skip
                else:
                    summary = await runner.run(until=end)
        return DemoResult(home, start, end, summary, len(simulator.forbidden), watch.summary())


def captcha_services(simulator: Simulator, services: list[Service]) -> list[Service]:
    """The démarches whose path meets a captcha: where only a person can read the slots."""
    gated = {
        config.id
        for site in simulator.scenario.sites
        for config in site.services
        if (site.platform == "rdvpref" and config.captcha) or config.security_check != "none"
    }
    return [s for s in services if s.id in gated]


async def _with_person(
    runner: Runner,
    simulator: Simulator,
    store: Store,
    archive: EvidenceArchive,
    clock: SimulatedClock,
    services: list[Service],
    home: Path,
    count: int,
    end: datetime,
) -> RunSummary:
    """The robot's run cut at ``count`` instants; at each, one attempt of the scripted person."""
    from aiohttp import web
    from playwright.async_api import async_playwright

    from guichets.assist.accounts import new_person_id
    from guichets.assist.attempt import CEILING, Limits
    from guichets.assist.console import Console
    from guichets.evidence.screenshot import CHROMIUM, CHROMIUM_ARGS, Renderer, load_probe
    from guichets.usecases.demo_person import ScriptedPerson

    gated = captcha_services(simulator, services)
    start = clock.now()
    instants = [start + (end - start) * (n + 0.5) / count for n in range(count)]
    total: RunSummary | None = None

    def add(part: RunSummary) -> RunSummary:
        if total is None:
            return part
        total.probes += part.probes
        total.skipped_periods += part.skipped_periods
        for outcome, n in part.by_outcome.items():
            total.by_outcome[outcome] = total.by_outcome.get(outcome, 0) + n
        return total

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=list(CHROMIUM_ARGS), headless=True
        )
        async with Renderer(browser=browser) as renderer:

            async def render(probe_id: str) -> bytes:
                return await renderer.render(load_probe(home, store, probe_id))

            console = Console(
                services=gated, store=store, archive=archive, clock=clock,
                limits=Limits(per_day=CEILING), browser=browser, render=render,
                person=new_person_id(),
            )  # fmt: skip
            app = web.AppRunner(console.app(), access_log=None, handle_signals=False)
            await app.setup()
            await web.TCPSite(app, "127.0.0.1", 0).start()
            person = ScriptedPerson(
                browser, f"http://127.0.0.1:{app.addresses[0][1]}", simulator.base_url
            )
            try:
                await person.log_in(console.login_token)
                for n, instant in enumerate(instants):
                    total = add(await runner.run(until=instant))
                    if gated:
                        service = gated[n % len(gated)].id
                        await person.attempt(service, wrong_first=n % 4 == 3)
                total = add(await runner.run(until=end))
            finally:
                await person.close()
                await app.cleanup()
        await browser.close()
    return total
