"""``guichets assist``: the web console where a person makes an assisted attempt.

On loopback (the default) the person logs in with a one-time link printed in the terminal; with
``--listen`` on another address, with an account (login and password, Argon2id). Either way a
session cookie (HttpOnly, SameSite=Strict) and a CSRF token on every POST are required: any other
POST answers 403, so no answer reaches a site unless a logged-in person typed it here. Logins and
POSTs are rate-limited. Pages are Jinja2 templates with autoescape on; French first.

The captcha's image and sound are served only to the person whose attempt it is, with
``Cache-Control: no-store``, and forgotten once answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from aiohttp import web

from guichets.assist.accounts import Accounts
from guichets.assist.attempt import ASSIST_USER_AGENT, AttemptError, AttemptRun, Limits, Read
from guichets.catalogue import Service
from guichets.clock import Clock
from guichets.evidence.archive import EvidenceArchive
from guichets.evidence.screenshot import CHROMIUM, CHROMIUM_ARGS, Renderer, load_probe
from guichets.model import PARIS, Outcome
from guichets.schedule import Plan, period_start, planned_at
from guichets.store import Store
from guichets.store.assisted import attempts

__all__ = [
    "COOKIE",
    "Console",
    "ConsoleSession",
    "client_address",
    "due_attempts",
    "failures_key",
    "is_loopback",
    "proxy_networks",
    "serve_console",
]

COOKIE = "guichets_assist"
SESSION_HOURS = 12
LOGIN_FAILURES = 5  # per client address (an IPv6 one's /64) per 15 minutes
FAILURES_KEPT = 10_000  # addresses whose failed logins are remembered before the old are dropped
ProxyNetworks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
POSTS_PER_MINUTE = 30  # per session
DUE_WINDOW = timedelta(minutes=20)
STATES_FR = {
    "running": "en cours",
    "read": "lue",
    "abandoned": "arrêtée avant lecture",
    "refused": "refusée",
    "failed": "échouée",
}
_TEMPLATES = Path(__file__).parent / "templates"


@dataclass
class ConsoleSession:
    person: str
    login: str
    csrf: str
    created: float = field(default_factory=time.monotonic)
    posts: deque[float] = field(default_factory=deque)


def due_attempts(
    services: list[Service], now: datetime, cadence: timedelta, seed: int = 0
) -> list[tuple[Service, datetime]]:
    """Attempts the schedule offers in the next :data:`DUE_WINDOW`: one instant per service and
    period of ``cadence``, drawn as the robot's are (``schedule.planned_at``)."""
    seconds = int(cadence.total_seconds())
    found = []
    for service in services:
        for start in (period_start(now, seconds), period_start(now + DUE_WINDOW, seconds)):
            at = planned_at(f"assist:{service.id}", start, seconds, seed=seed, plan=Plan.RANDOM)
            if now <= at <= now + DUE_WINDOW:
                found.append((service, at))
                break
    return sorted(found, key=lambda pair: pair[1])


def _paris(instant: datetime) -> str:
    return instant.astimezone(PARIS).strftime("%d/%m/%Y %H:%M:%S")


def _back(run: AttemptRun, error: str = "") -> web.HTTPSeeOther:
    """Back to the attempt's page, with what went wrong for the person to read."""
    return web.HTTPSeeOther(
        f"/tentatives/{run.id}" + (f"?{urlencode({'erreur': error})}" if error else "")
    )


def _french(read: Read) -> str:
    o = read.observation
    if o.outcome is Outcome.AVAILABLE:
        first = o.slots[0].astimezone(PARIS)
        return (
            f"Des créneaux sont proposés : {len(o.slots)} vu(s), le premier le "
            f"{first:%d/%m/%Y à %H:%M}."
        )
    if o.outcome is Outcome.UNAVAILABLE:
        return "Aucun créneau n'est proposé : le site le dit lui-même."
    return f"La page des créneaux n'a pas pu être lue ({o.outcome}, {o.detail})."


class Console:
    """The aiohttp application and what it holds: sessions, attempts under way, the browser."""

    def __init__(
        self,
        *,
        services: list[Service],
        store: Store,
        archive: EvidenceArchive,
        clock: Clock,
        limits: Limits,
        browser: Any,
        render: Callable[[str], Awaitable[bytes]] | None = None,
        accounts: Accounts | None = None,
        person: str | None = None,
        cadence: timedelta = timedelta(days=1),
        secure_cookie: bool = False,
        trusted_proxies: ProxyNetworks = (),
    ) -> None:
        if accounts is None and person is None:
            raise ValueError("the console needs accounts, or the person id of a loopback console")
        self.services = {s.id: s for s in services}
        self.store = store
        self.archive = archive
        self.clock = clock
        self.limits = limits
        self.browser = browser
        self.render = render
        self.accounts = accounts
        self.person = person
        self.cadence = cadence
        self.secure_cookie = secure_cookie
        self.trusted_proxies = trusted_proxies
        self.login_token = secrets.token_urlsafe(24)  # the one-time link of a loopback console
        self.sessions: dict[str, ConsoleSession] = {}
        self.runs: dict[str, AttemptRun] = {}
        self._failures: dict[str, deque[float]] = {}  # by failures_key: only failed logins
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(_TEMPLATES),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self._sweeper: asyncio.Task[None] | None = None

    # -- the application ------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._security], client_max_size=64 * 1024)
        app.router.add_get("/", self.home)
        app.router.add_get("/console.css", self.css)
        app.router.add_get("/connexion", self.login_page)
        app.router.add_post("/connexion", self.login)
        app.router.add_post("/deconnexion", self.logout)
        app.router.add_get("/services/{service}", self.service_page)
        app.router.add_post("/tentatives", self.start)
        app.router.add_get("/tentatives/{attempt}", self.attempt_page)
        app.router.add_get("/tentatives/{attempt}/captcha", self.captcha_image)
        app.router.add_get("/tentatives/{attempt}/son", self.captcha_sound)
        app.router.add_post("/tentatives/{attempt}/reponse", self.answer)
        app.router.add_post("/tentatives/{attempt}/lecture", self.read_again)
        app.router.add_post("/tentatives/{attempt}/fin", self.stop)
        app.router.add_get("/tentatives/{attempt}/lectures/{n}.png", self.screenshot)
        app.on_startup.append(self._start_sweeper)
        app.on_cleanup.append(self._cleanup)
        return app

    @web.middleware
    async def _security(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Every POST needs a logged-in session, its CSRF token and a rate under the limit."""
        if request.method == "POST" and request.path != "/connexion":
            session = self._session(request)
            form = await request.post()
            if session is None or not secrets.compare_digest(
                str(form.get("csrf", "")), session.csrf
            ):
                return web.Response(status=403, text="403 : session ou jeton CSRF manquant.\n")
            now = time.monotonic()
            while session.posts and now - session.posts[0] > 60:
                session.posts.popleft()
            if len(session.posts) >= POSTS_PER_MINUTE:
                return web.Response(status=429, text="429 : trop de demandes, patientez.\n")
            session.posts.append(now)
        response = await handler(request)
        headers = response.headers
        headers["Content-Security-Policy"] = (
            "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'self'; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        )
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "no-referrer"
        headers["Cache-Control"] = "no-store"
        return response

    async def _start_sweeper(self, app: web.Application) -> None:
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def _cleanup(self, app: web.Application) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        for run in list(self.runs.values()):
            await run.stop(note="the console stopped")

    async def _sweep(self) -> None:
        """End attempts nobody touched for ``limits.idle`` (the site's session would die too)."""
        while True:
            await asyncio.sleep(30)
            await self.sweep()

    async def sweep(self) -> None:
        idle = self.limits.idle.total_seconds()
        for run in list(self.runs.values()):
            if not run.done and time.monotonic() - run.last_touch > idle:
                await run.stop(note="nobody touched the attempt for a while")

    # -- sessions -------------------------------------------------------------------------------

    def _session(self, request: web.Request) -> ConsoleSession | None:
        session = self.sessions.get(request.cookies.get(COOKIE, ""))
        if session is None:
            return None
        if time.monotonic() - session.created > SESSION_HOURS * 3600:
            self.sessions.pop(request.cookies.get(COOKIE, ""), None)
            return None
        return session

    def _open(self, response: web.StreamResponse, person: str, login: str) -> None:
        key = secrets.token_urlsafe(32)
        self.sessions[key] = ConsoleSession(person, login, secrets.token_urlsafe(32))
        response.set_cookie(
            COOKIE, key, httponly=True, samesite="Strict", secure=self.secure_cookie, path="/"
        )

    def _page(
        self, name: str, request: web.Request, status: int = 200, **values: Any
    ) -> web.Response:
        session = self._session(request)
        body = self._env.get_template(name).render(
            session=session, csrf=session.csrf if session else "", states=STATES_FR, **values
        )
        return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")

    def _need(self, request: web.Request) -> ConsoleSession:
        session = self._session(request)
        if session is None:
            raise web.HTTPSeeOther("/connexion")
        return session

    def _run(self, request: web.Request, session: ConsoleSession) -> AttemptRun:
        run = self.runs.get(request.match_info["attempt"])
        if run is None or run.person != session.person:
            raise web.HTTPNotFound(text="Tentative inconnue.")
        return run

    # -- pages ----------------------------------------------------------------------------------

    async def css(self, request: web.Request) -> web.Response:
        return web.Response(
            text=(_TEMPLATES / "console.css").read_text(encoding="utf-8"), content_type="text/css"
        )

    async def home(self, request: web.Request) -> web.StreamResponse:
        token = request.query.get("jeton")
        if token is not None and self.person is not None:
            if not secrets.compare_digest(token, self.login_token):
                return web.Response(status=403, text="403 : lien de connexion invalide.\n")
            response = web.HTTPSeeOther("/")
            self._open(response, self.person, "local")
            self.login_token = secrets.token_urlsafe(24)  # one time only
            raise response
        session = self._session(request)
        if session is None:
            return self._page("connexion.html", request, accounts=self.accounts is not None,
                              error="")  # fmt: skip
        now = self.clock.now()
        mine = [
            a for a in attempts(self.store, person=session.person, since=now - timedelta(days=7))
        ]
        return self._page(
            "accueil.html",
            request,
            services=sorted(self.services.values(), key=lambda s: s.id),
            due=[(s, a.astimezone(PARIS)) for s, a in due_attempts(list(self.services.values()),
                                                                   now, self.cadence)],
            attempts=list(reversed(mine)),
            running=[r for r in self.runs.values() if r.person == session.person and not r.done],
            per_day=self.limits.per_day,
            paris=_paris,
        )  # fmt: skip

    async def login_page(self, request: web.Request) -> web.Response:
        return self._page("connexion.html", request, accounts=self.accounts is not None, error="")

    async def login(self, request: web.Request) -> web.StreamResponse:
        client = client_address(
            request.remote, request.headers.getall("X-Forwarded-For", []), self.trusted_proxies
        )
        now = time.monotonic()
        counted = failures_key(client)
        failures = self._failures.get(counted, deque())
        while failures and now - failures[0] > 900:
            failures.popleft()
        if len(failures) >= LOGIN_FAILURES:
            return web.Response(
                status=429, text="429 : trop d'essais, réessayez dans 15 minutes.\n"
            )
        form = await request.post()
        account = None
        if self.accounts is not None:
            account = await asyncio.get_running_loop().run_in_executor(
                None,
                self.accounts.check,
                str(form.get("login", "")),
                str(form.get("mot_de_passe", "")),
            )
        if account is None:
            failures.append(now)
            self._count_failure(counted, failures, now)
            return self._page(
                "connexion.html", request, status=403, accounts=self.accounts is not None,
                error="Identifiant ou mot de passe incorrect.",
            )  # fmt: skip
        response = web.HTTPSeeOther("/")
        self._open(response, account.person, account.login)
        raise response

    def _count_failure(self, counted: str, failures: deque[float], now: float) -> None:
        """Keep ``failures`` under ``counted``; past :data:`FAILURES_KEPT` addresses, those
        whose failures are all over 15 minutes old are forgotten: the table stays bounded
        whatever the number of addresses that tried."""
        self._failures[counted] = failures
        if len(self._failures) > FAILURES_KEPT:
            for key in [k for k, v in self._failures.items() if not v or now - v[-1] > 900]:
                del self._failures[key]

    async def logout(self, request: web.Request) -> web.StreamResponse:
        self.sessions.pop(request.cookies.get(COOKIE, ""), None)
        response = web.HTTPSeeOther("/connexion")
        response.del_cookie(COOKIE, path="/")
        raise response

    async def service_page(self, request: web.Request) -> web.StreamResponse:
        self._need(request)
        service = self.services.get(request.match_info["service"])
        if service is None:
            raise web.HTTPNotFound(text="Service inconnu.")
        return self._page("service.html", request, service=service, limits=self.limits)

    async def start(self, request: web.Request) -> web.StreamResponse:
        session = self._need(request)
        form = await request.post()
        service = self.services.get(str(form.get("service", "")))
        if service is None:
            raise web.HTTPNotFound(text="Service inconnu.")
        try:
            run = await AttemptRun.start(
                self.browser, person=session.person, service=service, store=self.store,
                archive=self.archive, clock=self.clock, limits=self.limits, render=self.render,
            )  # fmt: skip
        except AttemptError as refusal:
            return self._page("service.html", request, status=429, service=service,
                              limits=self.limits, error=str(refusal))  # fmt: skip
        self.runs[run.id] = run
        raise web.HTTPSeeOther(f"/tentatives/{run.id}")

    async def attempt_page(self, request: web.Request) -> web.StreamResponse:
        session = self._need(request)
        run = self._run(request, session)
        run.touch()
        nxt = run.next_read_at()
        return self._page(
            "tentative.html",
            request,
            run=run,
            reads=[(n, r, _french(r)) for n, r in enumerate(run.reads)],
            next_read=None if nxt is None else nxt.astimezone(PARIS).strftime("%H:%M"),
            error=request.query.get("erreur", "")[:300],
            paris=_paris,
        )

    async def captcha_image(self, request: web.Request) -> web.StreamResponse:
        run = self._run(request, self._need(request))
        if run.image is None:
            raise web.HTTPNotFound(text="Aucun captcha à afficher.")
        kind = "image/png" if run.image.startswith(b"\x89PNG") else "application/octet-stream"
        return web.Response(body=run.image, content_type=kind)

    async def captcha_sound(self, request: web.Request) -> web.StreamResponse:
        run = self._run(request, self._need(request))
        sound = await run.sound()
        if sound is None:
            raise web.HTTPNotFound(text="Aucun son à écouter.")
        return web.Response(body=sound, content_type="audio/wav")

    async def answer(self, request: web.Request) -> web.StreamResponse:
        run = self._run(request, self._need(request))
        form = await request.post()
        try:
            await run.answer(str(form.get("code", "")))
        except AttemptError as refusal:
            raise _back(run, str(refusal)) from None
        raise _back(run)

    async def read_again(self, request: web.Request) -> web.StreamResponse:
        run = self._run(request, self._need(request))
        try:
            await run.read_again()
        except AttemptError as refusal:
            raise _back(run, str(refusal)) from None
        raise _back(run)

    async def stop(self, request: web.Request) -> web.StreamResponse:
        run = self._run(request, self._need(request))
        await run.stop(note="the person stopped the attempt")
        raise _back(run)

    async def screenshot(self, request: web.Request) -> web.StreamResponse:
        run = self._run(request, self._need(request))
        with contextlib.suppress(ValueError, IndexError):
            shot = run.reads[int(request.match_info["n"])].screenshot
            if shot is not None:
                return web.Response(body=shot, content_type="image/png")
        raise web.HTTPNotFound(text="Pas de capture.")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def proxy_networks(values: Iterable[str]) -> ProxyNetworks:
    """The ``--trusted-proxy`` addresses or networks (``127.0.0.1``, ``10.0.0.0/8``, ``::1``);
    ValueError names the one that is neither."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"{value!r} is not an IP address or network (e.g. 127.0.0.1, 10.0.0.0/8, ::1)"
            ) from None
    return tuple(networks)


def client_address(remote: str | None, forwarded: list[str], trusted: ProxyNetworks) -> str:
    """The address a failed login is counted against.

    The connection's own address, unless it is one of the reverse proxies the operator named:
    then the nearest address in ``X-Forwarded-For`` that is not a trusted proxy, read from the
    right, since each proxy appends the address it saw and only the left part can be forged by a
    client. A header that is missing or holds something other than addresses leaves the proxy's
    own address (one count for all, the safe side: never a count a client chose)."""
    if remote is None:
        return "?"
    if not trusted or not _within(remote, trusted) or not forwarded:
        return remote
    hops = [hop.strip() for line in forwarded for hop in line.split(",")]
    for hop in reversed(hops):
        address = _parsed(hop)
        if address is None:
            return remote
        if not any(address in network for network in trusted):
            return str(address)
    return remote


def failures_key(address: str) -> str:
    """What failed logins from ``address`` are counted under: an IPv4 address itself (an
    IPv4-mapped IPv6 one as IPv4), an IPv6 address's /64, as one subscriber is given a whole
    /64 and could otherwise try five passwords from each of its addresses."""
    parsed = _parsed(address)
    if parsed is None:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


def _parsed(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address, an IPv4-mapped IPv6 one as IPv4 (``::ffff:127.0.0.1`` from a socket that
    takes both is ``127.0.0.1`` of ``--trusted-proxy 127.0.0.1``); None when not one."""
    try:
        parsed = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped
    return parsed


def _within(address: str, networks: ProxyNetworks) -> bool:
    parsed = _parsed(address)
    return parsed is not None and any(parsed in network for network in networks)


async def serve_console(
    *,
    home: Path,
    store: Store,
    clock: Clock,
    services: list[Service],
    limits: Limits,
    host: str,
    port: int,
    accounts: Accounts | None,
    person: str | None,
    cadence: timedelta,
    secure_cookie: bool,
    ready: Callable[[str, Console], None],
    trusted_proxies: ProxyNetworks = (),
    executable: str = CHROMIUM,
) -> None:
    """Run the console until cancelled: one Chromium for the attempts, one for screenshots."""
    from playwright.async_api import async_playwright

    info = {"http-header-user-agent": ASSIST_USER_AGENT}
    with EvidenceArchive(home, store, clock, info=info) as archive:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=executable, args=list(CHROMIUM_ARGS), headless=True
            )
            async with Renderer(browser=browser) as renderer:

                async def render(probe_id: str) -> bytes:
                    return await renderer.render(load_probe(home, store, probe_id))

                console = Console(
                    services=services, store=store, archive=archive, clock=clock,
                    limits=limits, browser=browser, render=render, accounts=accounts,
                    person=person, cadence=cadence, secure_cookie=secure_cookie,
                    trusted_proxies=trusted_proxies,
                )  # fmt: skip
                runner = web.AppRunner(console.app(), access_log=None, handle_signals=False)
                await runner.setup()
                try:
                    await web.TCPSite(runner, host, port).start()
                    shown = f"[{host}]" if ":" in host else host
                    ready(f"http://{shown}:{runner.addresses[0][1]}", console)
                    await asyncio.Event().wait()
                finally:
                    await runner.cleanup()
            await browser.close()
