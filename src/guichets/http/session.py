"""The polite HTTP session every platform reader uses: the rules of the other modules of
``guichets.http``, applied to every request.

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
import contextlib
import time
import zlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace, TracebackType
from urllib.parse import parse_qsl, urlencode

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from guichets.clock import Clock
from guichets.http.addresses import GuardedResolver, LocalAddressRefused
from guichets.http.decode import TooLarge, decode
from guichets.http.exchange import Exchange, FetchError, Response
from guichets.http.gates import ROBOTS_TTL, HostGates, RobotsVerdict, host_key
from guichets.http.personal import refuse_personal, refuse_truth
from guichets.http.robots import PARSE_LIMIT, RobotsTxt
from guichets.model import Detail, Step

__all__ = ["ROBOTS_MAX_REDIRECTS", "Guard", "PoliteSession", "absolute_url"]

# A platform's check of a request before it is sent: (method, URL as sent, form fields).
Guard = Callable[[str, URL, Mapping[str, str]], None]

ROBOTS_MAX_REDIRECTS = 5  # RFC 9309 2.3.1.2

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
_FORM = "application/x-www-form-urlencoded"


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
        home: str | None = None,
        other_hosts: Collection[str] = (),
        allow_local: bool = False,
    ) -> None:
        self.gates = gates
        # Whether host names may resolve to loopback or private addresses: only for a catalogue
        # of simulated sites (``allow_local = true``) and tests; see ``http.addresses``.
        self.allow_local = allow_local
        self.probe_id = probe_id
        # The hosts this probe may talk to: the booking URL's (``home``, else the first request's)
        # and those the catalogue allows. A redirect or a form elsewhere is not followed: what the
        # robot's network can reach must not end up archived, rendered and published.
        self._hosts = {_host_name(h) for h in other_hosts}
        self._home: str | None = None
        if home is not None:
            with contextlib.suppress(ValueError):  # an unusable URL fails on its first request
                self._home = _host_name(absolute_url(home).host or "")
        self.requests = 0  # requests actually sent, robots.txt included
        self.trail: list[Step] = []  # one Step per request sent
        self.overrides_used: set[str] = set()  # hosts whose robots.txt was overridden
        self._on_exchange = on_exchange
        self._guards: list[Guard] = []
        self._session: aiohttp.ClientSession | None = None
        self._resolver: GuardedResolver | None = None
        self._unreachable: dict[str, RobotsVerdict] = {}  # robots.txt, this probe only

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
        # Every connection, redirect hops and robots.txt included, asks this resolver for its
        # addresses: none in the robot's own network unless allow_local.
        self._resolver = GuardedResolver(self.gates.resolver, allow_local=self.allow_local)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(resolver=self._resolver),
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
        if self._resolver is not None:
            await self._resolver.close()
            self._resolver = None

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
        target = absolute_url(url)
        refuse_personal(target.query.keys(), url)
        return await self._follow("GET", target, None)

    async def post(self, url: str, data: Mapping[str, str]) -> Response:
        """POST a form (``application/x-www-form-urlencoded``), following redirects."""
        target = absolute_url(url)
        refuse_personal([*target.query.keys(), *data.keys()], url)
        body = urlencode(list(data.items())).encode("ascii")
        return await self._follow("POST", target, body)

    # -- redirects, robots ----------------------------------------------------------------------

    async def _follow(self, method: str, target: URL, body: bytes | None) -> Response:
        """Each hop is its own request: it passes robots.txt, the gate, and the evidence hook."""
        history: list[str] = []
        while True:
            refuse_truth(target)
            self._refuse_off_site(target, history)
            fields = dict(parse_qsl(body.decode("ascii"))) if body else {}
            # Every hop, not only the first: a redirect may put a personal field in the query.
            refuse_personal([*target.query.keys(), *fields], str(target))
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

    def _refuse_off_site(self, target: URL, history: list[str]) -> None:
        host = _host_name(target.host or "")
        if self._home is None:
            self._home = host
        if host == self._home or host in self._hosts:
            return
        where = f"a redirect from {history[-1]}" if history else "the page's form or link"
        raise FetchError(
            Detail.OFF_SITE,
            str(target),
            f"{where} leads to another host, {host}, not followed: the robot stays on the "
            f"booking site's host ({self._home}); if {host} belongs to the booking service, "
            "list it in the catalogue's other_hosts",
        )

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

    async def _robots(self, target: URL) -> RobotsVerdict:
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

    async def _fetch_robots(self, target: URL) -> RobotsVerdict:
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

    def _verdict(self, rules: RobotsTxt, source: str, cause: str | None = None) -> RobotsVerdict:
        expires = self.clock.now() + timedelta(seconds=ROBOTS_TTL)
        return RobotsVerdict(rules, expires, source, cause)

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
        except aiohttp.ClientConnectorError as exc:
            refused = exc.os_error
            if isinstance(refused, LocalAddressRefused):
                got.fail(Detail.OFF_SITE, str(refused))  # nothing was sent
            else:
                got.fail(Detail.NETWORK, f"network error: {_describe(exc)}")
            return
        except (aiohttp.ClientError, OSError) as exc:
            got.fail(Detail.NETWORK, f"network error: {_describe(exc)}")
            return
        finally:
            got.request_headers = got.request_headers or sent.headers
        if got.error is not None:
            return
        try:
            got.body = decode(got.raw_body, got.headers.get("Content-Encoding", ""), limit)
        except TooLarge:
            if not truncate:
                got.fail(
                    Detail.TOO_LARGE,
                    f"the body decompresses to more than {limit} bytes",
                )
                return
            got.body = decode(got.raw_body, got.headers.get("Content-Encoding", ""), limit, True)
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


def _host_name(host: str) -> str:
    """A host as compared: lowercase, without a final dot or IPv6 brackets."""
    return host.strip().lower().rstrip(".").strip("[]")


def absolute_url(url: str) -> URL:
    target = URL(url)
    if target.scheme not in ("http", "https") or not target.host:
        raise ValueError(f"{url!r} is not an absolute http(s) URL")
    return target.with_fragment(None)
