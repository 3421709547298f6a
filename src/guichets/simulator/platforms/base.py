"""What every simulated booking platform gets from the server, and what it must provide.

The server (``simulator/server.py``) does what is common to all platforms: it finds the site a
request is for, applies the site's blocking and throttling, logs forbidden requests, and serves
generic gateway errors during outages. A platform module only knows its own pages.
"""

from __future__ import annotations

import html
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import ClassVar, Protocol, runtime_checkable

from aiohttp import web
from multidict import MultiDictProxy

from guichets.simulator.captcha import CaptchaBook
from guichets.simulator.groundtruth import ServiceTruth, Spell
from guichets.simulator.scenario import SiteConfig

__all__ = [
    "PERSONAL_FIELDS",
    "Exchange",
    "PlatformExtras",
    "PlatformSimulator",
    "Session",
    "SessionStore",
    "SiteContext",
    "esc",
]

# Field names that carry a person's identity on the real platforms. No probe may ever send them.
# The robot's session keeps its own list (fetch.PERSONAL_FIELDS) on purpose: this one checks that
# one, so it must not be the same object, or a field missing from both would go unseen.
PERSONAL_FIELDS = (
    "email",
    "emailcheck",
    "firstname",
    "lastname",
    "phone",
    "telephone",
    "nom",
    "prenom",
    "eZBookingAdditionalField_value_",
    "g-recaptcha-response",
)


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


@dataclass
class Session:
    """One visitor's booking session (the ``eZSESSID`` cookie's server side)."""

    id: str
    created: datetime
    touched: datetime
    data: dict[str, object] = field(default_factory=dict)


class SessionStore:
    """Sessions of one site, expiring after a period of inactivity on the simulated clock."""

    def __init__(self, idle: timedelta = timedelta(minutes=24)) -> None:
        self._idle = idle
        self._sessions: dict[str, Session] = {}
        self._created = 0

    def get(self, session_id: str | None, now: datetime) -> Session | None:
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        if now - session.touched > self._idle:
            del self._sessions[session_id]
            return None
        session.touched = now
        return session

    def new(self, now: datetime) -> Session:
        self._created += 1
        if self._created % 64 == 0 or len(self._sessions) > 10_000:
            # Expired sessions go regularly: a long run keeps the live ones, not every one made.
            self._sessions = {
                k: s for k, s in self._sessions.items() if now - s.touched <= self._idle
            }
        session = Session(secrets.token_hex(13), now, now)
        self._sessions[session.id] = session
        return session


@dataclass
class SiteContext:
    """A hosted site: its configuration, where it lives, its services and sessions."""

    config: SiteConfig
    prefix: str  # URL path before the site's own paths: "/isere" or "" when it has its own host
    services: list[ServiceTruth]
    sessions: SessionStore = field(default_factory=SessionStore)
    state: dict[str, dict[str, str]] = field(default_factory=dict)  # a platform's own, by name
    captchas: CaptchaBook = field(default_factory=CaptchaBook)  # drawn for this site's visitors

    @property
    def module_base(self) -> str:
        """Path prefix of the booking module (``/index.php`` on some sites)."""
        return self.prefix + ("/index.php" if self.config.index_php else "")


@dataclass
class Exchange:
    """One request as a platform sees it."""

    request: web.Request
    site: SiteContext
    path: str  # after the site prefix, starting with "/"
    form: MultiDictProxy[str]
    now: datetime


class PlatformSimulator(Protocol):
    """A booking platform's pages, served from the ground truth."""

    name: ClassVar[str]

    def service_of(self, exchange: Exchange) -> ServiceTruth | None:
        """The service a request concerns, so that its outages apply; None for site pages."""
        ...

    def forbidden(self, exchange: Exchange) -> str | None:
        """Why a person would send this request only to book, or None when it is harmless."""
        ...

    async def handle(self, exchange: Exchange) -> web.StreamResponse:
        """Serve a page when the service is up."""
        ...

    def outage(self, exchange: Exchange, spell: Spell) -> web.StreamResponse | None:
        """A platform's own page for an outage kind, or None for the server's generic one."""
        ...

    def urls(self, site: SiteContext, base_url: str) -> dict[str, list[str]]:
        """Entry URLs of each service of a site, for listings and catalogues."""
        ...


@runtime_checkable
class PlatformExtras(Protocol):
    """Optional hooks: a platform fronted by its own firewall, or whose paths differ from the
    legacy module's. Without them the server serves its generic refusal and ``robots.txt``."""

    def blocked_page(self, exchange: Exchange) -> web.StreamResponse:
        """The page a client gets when the site blocks it (its firewall's, not the server's)."""
        ...

    def robots_disallow(self, site: SiteContext) -> list[str]:
        """The paths ``robots = "disallow"`` forbids on this platform's sites."""
        ...
