"""Per-host gates, shared by all probes of a run: one request at a time per host, a minimum gap
between two, ``Retry-After`` honoured, a circuit breaker after a streak of failures, and the
run's robots.txt cache (at most 24 hours, on the clock: RFC 9309 2.4).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Protocol

from aiohttp.abc import AbstractResolver
from yarl import URL

from guichets.clock import Clock
from guichets.http.exchange import FetchError
from guichets.http.policy import Politeness
from guichets.http.robots import RobotsTxt
from guichets.model import Detail

__all__ = ["ROBOTS_TTL", "HostGates", "RobotsVerdict", "Turn", "host_key", "retry_after"]

# RFC 9309 2.4: a cached robots.txt is used for at most 24 hours. Only an answer (2xx, 4xx) is
# shared by the run; an unreachable robots.txt forbids everything for the rest of that probe only,
# so a passing outage neither stops a host's probes for a day nor is reported by probes that did
# not see it.
ROBOTS_TTL = 24 * 3600.0
_MAX_RETRY_AFTER = 10 * 365 * 86400.0  # a sane ceiling for absurd values


def host_key(url: str | URL) -> str:
    """``scheme://host:port``, the unit of politeness (an explicit port, always)."""
    parsed = url if isinstance(url, URL) else URL(url)
    host = parsed.host or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parsed.scheme}://{host}:{parsed.port}"


@dataclass
class RobotsVerdict:
    rules: RobotsTxt
    expires: datetime
    source: str  # how it was obtained, for messages: "HTTP 200", "timeout"...
    cause: str | None = None  # the failure when robots.txt was unreachable


class _Host:
    """What the run knows about one host."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()  # one request at a time
        self.robots_lock = asyncio.Lock()  # one robots.txt fetch at a time
        self.last_done: datetime | None = None
        self.retry_until: datetime | None = None
        self.failures = 0
        self.open_until: datetime | None = None
        self.robots: RobotsVerdict | None = None


class HostGates:
    """Shared by all probes of a run: per-host lock (one request at a time per host), time of the
    last request, Retry-After deadline, circuit breaker, robots.txt cache (at most 24 h, on the
    clock)."""

    def __init__(
        self,
        clock: Clock,
        politeness: Politeness | None = None,
        *,
        resolver: AbstractResolver | None = None,
    ) -> None:
        self.clock = clock
        self.politeness = politeness if politeness is not None else Politeness()
        # How host names become addresses: aiohttp's resolver when None. A seam for the tests,
        # which map names to loopback addresses; every session filters what it returns
        # (``http.addresses``), so no resolver can lead the robot into its own network.
        self.resolver = resolver
        self._hosts: dict[str, _Host] = {}

    def _host(self, url: URL) -> _Host:
        key = host_key(url)
        host = self._hosts.get(key)
        if host is None:
            host = self._hosts[key] = _Host()
        return host

    def override_for(self, url: URL) -> str | None:
        """The ``robots_overrides`` key that covers ``url``'s host, if any.

        A key may be a host name (``example.org``), ``host:port`` or ``scheme://host:port``.
        """
        host = (url.host or "").lower()
        candidates = {host, f"{host}:{url.port}", host_key(url).lower(), str(url.origin()).lower()}
        for key in self.politeness.robots_overrides:
            if key.strip().lower().rstrip("/") in candidates:
                return key
        return None

    @contextlib.asynccontextmanager
    async def turn(self, url: URL) -> AsyncIterator[Turn]:
        """The host's turn for one request: waits for it (one request at a time per host, the
        gap, Retry-After) or raises FetchError without sending (circuit open, a Retry-After
        longer than a probe waits). The caller sends one request, then ``record``s what came of
        it. Several machines share these rules through ``guichets.workers.gate.SharedGates``,
        which implements the same method on PostgreSQL."""
        host = self._host(url)
        async with host.lock:
            await self._admit(host, url)
            yield _LocalTurn(self, host)

    def circuit_open(self, url: str | URL) -> bool:
        """Whether requests to ``url``'s host are refused right now."""
        state = self._hosts.get(host_key(url))
        return bool(state and state.open_until and self.clock.now() < state.open_until)

    async def _admit(self, host: _Host, url: URL) -> None:
        """Wait for the host's turn, or refuse without sending. Called with ``host.lock`` held."""
        polite, clock = self.politeness, self.clock
        now = clock.now()
        if host.open_until is not None and now < host.open_until:
            raise FetchError(
                Detail.CIRCUIT_OPEN,
                str(url),
                f"{host_key(url)} failed {host.failures} times in a row; no request is sent to it "
                f"before {host.open_until.isoformat()}",
            )
        if host.retry_until is not None:
            wait = (host.retry_until - now).total_seconds()
            if wait > polite.max_retry_wait:
                raise FetchError(
                    Detail.RATE_LIMITED,
                    str(url),
                    f"{host_key(url)} asked to wait until {host.retry_until.isoformat()} "
                    f"(Retry-After), longer than the {polite.max_retry_wait:g} s a probe waits",
                )
            if wait > 0:
                await clock.sleep(wait)
        if host.last_done is not None and polite.min_gap > 0:
            wait = polite.min_gap - (clock.now() - host.last_done).total_seconds()
            if wait > 0:
                await clock.sleep(wait)

    def _record(
        self, host: _Host, status: int | None, error: str | None, retry: str | None
    ) -> None:
        """Update the breaker and the Retry-After deadline from one exchange."""
        now = self.clock.now()
        host.last_done = now
        if error in (Detail.TIMEOUT, Detail.NETWORK) or (status is not None and status >= 500):
            host.failures += 1
            if host.failures >= self.politeness.breaker_failures:
                host.open_until = now + timedelta(seconds=self.politeness.breaker_cooldown)
        elif status is not None:
            host.failures = 0
            host.open_until = None
        seconds = retry_after(retry, now) if retry is not None else None
        if seconds is not None and seconds > 0:
            host.retry_until = now + timedelta(seconds=seconds)


class Turn(Protocol):
    """One request's turn at a host (:meth:`HostGates.turn`)."""

    def record(self, status: int | None, error: str | None, retry_after: str | None) -> None:
        """What came of the request: its status, its failure (a Detail value), its
        ``Retry-After``; updates the breaker and the host's deadlines."""


class _LocalTurn:
    def __init__(self, gates: HostGates, host: _Host) -> None:
        self._gates, self._host = gates, host

    def record(self, status: int | None, error: str | None, retry_after: str | None) -> None:
        self._gates._record(self._host, status, error, retry_after)


def retry_after(value: str, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After value: delay-seconds, or an HTTP-date against ``now``."""
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(0.0, seconds), _MAX_RETRY_AFTER)
