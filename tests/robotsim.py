"""The robot and the simulator on one event loop and one simulated clock, for async tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from guichets.clock import SimulatedClock
from guichets.http import HostGates, Politeness
from guichets.model import Observation
from guichets.platforms import Target
from guichets.probe import ProbeSpec, run_probe
from guichets.simulator import Simulator, World, load_scenario
from guichets.simulator.server import HostMode

LOCAL_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


@dataclass
class Bench:
    """A running simulator and a robot that probes it."""

    sim: Simulator
    clock: SimulatedClock
    gates: HostGates

    @property
    def world(self) -> World:
        return self.sim.world

    def url(self, service_id: str) -> str:
        return self.sim.entry_urls()[service_id]

    async def probe(
        self, service_id: str, counter: str | None = None, horizon_days: int = 91
    ) -> Observation:
        departement = self.world.services[service_id].site.departement
        spec = ProbeSpec(
            service_id, "ezbooking", Target(self.url(service_id), counter, horizon_days),
            departement,
        )  # fmt: skip
        return await run_probe(spec, self.gates, self.clock)

    def at(self, instant: datetime) -> None:
        self.clock.set(instant)


@asynccontextmanager
async def bench(
    scenario: str | Path = "france-demo",
    *,
    hosts: HostMode = "path",
    gap: float = 0.0,
    user_agent: str | None = None,
    seed: int | None = None,
    request_timeout: float = 20.0,
) -> AsyncIterator[Bench]:
    config = load_scenario(scenario)
    clock = SimulatedClock(config.scenario.start)
    politeness = Politeness(min_gap=gap, timeout=request_timeout)
    if user_agent is not None:
        politeness = Politeness(min_gap=gap, timeout=request_timeout, user_agent=user_agent)
    async with Simulator(config, clock=clock, seed=seed, hosts=hosts) as sim:
        yield Bench(sim, clock, HostGates(clock, politeness))
