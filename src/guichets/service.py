"""The long-running robot: probes, site rebuilds, health and metrics, reloads, clean stops.

``guichets run`` is this loop. It runs a :class:`~guichets.runner.Runner` over the catalogue's
enabled services; ``reload()`` (SIGHUP) reads the catalogue again and, if it is sound, lets the
probes in flight finish and starts a new run with the new services (a run records the catalogue's
digest, so each version of the catalogue has its own runs); a catalogue with problems is refused
and the old one kept, with the problems said. ``stop()`` (SIGTERM, Ctrl-C) lets the probes in
flight finish and ends. Every ``site_every`` seconds, when probes were stored since the last
build, the site and its open data are rebuilt in a worker thread (the loop keeps probing). An
optional HTTP endpoint answers ``/healthz`` and ``/metrics``.

Everything waits on the given clock, so a test drives the loop, the site rebuilds and the health
verdict with a simulated clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from aiohttp import web

from guichets.catalogue import Catalogue, load_catalogue
from guichets.clock import Clock
from guichets.health import Health
from guichets.http import HostGates, host_key
from guichets.metrics import CONTENT_TYPE, RobotMetrics
from guichets.model import Observation
from guichets.runner import Runner, RunSummary
from guichets.tomlconfig import ConfigError
from guichets.untrusted import json_dumps

__all__ = ["Endpoint", "EndpointError", "LongRun", "Totals", "parse_endpoint"]

RunnerFactory = Callable[[Catalogue], Runner]


@dataclass
class Totals:
    """What the whole service did, over its runs: the figures are read from the runs' summaries,
    not kept twice."""

    summaries: list[RunSummary] = field(default_factory=list)
    site_builds: int = 0
    reloads: int = 0

    def add(self, summary: RunSummary) -> None:
        self.summaries.append(summary)

    @property
    def runs(self) -> list[str]:
        return [summary.run_id for summary in self.summaries]

    @property
    def probes(self) -> int:
        return sum(summary.probes for summary in self.summaries)


class EndpointError(OSError):
    """The health and metrics endpoint cannot listen where asked (address taken, not ours)."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int


def parse_endpoint(text: str) -> Endpoint:
    """``HOST:PORT`` (``[::1]:9108`` for IPv6); ValueError saying the form otherwise."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{text!r}: give HOST:PORT, e.g. 127.0.0.1:9108")
    return Endpoint(host, int(port))


class LongRun:
    """One service: the run loop, reloads, site rebuilds, the health and metrics endpoint."""

    def __init__(
        self,
        catalogue_path: Path,
        catalogue: Catalogue,
        make_runner: RunnerFactory,
        clock: Clock,
        gates: HostGates,
        *,
        health: Health,
        metrics: RobotMetrics | None = None,
        build_site: Callable[[], object] | None = None,
        site_every: float = 3600.0,
        endpoint: Endpoint | None = None,
        say: Callable[[str], None] = print,
        on_observation: Callable[[Observation], None] | None = None,
    ) -> None:
        self.catalogue_path = catalogue_path
        self.catalogue = catalogue
        self.make_runner = make_runner
        self.clock = clock
        self.gates = gates
        self.health = health
        self.metrics = metrics
        self.build_site = build_site
        self.site_every = site_every
        self.endpoint = endpoint
        self.say = say
        self.on_observation = on_observation
        self.totals = Totals()
        self.bound: Endpoint | None = None  # where the endpoint listens (its real port)
        self.reload_refused: str | None = None
        self._runner: Runner | None = None
        self._pending: Catalogue | None = None
        self._stopping = False
        # The first tick builds the site even before any new probe: a service just deployed on an
        # existing data directory publishes what it holds.
        self._since_build = 1
        self._site_task: asyncio.Task[None] | None = None
        if metrics is not None:
            metrics.watch_circuits(self.hosts)

    # -- control (signal handlers call these) ------------------------------------------------

    def stop(self) -> None:
        self._stopping = True
        if self._runner is not None:
            self._runner.stop.set()

    def reload(self) -> None:
        """Read the catalogue again; keep the old one, saying why, if the new one is not sound."""
        try:
            loaded = load_catalogue(self.catalogue_path)
        except ConfigError as error:
            self.reload_refused = str(error)
            self.say(
                f"reload refused: {self.catalogue_path} has problems; still probing the "
                f"{len(self._enabled(self.catalogue))} services of the catalogue loaded before "
                f"(sha256 {self.catalogue.digest[:12]}):\n{error}"
            )
            return
        self.reload_refused = None
        self._pending = loaded
        if self._runner is not None:
            self._runner.stop.set()

    # -- the loop -----------------------------------------------------------------------------

    @staticmethod
    def _enabled(catalogue: Catalogue) -> list[object]:
        return [service for service in catalogue.services if service.enabled]

    def hosts(self) -> Iterable[tuple[str, bool]]:
        """Each host of the enabled services, and whether its circuit is open now."""
        seen: dict[str, bool] = {}
        for service in self.catalogue.services:
            if service.enabled:
                key = host_key(service.url)
                if key not in seen:
                    seen[key] = self.gates.circuit_open(service.url)
        return sorted(seen.items())

    def _observed(self, observation: Observation) -> None:
        self.health.probed(observation.service, observation.finished_at)
        self._since_build += 1
        if self.metrics is not None:
            self.metrics.observed(observation)
        if self.on_observation is not None:
            self.on_observation(observation)

    def _runner_for(self, catalogue: Catalogue) -> Runner:
        runner = self.make_runner(catalogue)
        if self.metrics is not None:
            self.metrics.expect(s.id for s in catalogue.services if s.enabled)
        runner.on_observation = self._observed
        runner.on_planned = self.health.planned
        runner.on_skipped = self.health.settled
        return runner

    async def run(self, until: datetime | None = None) -> Totals:
        site = await self._serve() if self.endpoint is not None else None
        if self.build_site is not None:
            self._site_task = asyncio.create_task(self._site_loop())
        try:
            while True:
                runner = self._runner_for(self.catalogue)
                self._runner = runner
                if self._stopping:
                    break
                self.health.started(len(self._enabled(self.catalogue)))
                try:
                    summary = await runner.run(until=until)
                except Exception as error:
                    self.health.stopped(f"the robot failed: {error!r}")
                    raise
                self.totals.add(summary)
                if self._pending is not None and not self._stopping:
                    self.catalogue, self._pending = self._pending, None
                    self.totals.reloads += 1
                    self.say(
                        f"reloaded {self.catalogue_path} (sha256 {self.catalogue.digest[:12]}): "
                        f"{len(self._enabled(self.catalogue))} enabled services"
                    )
                    continue
                break
            self.health.stopped("the robot has stopped")
            if self._since_build and self.totals.probes and not self._stopping and self.build_site:
                await self._build()  # the run ended as asked: publish what it found
        finally:
            if self._site_task is not None:
                self._site_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._site_task
            if site is not None:
                await site.cleanup()
        return self.totals

    async def _site_loop(self) -> None:
        while True:
            await self.clock.sleep(self.site_every)
            if self._since_build:
                await self._build()

    async def _build(self) -> None:
        assert self.build_site is not None
        self._since_build = 0
        started = time.perf_counter()
        try:
            await asyncio.to_thread(self.build_site)
        except Exception as error:  # a failed build must not stop the probing
            self.say(f"site build failed: {error!r}")
            return
        seconds = time.perf_counter() - started
        self.totals.site_builds += 1
        if self.metrics is not None:
            self.metrics.site_built(seconds)
        self.say(f"site rebuilt in {seconds:.1f} s")

    # -- the HTTP endpoint --------------------------------------------------------------------

    async def _serve(self) -> web.AppRunner:
        assert self.endpoint is not None
        application = web.Application()
        application.router.add_get("/healthz", self._healthz)
        application.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(application, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.endpoint.host, self.endpoint.port)
        try:
            await site.start()
        except OSError as error:
            await runner.cleanup()
            where = f"{self.endpoint.host}:{self.endpoint.port}"
            raise EndpointError(
                f"cannot serve /healthz and /metrics on {where}: {error}"
            ) from error
        server = site._server  # aiohttp exposes the bound port only there
        sockets = getattr(server, "sockets", None) or []
        port = sockets[0].getsockname()[1] if sockets else self.endpoint.port
        self.bound = Endpoint(self.endpoint.host, port)
        shown = f"[{self.bound.host}]" if ":" in self.bound.host else self.bound.host
        self.say(
            f"health on http://{shown}:{port}/healthz, metrics on http://{shown}:{port}/metrics"
        )
        return runner

    async def _healthz(self, request: web.Request) -> web.Response:
        verdict = self.health.verdict()
        body = verdict.to_json()
        if self.reload_refused is not None:
            body["reload_refused"] = self.reload_refused
        return web.Response(
            status=200 if verdict.healthy else 503,
            text=json_dumps(body) + "\n",
            content_type="application/json",
        )

    async def _metrics(self, request: web.Request) -> web.Response:
        if self.metrics is None:
            raise web.HTTPNotFound()
        return web.Response(body=self.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})
