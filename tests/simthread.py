"""A simulator in a background thread and a person's browser with a cookie jar, for sync tests.

Like httpx's tests, the server is real and listens on loopback; the tests speak HTTP to it.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from guichets.clock import Clock, SimulatedClock, SystemClock
from guichets.simulator import Simulator, World, load_scenario
from guichets.simulator.server import HostMode


class SimulatorThread:
    """Runs a :class:`Simulator` on its own event loop in a daemon thread."""

    def __init__(
        self,
        scenario: str | Path,
        *,
        hosts: HostMode = "path",
        seed: int | None = None,
        system_clock: bool = False,
        log_requests: bool = False,
    ) -> None:
        config = load_scenario(scenario)
        self.clock = SimulatedClock(config.scenario.start, autojump=False)
        clock: Clock = SystemClock() if system_clock else self.clock
        self.sim = Simulator(config, clock=clock, seed=seed, hosts=hosts, log_requests=log_requests)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> SimulatorThread:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.sim.start(), self._loop).result(10)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        asyncio.run_coroutine_threadsafe(self.sim.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def world(self) -> World:
        return self.sim.world

    @property
    def base_url(self) -> str:
        return self.sim.base_url

    def set_time(self, instant: datetime) -> None:
        """Move the simulated clock (forward only) from the test's thread."""
        asyncio.run_coroutine_threadsafe(_call(self.clock.set, instant), self._loop).result(10)

    def url(self, service_id: str) -> str:
        return self.sim.entry_urls()[service_id]

    def get_json(self, path: str) -> Any:
        with urllib.request.urlopen(self.base_url + path, timeout=10) as response:
            return json.loads(response.read())


async def _call(function: Any, *args: Any) -> Any:
    return function(*args)


@dataclass
class Page:
    status: int
    url: str
    text: str
    headers: dict[str, str]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Browser:
    """A person's browser: one cookie jar, optional redirects, a User-Agent of a person."""

    def __init__(self, user_agent: str = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0") -> None:
        self.jar = http.cookiejar.CookieJar()
        self.user_agent = user_agent
        cookies = urllib.request.HTTPCookieProcessor(self.jar)
        self._follow = urllib.request.build_opener(cookies)
        self._stay = urllib.request.build_opener(cookies, _NoRedirect)

    def request(
        self,
        url: str,
        data: dict[str, str] | None = None,
        *,
        follow: bool = True,
        method: str | None = None,
    ) -> Page:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(
            url, data=body, method=method, headers={"User-Agent": self.user_agent}
        )
        opener = self._follow if follow else self._stay
        try:
            with opener.open(request, timeout=10) as response:
                return Page(
                    response.status,
                    response.url,
                    response.read().decode("utf-8", "replace"),
                    dict(response.headers),
                )
        except urllib.error.HTTPError as error:
            return Page(
                error.code, url, error.read().decode("utf-8", "replace"), dict(error.headers)
            )

    def request_bytes(self, url: str) -> bytes:
        """GET ``url`` with this browser's cookies, the body as bytes (an image, a sound)."""
        request = urllib.request.Request(url, headers={"User-Agent": self.user_agent})
        with self._follow.open(request, timeout=10) as response:
            body = response.read()
            assert isinstance(body, bytes)
            return body
