"""The simulator's web server: many fake prefecture sites on loopback, and the truth about them.

Sites live either under a path prefix of one address (``http://127.0.0.1:8765/isere/...``), or each
on its own loopback address at the root (``http://127.1.0.3:8765/...``), which is what per-host
politeness and ``robots.txt`` need. Beside the sites, endpoints whose names start with ``_`` answer
what was really bookable (``/_truth``), what a captcha says (``/_captcha/{token}``, for tests
that stand in for a person's eyes), which requests a person would have sent only to book
(``/_forbidden``), and what time the simulation is at (``/_clock``).
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from email.utils import formatdate
from typing import Literal

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from guichets.clock import Clock, SimulatedClock, ensure_utc, parse_instant
from guichets.simulator.groundtruth import ServiceTruth, World
from guichets.simulator.platforms import PLATFORMS
from guichets.simulator.platforms.base import (
    PERSONAL_FIELDS,
    Exchange,
    PlatformExtras,
    PlatformSimulator,
    SiteContext,
)
from guichets.simulator.scenario import ScenarioConfig, SiteConfig

__all__ = ["ForbiddenRequest", "HostMode", "Simulator", "require_loopback"]

HostMode = Literal["path", "loopback"]
MAX_TIMELINE = timedelta(days=400)

_GATEWAY_PAGES = {
    "http_502": (502, "502 Bad Gateway"),
    "http_503": (503, "503 Service Temporarily Unavailable"),
    "http_504": (504, "504 Gateway Time-out"),
}


def require_loopback(host: str) -> None:
    """Refuse any address but loopback: the simulator is a test bed, never a public server."""
    if host == "localhost":
        return
    try:
        ok = ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"{host!r} is not a loopback address; the simulator listens only on 127.0.0.0/8 or ::1"
        )


def _nginx(status: int, title: str) -> web.Response:
    body = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
    return web.Response(text=body, status=status, content_type="text/html")


def _json(data: object, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(data, ensure_ascii=False, indent=1),
        status=status,
        content_type="application/json",
    )


def format_date_time(timestamp: float) -> str:
    return formatdate(timestamp, usegmt=True)


def _loopback_address(index: int) -> str:
    return f"127.1.{index // 250}.{index % 250 + 1}"


@dataclass(frozen=True)
class ForbiddenRequest:
    """A request that only someone booking would send. The robot must never send one."""

    at: str
    site: str
    method: str
    path: str
    reason: str
    user_agent: str


class _Clients:
    """Recent requests per client of one site, on the simulated clock, for throttling and blocks."""

    def __init__(self, site: SiteConfig) -> None:
        self._site = site
        self._recent: dict[str, deque[datetime]] = {}
        self._blocked_until: dict[str, datetime] = {}

    def refusal(self, client: str, user_agent: str, now: datetime) -> web.Response | None:
        block, throttle = self._site.block, self._site.throttle
        if block and any(_search(p, user_agent) for p in block.user_agents):
            return self._forbidden()
        until = self._blocked_until.get(client)
        if until is not None and now < until:
            return self._forbidden()
        recent = self._recent.setdefault(client, deque())
        horizon = max(
            block.burst_seconds if block else 0.0, throttle.per_seconds if throttle else 0.0
        )
        while recent and (now - recent[0]).total_seconds() >= horizon:
            recent.popleft()
        if block and block.burst is not None:
            window = [t for t in recent if (now - t).total_seconds() < block.burst_seconds]
            if len(window) >= block.burst:
                self._blocked_until[client] = now + timedelta(minutes=block.blocked_minutes)
                return self._forbidden()
        if throttle:
            window = [t for t in recent if (now - t).total_seconds() < throttle.per_seconds]
            if len(window) >= throttle.max_requests:
                headers = {"Retry-After": str(throttle.retry_after)}
                if throttle.status == 429:
                    return web.Response(status=429, text="Too Many Requests", headers=headers)
                response = _nginx(502, "502 Bad Gateway")
                response.headers.update(headers)
                return response
        recent.append(now)
        return None

    @staticmethod
    def _forbidden() -> web.Response:
        return web.Response(
            status=403,
            content_type="text/html",
            text="<html><head><title>403 Forbidden</title></head><body><h1>Accès refusé</h1>"
            "<p>Votre adresse a été bloquée.</p></body></html>",
        )


def _search(pattern: str, text: str) -> bool:
    return re.search(pattern, text) is not None


class Simulator:
    """Hosts a scenario's sites on loopback; use as ``async with Simulator(...) as sim``."""

    def __init__(
        self,
        scenario: ScenarioConfig,
        *,
        clock: Clock,
        seed: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        hosts: HostMode = "path",
        log_requests: bool = False,
        keep: timedelta | None = None,
    ) -> None:
        require_loopback(host)
        self.scenario = scenario
        self.clock = clock
        # ``keep``: the truth of only that much past is kept (a long in-process run, the demo)
        self.world = World.from_scenario(scenario, seed, keep)
        self.host = host
        self.port = port
        self.hosts = hosts
        self.forbidden: list[ForbiddenRequest] = []
        self.requests: Counter[str] = Counter()
        # (site, wall-clock arrival, path) of every request to a site, when asked: what tests and
        # benchmarks read to check the robot's gaps per host, several processes together.
        self.request_log: list[tuple[str, float, str]] | None = [] if log_requests else None
        self._sites: dict[str, SiteContext] = {}
        self._by_address: dict[str, SiteContext] = {}
        self._clients: dict[str, _Clients] = {}
        self._runner: web.AppRunner | None = None
        for index, site in enumerate(scenario.sites):
            own = hosts == "loopback"
            services = [self.world.services[s.id] for s in site.services]
            context = SiteContext(site, "" if own else f"/{site.slug}", services)
            self._sites[site.slug] = context
            self._clients[site.slug] = _Clients(site)
            if own:
                self._by_address[_loopback_address(index)] = context

    # -- life cycle -----------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_get("/_truth", self._truth_index)
        app.router.add_get("/_truth/{service}", self._truth)
        app.router.add_get("/_truth/{service}/timeline", self._timeline)
        app.router.add_get("/_captcha/{token}", self._captcha_truth)
        app.router.add_get("/_forbidden", self._forbidden_list)
        app.router.add_delete("/_forbidden", self._forbidden_clear)
        app.router.add_get("/_clock", self._clock_get)
        app.router.add_post("/_clock", self._clock_set)
        app.router.add_get("/_sites", self._sites_list)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        app.on_response_prepare.append(self._headers)
        return app

    async def _headers(self, request: web.Request, response: web.StreamResponse) -> None:
        # Pages carry the simulated time, as a real server's Date header carries its own.
        response.headers["Date"] = format_date_time(self.clock.now().timestamp())
        response.headers["Server"] = "Apache"

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        main = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await main.start()
        self.port = self._runner.addresses[0][1]
        for address in self._by_address:
            await web.TCPSite(self._runner, address, self.port, reuse_address=True).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- addresses ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def site_url(self, slug: str) -> str:
        if self.hosts == "loopback":
            index = [s.slug for s in self.scenario.sites].index(slug)
            return f"http://{_loopback_address(index)}:{self.port}"
        return f"{self.base_url}/{slug}"

    def entry_urls(self) -> dict[str, str]:
        """The booking URL of every service, as a catalogue would list it."""
        out: dict[str, str] = {}
        for slug, context in self._sites.items():
            platform = PLATFORMS[context.config.platform]
            for service_id, parts in platform.urls(context, self.site_url(slug)).items():
                out[service_id] = parts[0]
        return out

    # -- the sites ------------------------------------------------------------------------------

    def _locate(self, request: web.Request) -> tuple[SiteContext | None, str]:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        if sockname and sockname[0] in self._by_address:
            return self._by_address[sockname[0]], request.path
        parts = request.path.split("/", 2)
        context = self._sites.get(parts[1]) if len(parts) > 1 else None
        if context is None or context.prefix == "":
            return None, request.path
        return context, "/" + (parts[2] if len(parts) > 2 else "")

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        site, path = self._locate(request)
        if site is not None and self.request_log is not None:
            self.request_log.append((site.config.slug, time.time(), request.path_qs))
        if site is None:
            if request.path == "/robots.txt":
                return web.Response(text="User-agent: *\nDisallow:\n")
            return _nginx(404, "404 Not Found")
        now = self.clock.now()
        form: MultiDictProxy[str] = MultiDictProxy(MultiDict())
        if request.method == "POST":
            posted = await request.post()
            form = MultiDictProxy(MultiDict((k, str(v)) for k, v in posted.items()))
        self.requests[site.config.slug] += 1
        exchange = Exchange(request, site, path, form, now)
        platform = PLATFORMS[site.config.platform]
        user_agent = request.headers.get("User-Agent", "")
        reason = self._personal(request, form) or platform.forbidden(exchange)
        if reason:
            self.forbidden.append(
                ForbiddenRequest(
                    now.isoformat(),
                    site.config.slug,
                    request.method,
                    request.path_qs,
                    reason,
                    user_agent,
                )
            )
            return web.Response(status=403, text=f"Refused by the simulator: {reason}\n")
        client = f"{request.remote}|{user_agent}"
        refusal = self._clients[site.config.slug].refusal(client, user_agent, now)
        if refusal is not None:
            if refusal.status == 403 and isinstance(platform, PlatformExtras):
                return platform.blocked_page(exchange)  # the site's firewall answers itself
            return refusal
        if path == "/robots.txt":
            return self._robots(site, platform)
        service = platform.service_of(exchange)
        spell = service.outages.at(now) if service else None
        if spell is not None and spell.kind == "firewall":
            return self._blocked(platform, exchange)
        if spell is not None:
            page = platform.outage(exchange, spell)
            if page is not None:
                return page
            status, title = _GATEWAY_PAGES[spell.kind]
            return _nginx(status, title)
        return await platform.handle(exchange)

    @staticmethod
    def _personal(request: web.Request, form: MultiDictProxy[str]) -> str | None:
        names = list(form.keys()) + list(request.query.keys())
        for name in names:
            if any(name == f or (f.endswith("_") and name.startswith(f)) for f in PERSONAL_FIELDS):
                return f"sent the personal-data field {name!r}"
        return None

    @staticmethod
    def _blocked(platform: PlatformSimulator, exchange: Exchange) -> web.StreamResponse:
        if isinstance(platform, PlatformExtras):
            return platform.blocked_page(exchange)
        return _Clients._forbidden()

    @staticmethod
    def _robots(context: SiteContext, platform: PlatformSimulator) -> web.Response:
        site = context.config
        if site.robots == "missing":
            return _nginx(404, "404 Not Found")
        if site.robots == "error":
            return _nginx(503, "503 Service Temporarily Unavailable")
        paths = ["/booking/", "/index.php/booking/"]
        if isinstance(platform, PlatformExtras):
            paths = platform.robots_disallow(context)
        rules = (
            "".join(f"Disallow: {path}\n" for path in paths)
            if site.robots == "disallow"
            else "Disallow:\n"
        )
        return web.Response(text=f"User-agent: *\n{rules}", content_type="text/plain")

    # -- the truth, the log, the clock ----------------------------------------------------------

    def _at(self, request: web.Request) -> datetime:
        text = request.query.get("at")
        return self.clock.now() if not text else parse_instant(text)

    async def _truth_index(self, request: web.Request) -> web.Response:
        urls = self.entry_urls()
        services = [
            {
                "service": s.id,
                "site": s.site.slug,
                "departement": s.site.departement,
                "procedure": s.config.procedure,
                "platform": s.site.platform,
                "url": urls[s.id],
                "plannings": list(s.counters),
                "captcha": s.site.platform == "rdvpref" and s.config.captcha,
                "security_check": s.config.security_check,
            }
            for s in self.world
        ]
        return _json({"now": self.clock.now().isoformat(), "services": services})

    def _service_or_error(
        self, request: web.Request
    ) -> tuple[ServiceTruth | None, web.Response | None]:
        name = request.match_info["service"]
        service = self.world.services.get(name)
        if service is None:
            known = sorted(self.world.services)
            return None, _json({"error": f"no service {name!r}", "services": known}, 404)
        planning = request.query.get("planning")
        if planning is not None and (
            not planning.isdigit() or int(planning) not in service.counters
        ):
            counters = list(service.counters)
            message = f"no planning {planning!r} in {name}; plannings are {counters}"
            return None, _json({"error": message}, 400)
        return service, None

    async def _truth(self, request: web.Request) -> web.Response:
        service, error = self._service_or_error(request)
        if error is not None:
            return error
        try:
            at = self._at(request)
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
        planning = request.query.get("planning")
        assert service is not None
        return _json(service.snapshot(at, int(planning) if planning else None))

    async def _captcha_truth(self, request: web.Request) -> web.Response:
        """What a captcha says, by its id or the SHA-256 of its image as served: the eyes of
        a test person. The robot's session refuses this path (fetch.TRUTH_PATHS)."""
        token = request.match_info["token"]
        for context in self._sites.values():
            captcha = context.captchas.truth(token)
            if captcha is not None:
                return _json(
                    {
                        "id": captcha.id,
                        "code": captcha.code,
                        "kind": captcha.kind,
                        "site": context.config.slug,
                        "drawn_at": captcha.created.isoformat(),
                        "answered": captcha.used,
                    }
                )
        return _json({"error": f"no captcha {token!r}"}, 404)

    async def _timeline(self, request: web.Request) -> web.Response:
        _, error = self._service_or_error(request)
        if error is not None:
            return error
        try:
            start = parse_instant(request.query["from"])
            end = parse_instant(request.query["to"])
        except KeyError:
            return _json({"error": "give both ?from= and ?to= as ISO 8601 instants"}, 400)
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
        if not start < end or end - start > MAX_TIMELINE:
            return _json({"error": "need from < to, at most 400 days apart"}, 400)
        planning = request.query.get("planning")
        segments, spells = self.world.timeline(
            request.match_info["service"], start, end, int(planning) if planning else None
        )
        return _json(
            {
                "service": request.match_info["service"],
                "from": start.isoformat(),
                "to": end.isoformat(),
                "segments": [
                    {
                        "start": s.start.isoformat(),
                        "end": s.end.isoformat(),
                        "free": s.free,
                        "first": s.first.isoformat() if s.first else None,
                        "second": s.second.isoformat() if s.second else None,
                    }
                    for s in segments
                ],
                "outages": [
                    {"start": o.start.isoformat(), "end": o.end.isoformat(), "kind": o.kind}
                    for o in spells
                ],
            }
        )

    async def _forbidden_list(self, request: web.Request) -> web.Response:
        return _json(
            {"count": len(self.forbidden), "requests": [asdict(f) for f in self.forbidden]}
        )

    async def _forbidden_clear(self, request: web.Request) -> web.Response:
        self.forbidden.clear()
        return _json({"count": 0, "requests": []})

    async def _clock_get(self, request: web.Request) -> web.Response:
        kind = type(self.clock).__name__
        return _json({"now": self.clock.now().isoformat(), "clock": kind})

    async def _clock_set(self, request: web.Request) -> web.Response:
        if not isinstance(self.clock, SimulatedClock):
            return _json({"error": "this simulator runs on a clock that cannot be set"}, 409)
        try:
            data = await request.json()
            if "advance" in data:
                self.clock.advance(float(data["advance"]))
            elif "set" in data:
                self.clock.set(ensure_utc(parse_instant(str(data["set"]))))
            else:
                raise ValueError('send {"advance": SECONDS} or {"set": "ISO 8601 instant"}')
        except (ValueError, TypeError, json.JSONDecodeError) as exc:
            return _json({"error": str(exc)}, 400)
        return _json({"now": self.clock.now().isoformat(), "clock": type(self.clock).__name__})

    async def _sites_list(self, request: web.Request) -> web.Response:
        urls = self.entry_urls()
        return _json(
            [
                {
                    "site": slug,
                    "name": ctx.config.name,
                    "departement": ctx.config.departement,
                    "platform": ctx.config.platform,
                    "url": self.site_url(slug),
                    "services": {s.id: urls[s.id] for s in ctx.services},
                }
                for slug, ctx in self._sites.items()
            ]
        )
