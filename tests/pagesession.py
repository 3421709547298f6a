"""Pages served from memory to a reader, for tests that try thousands of page variants.

A property test draws a page state and presentation changes hundreds of times per platform;
starting the simulator and its HTTP stack for each would cost seconds each. This session gives a
reader what the polite session gives it — responses after redirects, the reader's guard applied to
every request and every hop before anything is "sent" — from a dict of pages. Everything else about
fetching (politeness, robots.txt, evidence) is tested against real servers elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast
from urllib.parse import parse_qsl, urljoin, urlsplit

from multidict import CIMultiDict, CIMultiDictProxy

from guichets.http import PoliteSession, Response
from guichets.model import PARIS
from guichets.platforms.base import Reader, Reading, Target

Guard = Callable[[str, str, Mapping[str, str] | None], None]
# A page: (status, body, location for a redirect). A handler gets the fields sent.
Handler = Callable[[dict[str, str]], tuple[int, str, str | None]]

NOW = datetime(2026, 10, 7, 10, 0, tzinfo=PARIS)  # a Wednesday: when the pages are read

_HTML = CIMultiDictProxy(CIMultiDict({"Content-Type": "text/html; charset=utf-8"}))


@dataclass
class PageSession:
    """A site in memory: ``(method, path) -> handler``; unknown pages answer 404."""

    base: str  # "https://www.example.gouv.fr"
    routes: dict[tuple[str, str], Handler]
    fallback: Callable[[str, str, dict[str, str]], tuple[int, str, str | None]] | None = None
    sent: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    guards: list[Guard] = field(default_factory=list)

    def add_guard(self, guard: Guard) -> None:
        self.guards.append(guard)

    async def get(self, url: str) -> Response:
        return self._follow("GET", url, {})

    async def post(self, url: str, data: Mapping[str, str]) -> Response:
        return self._follow("POST", url, dict(data))

    def _follow(self, method: str, url: str, fields: dict[str, str]) -> Response:
        target = urljoin(self.base + "/", url)
        history: list[str] = []
        for _ in range(10):
            for guard in self.guards:
                guard(method, target, fields)
            parts = urlsplit(target)
            sent = dict(parse_qsl(parts.query)) | fields
            self.sent.append((method, target, sent))
            handler = self.routes.get((method, parts.path))
            if handler is not None:
                status, body, location = handler(sent)
            elif self.fallback is not None:
                status, body, location = self.fallback(method, parts.path, sent)
            else:
                status, body, location = 404, "<p>404</p>", None
            if location is None:
                return Response(target, status, "", _HTML, body.encode(), tuple(history))
            history.append(target)
            target, method, fields = urljoin(target, location), "GET", {}
        raise AssertionError(f"a redirect loop from {url}")


def page(body: str) -> Handler:
    return lambda _fields: (200, body, None)


def redirect(location: str) -> Handler:
    return lambda _fields: (302, "", location)


async def read(
    reader: Reader, site: PageSession, url: str, now: datetime, counter: str | None = None,
    horizon_days: int = 91,
) -> Reading:  # fmt: skip
    """What the reader concludes from the pages in memory."""
    target = Target(url, counter, horizon_days)
    return await reader.read(cast(PoliteSession, site), target, now)
