"""The demo: the robot against the bundled simulated prefectures, on a simulated clock.

This module wires the two sides together, as the tests and the benchmarks do; the robot's own
modules never import the simulator. Everything lands in a data directory, like a real run:
``GUICHETS_HOME=DIR guichets report`` reads it afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from guichets.alerts.service import Alerting, AlertOptions
from guichets.catalogue import Service, catalogue_to_toml, load_catalogue
from guichets.clock import SimulatedClock
from guichets.evidence.archive import EvidenceArchive
from guichets.http import Exchange, HostGates, Politeness
from guichets.model import Observation
from guichets.runner import Runner, RunSummary, from_catalogue
from guichets.schedule import Plan
from guichets.simulator import Simulator, load_scenario
from guichets.store import Store

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
) -> DemoResult:
    """Run the robot over ``days`` simulated days of the demo scenario; store under ``home``.

    With ``evidence`` (the default) every exchange is archived under ``home/evidence`` with its
    digests and ledger entries, as a real run does, so that ``guichets evidence verify`` and
    ``guichets evidence dossier`` work on the demo's data. The alert rules run after every probe
    (``docs/alerts.md``); ``alerts`` says where to deliver them, and ``report`` hears of each
    failed delivery.
    """
    scenario = load_scenario(DEMO_SCENARIO)
    start = scenario.scenario.start
    clock = SimulatedClock(start)
    home.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240  (once, before anything runs)
    # The demo asks no question about the past: the simulator forgets it, so that memory stays
    # flat however many days are run (the truth of the last days is kept for the pages).
    async with Simulator(
        scenario, clock=clock, seed=seed, hosts="loopback", keep=DEMO_TRUTH_KEPT
    ) as simulator:
        path = home / "catalogue.toml"
        path.write_text(catalogue_to_toml(simulated_catalogue(simulator, cadence)), "utf-8")
        catalogue = load_catalogue(path)
        gates = HostGates(clock, Politeness(min_gap=gap))
        end = start + timedelta(days=days)
        with Store.open(db_url, home=home) as store, contextlib.ExitStack() as stack:
            archive = None
            if evidence:
                info = {"http-header-user-agent": gates.politeness.user_agent}
                archive = stack.enter_context(EvidenceArchive(home, store, clock, info=info))
            watch = Alerting.start(store, clock, alerts or AlertOptions(), catalogue.services,
                                   report=report)  # fmt: skip
            runner = Runner(
                from_catalogue(catalogue.services),
                store,
                clock,
                gates,
                seed=scenario.scenario.seed if seed is None else seed,
                plan=Plan.RANDOM,
                concurrency=1,
                on_observation=on_observation,
                on_exchange=on_exchange,
                command=f"demo --days {days}",
                catalogue_digest=catalogue.digest,
                evidence=archive,
                on_stored=watch.monitor.on_stored,
            )
            try:
                summary = await runner.run(until=end)
            finally:
                await watch.close(drain=True)  # simulated time: every retry runs out now
        return DemoResult(home, start, end, summary, len(simulator.forbidden), watch.summary())
