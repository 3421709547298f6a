"""The robot's own figures for monitoring, in the Prometheus text format (prometheus-client).

These say how the *robot* is doing (probes made, how long they take, which hosts it has stopped
asking, how long the site takes to build), never what the prefectures offer: that is the
observatory's data, published as open data. Each service owns a registry of its own, so that two
services in one process (tests) do not share counters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from guichets.model import Observation, Outcome

__all__ = ["CONTENT_TYPE", "DURATION_BUCKETS", "RobotMetrics"]

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
DURATION_BUCKETS: Final = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
"""Seconds: a probe is a handful of requests a second or more apart, bounded at 300 s."""


class _Circuits(Collector):
    """``guichets_circuit_open{host}``, read from the polite session's gates at scrape time."""

    def __init__(self, hosts: Callable[[], Iterable[tuple[str, bool]]]) -> None:
        self._hosts = hosts

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "guichets_circuit_open",
            "1 while the robot sends nothing to a host after a streak of failures",
            labels=["host"],
        )
        for host, open_ in self._hosts():
            family.add_metric([host], 1.0 if open_ else 0.0)
        yield family


class RobotMetrics:
    """The registry and what the service loop records into it."""

    def __init__(self) -> None:
        # The "_created" series (when each counter was made) double the exposition and tell
        # nothing here. The switch is process-wide, so it is thrown when a service makes its
        # registry (it starts serving /metrics), not by whoever imports this module.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        self.probes = Counter(
            "guichets_probes",
            "Probes made and stored, by service and outcome",
            ["service", "outcome"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "guichets_probe_duration_seconds",
            "Time one probe took, from its first request to its conclusion",
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.last_probe = Gauge(
            "guichets_last_probe_timestamp_seconds",
            "When the last probe of a service finished (Unix time)",
            ["service"],
            registry=self.registry,
        )
        self.site_build = Gauge(
            "guichets_site_build_seconds",
            "How long the last build of the public site and open data took",
            registry=self.registry,
        )

    def watch_circuits(self, hosts: Callable[[], Iterable[tuple[str, bool]]]) -> None:
        """Report ``guichets_circuit_open{host}`` from ``hosts()``, called at each scrape."""
        self.registry.register(_Circuits(hosts))

    def expect(self, services: Iterable[str]) -> None:
        """Show every (service, outcome) pair at 0 before its first probe: a rate over a series
        that appears only with its first probe would miss that probe."""
        for service in services:
            for outcome in Outcome:
                self.probes.labels(service, str(outcome))

    def observed(self, observation: Observation) -> None:
        """Record one stored probe."""
        self.probes.labels(observation.service, str(observation.outcome)).inc()
        seconds = (observation.finished_at - observation.started_at).total_seconds()
        self.duration.observe(max(0.0, seconds))
        self.last_probe.labels(observation.service).set(observation.finished_at.timestamp())

    def site_built(self, seconds: float) -> None:
        self.site_build.set(seconds)

    def exposition(self) -> bytes:
        """The text a Prometheus server scrapes."""
        return generate_latest(self.registry)
