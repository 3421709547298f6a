"""The polite HTTP session every platform reader uses.

A probe walks a person's path on a booking site; this module makes sure that walk is gentle and
leaves evidence. The rules are structural, so a reader cannot forget them:

* one request at a time per host (scheme, host and port), shared by every probe of a run through
  :class:`HostGates`, and at least ``min_gap`` seconds of clock time between two requests to a host;
* ``robots.txt`` (RFC 9309) read before the first request to a host and obeyed, unless the operator
  recorded a reason to override it for that host (the probe then says so in ``overrides_used``);
* ``Retry-After`` honoured, a circuit breaker per host after a streak of failures;
* bounded time and size for every response, decompression included;
* fresh cookies per probe, an identifying User-Agent, redirects followed by hand so each hop passes
  the gate and is recorded;
* no field that carries a person's identity, and no captcha answer, ever leaves the robot.

Every request actually sent is handed to the ``on_exchange`` hook as an :class:`Exchange` (raw bytes
as received), and to the probe's ``trail`` as a :class:`~guichets.model.Step`.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import re
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from types import SimpleNamespace, TracebackType
from typing import Protocol
from urllib.parse import parse_qsl, urlencode

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from guichets.clock import Clock
from guichets.model import Detail, Step
from guichets.robots import PARSE_LIMIT, RobotsTxt, product_token

__all__ = [
    "DEFAULT_USER_AGENT",
    "PERSONAL_FIELDS",
    "ROBOTS_TTL",
    "TRUTH_PATHS",
    "Exchange",
    "FetchError",
    "ForbiddenRequest",
    "Guard",
    "HostGates",
    "PoliteSession",
    "Politeness",
    "Response",
    "Turn",
    "host_key",
    "refuse_truth",
]

# A platform's check of a request before it is sent: (method, URL as sent, form fields).
Guard = Callable[[str, URL, Mapping[str, str]], None]

DEFAULT_USER_AGENT = (
    "guichets/0.1 (+https://github.com/guichets/guichets; observatoire de l'acces aux guichets)"
)

# Field names that carry a person's identity, or answer a captcha meant for a person. A name ending
# in "_" is a prefix. Compared case-insensitively with form fields and query parameters.
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
    "captchaUsercode",
    "h-captcha-response",
    "captcha",
    "captchacode",
)
# The simulator's truth about captchas, which stands in for a person's eyes in tests: the robot
# never asks it, even by a redirect (checked on every hop).
TRUTH_PATHS = ("/_captcha/",)

# RFC 9309 2.4: a cached robots.txt is used for at most 24 hours. Only an answer (2xx, 4xx) is
# shared by the run; an unreachable robots.txt forbids everything for the rest of that probe only,
# so a passing outage neither stops a host's probes for a day nor is reported by probes that did
# not see it.
ROBOTS_TTL = 24 * 3600.0
ROBOTS_MAX_REDIRECTS = 5  # RFC 9309 2.3.1.2

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
_MAX_RETRY_AFTER = 10 * 365 * 86400.0  # a sane ceiling for absurd values
_FORM = "application/x-www-form-urlencoded"
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


@dataclass(frozen=True)
class Politeness:
    """How gently the robot treats a site; one per run, shared by every probe."""

    user_agent: str = DEFAULT_USER_AGENT  # identifying, with a contact URL; configurable
    min_gap: float = 1.0  # seconds (clock time) between two requests to one host
    timeout: float = 20.0  # wall seconds per request, whole response included
    max_bytes: int = 2_000_000  # per response body, raw and decompressed
    max_redirects: int = 5
    max_retry_wait: float = 120.0  # longest Retry-After a probe waits; longer => rate_limited
    # False skips robots.txt for every host. Only for tests against local servers: an observatory
    # that ignores robots.txt would not be polite. To override one host, use robots_overrides.
    obey_robots: bool = True
    robots_overrides: Mapping[str, str] = field(default_factory=dict)  # host -> operator's reason
    breaker_failures: int = 5  # consecutive failures that open a host's circuit
    breaker_cooldown: float = 600.0  # clock seconds before one trial request

    def __post_init__(self) -> None:
        if not product_token(self.user_agent):
            raise ValueError(
                f"user_agent {self.user_agent!r} has no product token; "
                "it must identify the robot, e.g. " + repr(DEFAULT_USER_AGENT)
            )
        if self.min_gap < 0 or self.max_retry_wait < 0 or self.breaker_cooldown < 0:
            raise ValueError("min_gap, max_retry_wait and breaker_cooldown cannot be negative")
        if self.timeout <= 0 or self.max_bytes <= 0:
            raise ValueError("timeout and max_bytes must be positive")
        if self.max_redirects < 0 or self.breaker_failures < 1:
            raise ValueError("max_redirects must be >= 0 and breaker_failures >= 1")
        for host, reason in self.robots_overrides.items():
            if not reason.strip():
                raise ValueError(f"the robots.txt override of {host!r} needs a reason")

    @property
    def token(self) -> str:
        """The product token robots.txt groups are matched on (``guichets``)."""
        return product_token(self.user_agent)


class FetchError(Exception):
    """A request that gave no usable response, or was not sent because a rule forbade it.

    ``detail`` is a :class:`~guichets.model.Detail` value: timeout, network, too_large,
    redirect_loop, robots, circuit_open or rate_limited.

    When robots.txt is unreachable RFC 9309 forbids everything, and nothing more is sent. If the
    site answered 5xx (or 429) the detail is ``robots`` and ``cause`` holds ``http_503`` and the
    like; if it did not answer at all, the detail is ``timeout`` or ``network``, because that is
    what the probe found: a site that was down, not a barrier.
    """

    def __init__(
        self,
        detail: str,
        url: str,
        message: str,
        *,
        status: int | None = None,
        cause: str | None = None,
    ) -> None:
        super().__init__(message)
        self.detail = str(detail)
        self.url = url
        self.message = message
        self.status = status
        self.cause = cause

    def __repr__(self) -> str:
        return f"FetchError({self.detail!r}, {self.url!r}, {self.message!r})"


class ForbiddenRequest(Exception):
    """A programming error: the code tried to send what a person sends only to book."""


@dataclass(frozen=True)
class Exchange:
    """One HTTP request actually sent, and what came back: the evidence."""

    probe_id: str | None
    method: str
    url: str
    request_headers: tuple[tuple[str, str], ...]
    request_body: bytes
    status: int | None
    reason: str
    http_version: str
    response_headers: tuple[tuple[str, str], ...]  # as received (raw, order kept)
    raw_body: bytes  # as received on the wire, before content decoding (gzip stays gzip)
    started_at: datetime  # clock time when sent (UTC)
    elapsed: float  # wall seconds
    error: str | None  # Detail value when the exchange failed; "cancelled" if the probe was
    remote: str | None  # peer IP when known


@dataclass(frozen=True)
class Response:
    """A final response (redirects followed), its body decoded and bounded."""

    url: str
    status: int
    reason: str
    headers: CIMultiDictProxy[str]
    body: bytes  # decoded content (gzip/deflate undone, bounded)
    history: tuple[str, ...] = ()  # URLs of the redirects followed, in order

    @property
    def content_type(self) -> str:
        """The media type, lower case, without parameters (``text/html``)."""
        return self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()

    @property
    def text(self) -> str:
        """The body as text; never raises, whatever the bytes (bad ones become U+FFFD)."""
        charset = _charset(self.headers.get("Content-Type", ""), self.body)
        try:
            return self.body.decode(charset, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")


def host_key(url: str | URL) -> str:
    """``scheme://host:port``, the unit of politeness (an explicit port, always)."""
    parsed = url if isinstance(url, URL) else URL(url)
    host = parsed.host or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parsed.scheme}://{host}:{parsed.port}"


@dataclass
class _RobotsVerdict:
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
        self.robots: _RobotsVerdict | None = None


class HostGates:
    """Shared by all probes of a run: per-host lock (one request at a time per host), time of the
    last request, Retry-After deadline, circuit breaker, robots.txt cache (at most 24 h, on the
    clock)."""

    def __init__(self, clock: Clock, politeness: Politeness | None = None) -> None:
        self.clock = clock
        self.politeness = politeness if politeness is not None else Politeness()
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
        seconds = _retry_after(retry, now) if retry is not None else None
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


@dataclass
class _Capture:
    """What one transfer got, filled as it arrives, so a failure still leaves evidence."""

    status: int | None = None
    reason: str = ""
    http_version: str = ""
    raw_headers: tuple[tuple[str, str], ...] = ()
    headers: CIMultiDictProxy[str] = field(
        default_factory=lambda: CIMultiDictProxy(CIMultiDict[str]())
    )
    raw_body: bytes = b""
    body: bytes = b""
    remote: str | None = None
    request_headers: tuple[tuple[str, str], ...] = ()
    error: str | None = None
    message: str = ""

    def fail(self, detail: str, message: str) -> None:
        self.error, self.message = str(detail), message


class _TooLarge(Exception):
    pass


class PoliteSession:
    """One probe's HTTP client: its own cookies, the run's gates.

    ``async with PoliteSession(gates, probe_id=..., on_exchange=hook) as s:``
    """

    def __init__(
        self,
        gates: HostGates,
        *,
        probe_id: str | None = None,
        on_exchange: Callable[[Exchange], None] | None = None,
    ) -> None:
        self.gates = gates
        self.probe_id = probe_id
        self.requests = 0  # requests actually sent, robots.txt included
        self.trail: list[Step] = []  # one Step per request sent
        self.overrides_used: set[str] = set()  # hosts whose robots.txt was overridden
        self._on_exchange = on_exchange
        self._guards: list[Guard] = []
        self._session: aiohttp.ClientSession | None = None
        self._unreachable: dict[str, _RobotsVerdict] = {}  # robots.txt, this probe only

    @property
    def clock(self) -> Clock:
        return self.gates.clock

    @property
    def cookie_jar(self) -> aiohttp.abc.AbstractCookieJar:
        return self._client().cookie_jar

    async def __aenter__(self) -> PoliteSession:
        polite = self.gates.politeness
        trace = aiohttp.TraceConfig()
        trace.on_request_headers_sent.append(_headers_sent)
        self._session = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),  # unsafe: cookies also on 127.0.0.1
            auto_decompress=False,  # the raw bytes are evidence; we decode, bounded
            timeout=aiohttp.ClientTimeout(total=polite.timeout),
            headers={
                "User-Agent": polite.user_agent,
                "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                "Accept-Encoding": "gzip, deflate",
                "Accept-Language": "fr-FR,fr;q=0.9",
            },
            trace_configs=[trace],
            trust_env=False,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("use the session inside `async with PoliteSession(...) as s:`")
        return self._session

    # -- public ---------------------------------------------------------------------------------

    def add_guard(self, guard: Guard) -> None:
        """Check every request, redirect hops included, before it is sent.

        A reader adds its platform's guard here, so that a redirect or a form action chosen by the
        site cannot lead the robot into a booking step: the guard sees the URL as it will be sent
        (percent-encoding decoded) and the form fields, and raises ForbiddenRequest to refuse.
        """
        self._guards.append(guard)

    async def get(self, url: str) -> Response:
        """GET ``url``, following redirects; raises FetchError or ForbiddenRequest."""
        target = _absolute(url)
        _refuse_personal(target.query.keys(), url)
        return await self._follow("GET", target, None)

    async def post(self, url: str, data: Mapping[str, str]) -> Response:
        """POST a form (``application/x-www-form-urlencoded``), following redirects."""
        target = _absolute(url)
        _refuse_personal([*target.query.keys(), *data.keys()], url)
        body = urlencode(list(data.items())).encode("ascii")
        return await self._follow("POST", target, body)

    # -- redirects, robots ----------------------------------------------------------------------

    async def _follow(self, method: str, target: URL, body: bytes | None) -> Response:
        """Each hop is its own request: it passes robots.txt, the gate, and the evidence hook."""
        history: list[str] = []
        while True:
            refuse_truth(target)
            if self._guards:
                fields = dict(parse_qsl(body.decode("ascii"))) if body else {}
                for guard in self._guards:
                    guard(method, target, fields)
            await self._check_robots(target)
            got = await self._exchange(method, target, body)
            following = self._next_hop(target, got) if got.status in _REDIRECTS else None
            if following is None:
                return Response(
                    str(target), got.status or 0, got.reason, got.headers, got.body, tuple(history)
                )
            if len(history) >= self.gates.politeness.max_redirects:
                raise FetchError(
                    Detail.REDIRECT_LOOP,
                    str(target),
                    f"more than {self.gates.politeness.max_redirects} redirects from "
                    f"{history[0] if history else target}",
                    status=got.status,
                )
            history.append(str(target))
            if got.status != 307 and got.status != 308 and method != "GET":
                method, body = "GET", None  # 301/302/303 after a POST: a browser GETs
            target = following

    @staticmethod
    def _next_hop(current: URL, got: _Capture) -> URL | None:
        location = got.headers.get("Location", "").strip()
        if not location:
            return None
        try:
            following = current.join(URL(location)).with_fragment(None)
        except (ValueError, TypeError):
            return None  # an unreadable Location: the reader sees the 3xx itself
        if following.scheme not in ("http", "https") or not following.host:
            return None
        return following

    async def _check_robots(self, target: URL) -> None:
        polite = self.gates.politeness
        if not polite.obey_robots:
            return
        override = self.gates.override_for(target)
        if override is not None:
            self.overrides_used.add(override)
            return
        verdict = await self._robots(target)
        if verdict.rules.allowed(target.raw_path_qs, polite.token):
            return
        if verdict.cause in (Detail.TIMEOUT, Detail.NETWORK):
            raise FetchError(
                verdict.cause,
                str(target),
                f"robots.txt of {host_key(target)} could not be fetched ({verdict.source}); "
                "RFC 9309 then forbids everything, so nothing else was requested",
                cause=verdict.cause,
            )
        if verdict.cause is not None:
            message = (
                f"robots.txt of {host_key(target)} was unreachable ({verdict.source}); "
                "RFC 9309 then forbids everything, so nothing else was requested"
            )
        else:
            rule = verdict.rules.deciding_rule(target.raw_path_qs, polite.token)
            which = f"Disallow: {rule.pattern}" if rule is not None else "its rules"
            message = (
                f"robots.txt of {host_key(target)} forbids this address to {polite.token} ({which})"
            )
        raise FetchError(Detail.ROBOTS, str(target), message, cause=verdict.cause)

    async def _robots(self, target: URL) -> _RobotsVerdict:
        """The host's robots.txt verdict: from this probe, from the run's cache, or fetched."""
        key = host_key(target)
        if key in self._unreachable:
            return self._unreachable[key]
        host = self.gates._host(target)
        async with host.robots_lock:
            cached = host.robots
            if cached is not None and self.clock.now() < cached.expires:
                return cached
            verdict = await self._fetch_robots(target)
            if verdict.cause is None:
                host.robots = verdict
            else:
                self._unreachable[key] = verdict
            return verdict

    async def _fetch_robots(self, target: URL) -> _RobotsVerdict:
        """RFC 9309 2.3.1: 2xx parse, 4xx allow all, 5xx or no answer forbid all."""
        url = target.origin().with_path("/robots.txt")
        limit = min(PARSE_LIMIT, self.gates.politeness.max_bytes)
        for _ in range(ROBOTS_MAX_REDIRECTS + 1):
            try:
                got = await self._exchange("GET", url, None, limit=limit, robots=True)
            except FetchError as exc:
                if exc.detail in (Detail.TIMEOUT, Detail.NETWORK, Detail.TOO_LARGE):
                    return self._verdict(RobotsTxt.disallow_all(), exc.detail, exc.detail)
                raise  # circuit_open, rate_limited: nothing learned, nothing cached
            status = got.status or 0
            if status in _REDIRECTS:
                following = self._next_hop(url, got)
                if following is not None:
                    url = following
                    continue
            if 200 <= status < 300:
                return self._verdict(RobotsTxt.parse(got.body), f"HTTP {status}")
            if status == 429 or status >= 500:  # 429 like 5xx, as Google does: we are unwelcome
                cause = Detail.http(status)
                return self._verdict(RobotsTxt.disallow_all(), f"HTTP {status}", cause)
            return self._verdict(RobotsTxt.allow_all(), f"HTTP {status}")
        return self._verdict(RobotsTxt.allow_all(), "too many redirects")  # RFC: unavailable

    def _verdict(self, rules: RobotsTxt, source: str, cause: str | None = None) -> _RobotsVerdict:
        expires = self.clock.now() + timedelta(seconds=ROBOTS_TTL)
        return _RobotsVerdict(rules, expires, source, cause)

    # -- one request ----------------------------------------------------------------------------

    async def _exchange(
        self,
        method: str,
        url: URL,
        body: bytes | None,
        *,
        limit: int | None = None,
        robots: bool = False,
    ) -> _Capture:
        """Send one request through the host's gate; record it; raise FetchError if it failed.

        ``robots`` reads at most ``limit`` bytes and keeps them instead of failing: RFC 9309 parses
        the first 500 KiB of a larger file.
        """
        gates = self.gates
        got = _Capture()
        started_at: datetime | None = None
        elapsed = 0.0
        try:
            async with gates.turn(url) as turn:
                started_at = self.clock.now()
                begin = time.perf_counter()
                self.requests += 1
                try:
                    await self._transfer(method, url, body, got, limit, truncate=robots)
                except asyncio.CancelledError:
                    got.fail("cancelled", "the probe was cancelled during the request")
                    raise
                except Exception as exc:  # a bug, surely; still leave the evidence
                    got.fail("error", f"unexpected error: {_describe(exc)}")
                    raise
                finally:
                    elapsed = time.perf_counter() - begin
                    turn.record(got.status, got.error, got.headers.get("Retry-After"))
        finally:
            if started_at is not None:  # sent: evidence, outside the lock (a hook may be slow)
                self._evidence(method, url, body, got, started_at, elapsed, robots)
        if got.error is not None:
            raise FetchError(got.error, str(url), got.message, status=got.status)
        return got

    def _evidence(
        self,
        method: str,
        url: URL,
        body: bytes | None,
        got: _Capture,
        started_at: datetime,
        elapsed: float,
        robots: bool,
    ) -> None:
        note = "; ".join(n for n in ("robots.txt" if robots else "", got.error or "") if n)
        self.trail.append(Step(method, str(url), got.status, started_at, note))
        if self._on_exchange is None:
            return
        request_headers = got.request_headers or tuple(self._client().headers.items())
        self._on_exchange(
            Exchange(
                probe_id=self.probe_id,
                method=method,
                url=str(url),
                request_headers=request_headers,
                request_body=body or b"",
                status=got.status,
                reason=got.reason,
                http_version=got.http_version,
                response_headers=got.raw_headers,
                raw_body=got.raw_body,
                started_at=started_at.astimezone(UTC),
                elapsed=elapsed,
                error=got.error,
                remote=got.remote,
            )
        )

    async def _transfer(
        self,
        method: str,
        url: URL,
        body: bytes | None,
        got: _Capture,
        limit: int | None,
        *,
        truncate: bool,
    ) -> None:
        """The wire: bounded in wall time and in bytes, raw and decoded."""
        polite = self.gates.politeness
        limit = polite.max_bytes if limit is None else limit
        headers = {"Content-Type": _FORM} if body is not None else {}
        sent = SimpleNamespace(headers=())
        try:
            async with asyncio.timeout(polite.timeout):
                response = await self._client().request(
                    method,
                    url,
                    data=body,
                    headers=headers,
                    allow_redirects=False,
                    trace_request_ctx=sent,
                )
                complete = False
                try:
                    got.status, got.reason = response.status, response.reason or ""
                    version = response.version
                    got.http_version = f"{version.major}.{version.minor}" if version else ""
                    got.raw_headers = tuple(
                        (k.decode("latin-1"), v.decode("latin-1")) for k, v in response.raw_headers
                    )
                    got.headers = response.headers
                    got.remote = _peer(response)
                    announced = response.content_length
                    if announced is not None and announced > limit and not truncate:
                        got.fail(
                            Detail.TOO_LARGE,
                            f"the response announces {announced} bytes, above the limit of {limit}",
                        )
                        return
                    complete = await _read_bounded(response, got, limit, truncate)
                finally:
                    if complete:
                        response.release()
                    else:
                        response.close()
        except TimeoutError:
            got.fail(Detail.TIMEOUT, f"no complete response within {polite.timeout:g} s")
            return
        except (aiohttp.ClientError, OSError) as exc:
            got.fail(Detail.NETWORK, f"network error: {_describe(exc)}")
            return
        finally:
            got.request_headers = got.request_headers or sent.headers
        if got.error is not None:
            return
        try:
            got.body = _decode(got.raw_body, got.headers.get("Content-Encoding", ""), limit)
        except _TooLarge:
            if not truncate:
                got.fail(
                    Detail.TOO_LARGE,
                    f"the body decompresses to more than {limit} bytes",
                )
                return
            got.body = _decode(got.raw_body, got.headers.get("Content-Encoding", ""), limit, True)
        except zlib.error as exc:
            got.fail(Detail.NETWORK, f"the body could not be decompressed: {exc}")


async def _headers_sent(
    session: aiohttp.ClientSession,
    context: SimpleNamespace,
    params: aiohttp.TraceRequestHeadersSentParams,
) -> None:
    """Keep the headers really sent (cookies included) for the evidence."""
    holder = context.trace_request_ctx
    if isinstance(holder, SimpleNamespace):
        holder.headers = tuple(params.headers.items())


async def _read_bounded(
    response: aiohttp.ClientResponse, got: _Capture, limit: int, truncate: bool
) -> bool:
    """Read the raw body; never hold more than ``limit`` bytes. True when read to its end."""
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.content.iter_chunked(_CHUNK):
            if size + len(chunk) > limit:
                chunks.append(chunk[: limit - size])
                if not truncate:
                    got.fail(
                        Detail.TOO_LARGE,
                        f"the body grew past the limit of {limit} bytes; reading stopped",
                    )
                return False
            chunks.append(chunk)
            size += len(chunk)
        return True
    finally:
        got.raw_body = b"".join(chunks)


def _decode(raw: bytes, encoding: str, limit: int, truncate: bool = False) -> bytes:
    """Undo gzip/deflate, bounded: a gzip bomb stops at ``limit`` bytes of output.

    An encoding we did not ask for (``br``...) is left as it came: the reader sees bytes it does not
    recognise, which is the honest finding.
    """
    data = raw
    for coding in reversed([c.strip().lower() for c in encoding.split(",") if c.strip()]):
        if not data:
            break
        if coding in ("gzip", "x-gzip"):
            data = _inflate(data, 16 + zlib.MAX_WBITS, limit, truncate, members=True)
        elif coding == "deflate":
            try:
                data = _inflate(data, zlib.MAX_WBITS, limit, truncate)
            except zlib.error:  # servers often send raw deflate without the zlib wrapper
                data = _inflate(data, -zlib.MAX_WBITS, limit, truncate)
        elif coding != "identity":
            break
    return data


def _inflate(data: bytes, wbits: int, limit: int, truncate: bool, members: bool = False) -> bytes:
    out = bytearray()
    pending = data
    while pending:
        inflater = zlib.decompressobj(wbits)
        chunk = pending
        while chunk:
            out += inflater.decompress(chunk, limit + 1 - len(out))
            if len(out) > limit:
                if truncate:
                    return bytes(out[:limit])
                raise _TooLarge
            chunk = inflater.unconsumed_tail
            if inflater.eof:
                break
        pending = inflater.unused_data if members and inflater.eof else b""
        if pending[:2] != b"\x1f\x8b":
            break  # trailing padding after the last gzip member
    return bytes(out)


def _peer(response: aiohttp.ClientResponse) -> str | None:
    """The server's IP, best effort: a small body read at once has released the connection
    already, so the protocol the response started on is asked too (aiohttp keeps it)."""
    for holder in (response.connection, getattr(response, "_protocol", None)):
        transport = getattr(holder, "transport", None)
        if isinstance(transport, asyncio.BaseTransport):
            peer = transport.get_extra_info("peername")
            if isinstance(peer, tuple) and peer:
                return str(peer[0])
    return None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _charset(content_type: str, body: bytes) -> str:
    """BOM, then the Content-Type charset, then ``<meta charset>``, else UTF-8."""
    if body.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    for found in (_HEADER_CHARSET.search(content_type), _META_CHARSET.search(body[:4096])):
        if found is None:
            continue
        name = found.group(1)
        name = name.decode("ascii") if isinstance(name, bytes) else name
        try:
            info = codecs.lookup(name)
        except LookupError:
            continue
        if getattr(info, "_is_text_encoding", True):
            return info.name
    return "utf-8"


def _retry_after(value: str, now: datetime) -> float | None:
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


def _absolute(url: str) -> URL:
    target = URL(url)
    if target.scheme not in ("http", "https") or not target.host:
        raise ValueError(f"{url!r} is not an absolute http(s) URL")
    return target.with_fragment(None)


def _is_personal(name: str) -> bool:
    lowered = name.strip().lower()
    return any(
        lowered == f.lower() or (f.endswith("_") and lowered.startswith(f.lower()))
        for f in PERSONAL_FIELDS
    )


def refuse_truth(target: URL) -> None:
    """Raise before anything is sent to the simulator's captcha truth."""
    if any(part in target.path for part in TRUTH_PATHS):
        raise ForbiddenRequest(
            f"refused to ask {target}: what a captcha says is for a person's eyes only"
        )


def _refuse_personal(names: Iterable[str], url: str) -> None:
    """Raise before anything is sent if a field name carries identity or a captcha answer."""
    for name in names:
        if _is_personal(name):
            raise ForbiddenRequest(
                f"refused to send the field {name!r} to {url}: the robot never sends a person's "
                "identity or a captcha answer (see guichets.fetch.PERSONAL_FIELDS)"
            )
