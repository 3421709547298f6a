"""The polite session against real aiohttp servers on loopback, some of them misbehaving.

Gaps, Retry-After, the breaker and robots.txt caching run on a SimulatedClock: the clock times
recorded in the trail are the evidence. Only the timeout tests spend wall time (0.3 s each).
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from aiohttp import web

from guichets.clock import SimulatedClock
from guichets.http import (
    DEFAULT_USER_AGENT,
    PERSONAL_FIELDS,
    Exchange,
    FetchError,
    ForbiddenRequest,
    HostGates,
    Politeness,
    PoliteSession,
    Response,
    host_key,
)
from guichets.model import Detail

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
MB = 1_000_000
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Hit:
    method: str
    path_qs: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Site:
    """A real HTTP server on 127.0.0.1 that records what it received."""

    routes: dict[str, Handler]
    base: str = ""
    hits: list[Hit] = field(default_factory=list)
    in_flight: int = 0
    peak: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str) -> str:
        return self.base + path

    def paths(self) -> list[str]:
        return [h.path_qs for h in self.hits]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            body = await request.read()
            self.hits.append(Hit(request.method, request.path_qs, dict(request.headers), body))
            handler = self.routes.get(request.path)
            if handler is None:
                return web.Response(status=404, text="not found")
            return await handler(request)
        finally:
            self.in_flight -= 1


@asynccontextmanager
async def serve(routes: Mapping[str, Handler]) -> AsyncIterator[Site]:
    site = Site(dict(routes))
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", site.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.2, access_log=None)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    host, port = runner.addresses[0][:2]
    site.base = f"http://{host}:{port}"
    try:
        yield site
    finally:
        site.stop.set()
        await runner.cleanup()


def text(body: str, status: int = 200, **headers: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(text=body, status=status, headers=headers)

    return handler


def raw(body: bytes, headers: Mapping[str, str] | None = None, status: int = 200) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, status=status, headers=dict(headers or {}))

    return handler


def redirect(location: str, status: int = 302) -> Handler:
    return text("", status=status, Location=location)


def polite(**changes: object) -> Politeness:
    """Local-test politeness: no robots.txt unless asked, no gap unless asked."""
    values: dict[str, object] = {"obey_robots": False, "min_gap": 0.0}
    values.update(changes)
    return Politeness(**values)  # type: ignore[arg-type]


def make_gates(**changes: object) -> HostGates:
    return HostGates(SimulatedClock(START), polite(**changes))


def seconds(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds()


async def closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on."""
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    server.close()
    await server.wait_closed()
    return port


# -- headers, cookies, evidence ----------------------------------------------------------------


async def test_identifying_headers_on_every_request() -> None:
    routes = {"/a": redirect("/b"), "/b": text("ok"), "/robots.txt": text("User-agent: *\n")}
    async with serve(routes) as site:
        gates = make_gates(obey_robots=True)
        exchanges: list[Exchange] = []
        async with PoliteSession(gates, probe_id="p1", on_exchange=exchanges.append) as s:
            await s.get(site.url("/a"))
            await s.post(site.url("/b"), {"q": "1"})
    assert site.paths() == ["/robots.txt", "/a", "/b", "/b"]
    for hit in site.hits:
        assert hit.headers["User-Agent"] == DEFAULT_USER_AGENT
        assert hit.headers["Accept-Encoding"] == "gzip, deflate"
        assert hit.headers["Accept-Language"] == "fr-FR,fr;q=0.9"
    assert site.hits[-1].headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert site.hits[-1].body == b"q=1"
    assert len(exchanges) == 4 == s.requests == len(s.trail)
    for exchange in exchanges:
        assert exchange.probe_id == "p1"
        assert dict(exchange.request_headers)["User-Agent"] == DEFAULT_USER_AGENT
        assert exchange.remote == "127.0.0.1"
        assert exchange.http_version == "1.1"
        assert exchange.started_at == START
    assert exchanges[-1].request_body == b"q=1"
    assert s.trail[0].note == "robots.txt"


async def test_fresh_cookies_per_probe() -> None:
    async def set_cookie(request: web.Request) -> web.StreamResponse:
        response = web.Response(text="set")
        response.set_cookie("sid", "probe-one")
        return response

    routes = {"/set": set_cookie, "/look": text("look")}
    async with serve(routes) as site:
        gates = make_gates()
        exchanges: list[Exchange] = []
        async with PoliteSession(gates, on_exchange=exchanges.append) as first:
            await first.get(site.url("/set"))
            await first.get(site.url("/look"))
        async with PoliteSession(gates) as second:
            await second.get(site.url("/look"))
    assert site.hits[1].headers.get("Cookie") == "sid=probe-one"  # 127.0.0.1: unsafe jar
    assert "Cookie" not in site.hits[2].headers
    assert ("Cookie", "sid=probe-one") in exchanges[1].request_headers  # as really sent


async def test_response_headers_raw_and_case_insensitive() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.Response(text="x")
        response.headers["X-First"] = "1"
        response.headers["x-second"] = "2"
        return response

    async with serve({"/h": handler}) as site:
        exchanges: list[Exchange] = []
        async with PoliteSession(make_gates(), on_exchange=exchanges.append) as s:
            response = await s.get(site.url("/h"))
    assert response.headers["x-first"] == "1" and response.headers["X-SECOND"] == "2"
    names = [name for name, _ in exchanges[0].response_headers]
    assert names.index("X-First") < names.index("x-second")
    assert exchanges[0].status == 200 and exchanges[0].reason == "OK"


def test_session_outside_async_with_is_refused() -> None:
    session = PoliteSession(make_gates())
    with pytest.raises(RuntimeError, match="async with"):
        session.cookie_jar  # noqa: B018


# -- per-host gate -----------------------------------------------------------------------------


async def test_min_gap_between_requests_to_one_host() -> None:
    async with serve({"/p": text("ok")}) as site:
        gates = make_gates(min_gap=5.0)
        exchanges: list[Exchange] = []
        async with PoliteSession(gates, on_exchange=exchanges.append) as s:
            for _ in range(3):
                await s.get(site.url("/p"))
    times = [step.at for step in s.trail]
    assert times[0] == START
    assert all(seconds(a, b) >= 5.0 for a, b in itertools.pairwise(times))
    assert [e.started_at for e in exchanges] == times


async def test_zero_gap_does_not_wait() -> None:
    async with serve({"/p": text("ok")}) as site:
        gates = make_gates(min_gap=0.0)
        async with PoliteSession(gates) as s:
            for _ in range(3):
                await s.get(site.url("/p"))
    assert [step.at for step in s.trail] == [START] * 3
    assert gates.clock.now() == START


async def test_two_hosts_interleave() -> None:
    async with serve({"/p": text("a")}) as a, serve({"/p": text("b")}) as b:
        assert host_key(a.url("/")) != host_key(b.url("/"))  # same IP, another port
        gates = make_gates(min_gap=10.0)
        async with PoliteSession(gates) as s:
            for _ in range(2):
                await s.get(a.url("/p"))
                await s.get(b.url("/p"))
    times = [seconds(START, step.at) for step in s.trail]
    assert times == [0.0, 0.0, 10.0, 10.0]  # b never waits for a


async def test_concurrent_sessions_never_overlap_on_one_host() -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.01)  # server-side work, so an overlap would be seen
        return web.Response(text="ok")

    async def probe(gates: HostGates, url: str) -> PoliteSession:
        async with PoliteSession(gates) as s:
            for _ in range(3):
                await s.get(url)
        return s

    async with serve({"/p": slow}) as site:
        gates = make_gates(min_gap=1.0)
        sessions = await asyncio.gather(*(probe(gates, site.url("/p")) for _ in range(4)))
        assert site.peak == 1
        times = sorted(step.at for s in sessions for step in s.trail)
        assert len(times) == 12
        assert all(seconds(a, b) >= 1.0 for a, b in itertools.pairwise(times))

        # the control: without a shared gate the server does see overlapping requests
        site.peak = 0
        await asyncio.gather(*(probe(make_gates(), site.url("/p")) for _ in range(4)))
        assert site.peak > 1


# -- redirects ---------------------------------------------------------------------------------


async def test_redirects_followed_hop_by_hop() -> None:
    routes = {
        "/r1": redirect("/r2", 301),
        "/r2": redirect("r3?x=1", 302),
        "/r3": redirect("/final#frag", 307),
        "/final": text("done"),
    }
    async with serve(routes) as site:
        gates = make_gates(min_gap=2.0)
        async with PoliteSession(gates) as s:
            response = await s.get(site.url("/r1"))
    assert response.status == 200 and response.text == "done"
    assert response.url == site.url("/final")
    assert response.history == (site.url("/r1"), site.url("/r2"), site.url("/r3?x=1"))
    assert [step.status for step in s.trail] == [301, 302, 307, 200]
    assert [seconds(START, step.at) for step in s.trail] == [0.0, 2.0, 4.0, 6.0]


@pytest.mark.parametrize(
    ("status", "method", "body"), [(301, "GET", b""), (302, "GET", b""), (303, "GET", b"")]
)
async def test_post_redirect_becomes_get(status: int, method: str, body: bytes) -> None:
    routes = {"/form": redirect("/next", status), "/next": text("next")}
    async with serve(routes) as site, PoliteSession(make_gates()) as s:
        await s.post(site.url("/form"), {"a": "1"})
    assert [(h.method, h.path_qs, h.body) for h in site.hits] == [
        ("POST", "/form", b"a=1"),
        (method, "/next", body),
    ]
    assert "Content-Type" not in site.hits[1].headers


@pytest.mark.parametrize("status", [307, 308])
async def test_307_308_keep_method_and_body(status: int) -> None:
    routes = {"/form": redirect("/next", status), "/next": text("next")}
    async with serve(routes) as site, PoliteSession(make_gates()) as s:
        await s.post(site.url("/form"), {"a": "1", "b": "é"})
    assert [(h.method, h.body) for h in site.hits] == [
        ("POST", b"a=1&b=%C3%A9"),
        ("POST", b"a=1&b=%C3%A9"),
    ]


async def test_redirect_loop() -> None:
    async with serve({"/loop": redirect("/loop")}) as site:
        gates = make_gates(max_redirects=5)
        async with PoliteSession(gates) as s:
            with pytest.raises(FetchError) as info:
                await s.get(site.url("/loop"))
    assert info.value.detail == Detail.REDIRECT_LOOP
    assert s.requests == 6 == len(site.hits)  # the first request and five redirects followed


# -- Retry-After -------------------------------------------------------------------------------


def limited_once(retry_after: Callable[[], str]) -> Handler:
    calls = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        if calls == 1:
            headers = {"Retry-After": retry_after()}
            return web.Response(status=429, text="slow down", headers=headers)
        return web.Response(text="ok")

    return handler


async def test_retry_after_seconds() -> None:
    async with serve({"/p": limited_once(lambda: "30")}) as site:
        gates = make_gates()
        async with PoliteSession(gates) as s:
            first = await s.get(site.url("/p"))
            second = await s.get(site.url("/p"))
    assert (first.status, second.status) == (429, 200)
    assert seconds(s.trail[0].at, s.trail[1].at) == 30.0


async def test_retry_after_http_date() -> None:
    clock = SimulatedClock(START)
    date = format_datetime(START + timedelta(seconds=45), usegmt=True)
    async with serve({"/p": limited_once(lambda: date)}) as site:
        gates = HostGates(clock, polite())
        async with PoliteSession(gates) as s:
            await s.get(site.url("/p"))
            await s.get(site.url("/p"))
    assert seconds(s.trail[0].at, s.trail[1].at) == 45.0


async def test_retry_after_too_long_is_rate_limited_without_sending() -> None:
    async with serve({"/p": limited_once(lambda: "3600")}) as site:
        gates = make_gates(max_retry_wait=120.0)
        async with PoliteSession(gates) as s:
            await s.get(site.url("/p"))
            with pytest.raises(FetchError) as info:
                await s.get(site.url("/p"))
        async with PoliteSession(gates) as other:  # the deadline is the host's, not the probe's
            with pytest.raises(FetchError):
                await other.get(site.url("/p"))
    assert info.value.detail == Detail.RATE_LIMITED
    assert len(site.hits) == 1 and s.requests == 1 and other.requests == 0


# -- circuit breaker ---------------------------------------------------------------------------


def switchable(state: dict[str, int]) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=state["status"], text=str(state["status"]))

    return handler


async def test_breaker_opens_after_a_5xx_streak_and_recovers() -> None:
    state = {"status": 503}
    async with serve({"/p": switchable(state)}) as site:
        clock = SimulatedClock(START)
        gates = HostGates(clock, polite(breaker_failures=3, breaker_cooldown=600.0))
        async with PoliteSession(gates) as s:
            for _ in range(3):
                assert (await s.get(site.url("/p"))).status == 503
            with pytest.raises(FetchError) as info:
                await s.get(site.url("/p"))
            assert info.value.detail == Detail.CIRCUIT_OPEN
            assert len(site.hits) == 3
            assert gates.circuit_open(site.url("/"))

            clock.advance(599)
            with pytest.raises(FetchError):
                await s.get(site.url("/p"))
            clock.advance(1)
            # half-open: one trial, which fails: open again at once
            assert (await s.get(site.url("/p"))).status == 503
            assert len(site.hits) == 4
            with pytest.raises(FetchError):
                await s.get(site.url("/p"))

            clock.advance(600)
            state["status"] = 200
            assert (await s.get(site.url("/p"))).status == 200  # the trial succeeds: closed
            state["status"] = 500
            for _ in range(2):
                await s.get(site.url("/p"))
            assert not gates.circuit_open(site.url("/"))  # the count started again
    assert len(site.hits) == 7


async def test_other_responses_reset_the_breaker() -> None:
    state = {"status": 500}
    async with serve({"/p": switchable(state)}) as site:
        gates = make_gates(breaker_failures=3)
        async with PoliteSession(gates) as s:
            for status in (500, 500, 404, 500, 500):
                state["status"] = status
                await s.get(site.url("/p"))
    assert not gates.circuit_open(site.url("/"))
    assert len(site.hits) == 5


async def test_network_errors_open_the_breaker() -> None:
    url = f"http://127.0.0.1:{await closed_port()}/p"
    gates = make_gates(breaker_failures=2)
    exchanges: list[Exchange] = []
    async with PoliteSession(gates, on_exchange=exchanges.append) as s:
        for _ in range(2):
            with pytest.raises(FetchError) as info:
                await s.get(url)
            assert info.value.detail == Detail.NETWORK
        with pytest.raises(FetchError) as info:
            await s.get(url)
    assert info.value.detail == Detail.CIRCUIT_OPEN
    assert s.requests == 2 and [e.error for e in exchanges] == ["network", "network"]
    assert [step.status for step in s.trail] == [None, None]


# -- bounded time and size ---------------------------------------------------------------------


async def test_hanging_server_times_out() -> None:
    async def hang(request: web.Request) -> web.StreamResponse:
        await site.stop.wait()
        return web.Response(text="too late")

    async with serve({"/hang": hang}) as site:
        exchanges: list[Exchange] = []
        async with PoliteSession(make_gates(timeout=0.3), on_exchange=exchanges.append) as s:
            with pytest.raises(FetchError) as info:
                await s.get(site.url("/hang"))
    assert info.value.detail == Detail.TIMEOUT
    assert exchanges[0].error == "timeout" and exchanges[0].status is None
    # The server never answers: ending at all is the timeout. The upper bound only catches a hang,
    # generous so that a loaded machine does not fail it.
    assert 0.25 < exchanges[0].elapsed < 60
    assert s.trail[0].note == "timeout"


async def test_dripping_server_times_out() -> None:
    async def drip(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        try:
            while not site.stop.is_set():
                await response.write(b"x")
                await asyncio.sleep(0.05)
        except ConnectionError:
            pass
        return response

    async with serve({"/drip": drip}) as site:
        exchanges: list[Exchange] = []
        async with PoliteSession(make_gates(timeout=0.3), on_exchange=exchanges.append) as s:
            with pytest.raises(FetchError) as info:
                await s.get(site.url("/drip"))
    assert info.value.detail == Detail.TIMEOUT
    assert exchanges[0].status == 200  # what was received is kept
    assert exchanges[0].elapsed < 60  # the drip lasts as long as the test: only a hang fails this


def fifty_megabytes(length: bool) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        if length:
            response.content_length = 50 * MB
        await response.prepare(request)
        chunk = b"A" * 65536
        try:
            for _ in range(50 * MB // len(chunk)):
                await response.write(chunk)
        except ConnectionError:
            pass
        return response

    return handler


@pytest.mark.parametrize("length", [False, True], ids=["chunked", "content-length"])
async def test_fifty_megabytes_is_too_large(length: bool) -> None:
    async with serve({"/big": fifty_megabytes(length)}) as site:
        exchanges: list[Exchange] = []
        async with PoliteSession(make_gates(), on_exchange=exchanges.append) as s:
            with pytest.raises(FetchError) as info:
                await s.get(site.url("/big"))
            assert info.value.detail == Detail.TOO_LARGE
            # the connection was dropped, and the session still works
            site.routes["/ok"] = text("ok")
            assert (await s.get(site.url("/ok"))).text == "ok"
    assert exchanges[0].error == "too_large" and exchanges[0].status == 200
    assert len(exchanges[0].raw_body) <= 2 * MB
    if length:
        assert len(exchanges[0].raw_body) == 0  # refused on the announced length


async def test_gzip_and_deflate_are_decoded_raw_kept() -> None:
    page = "<html>préfecture</html>".encode()
    deflater = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    raw_deflate = deflater.compress(page) + deflater.flush()
    routes = {
        "/gz": raw(gzip.compress(page), {"Content-Encoding": "gzip"}),
        "/zl": raw(zlib.compress(page), {"Content-Encoding": "deflate"}),
        "/df": raw(raw_deflate, {"Content-Encoding": "deflate"}),
        "/two": raw(
            gzip.compress(page[:10]) + gzip.compress(page[10:]), {"Content-Encoding": "gzip"}
        ),
    }
    async with serve(routes) as site:
        exchanges: list[Exchange] = []
        async with PoliteSession(make_gates(), on_exchange=exchanges.append) as s:
            bodies = [(await s.get(site.url(p))).body for p in ("/gz", "/zl", "/df", "/two")]
    assert bodies == [page] * 4
    assert exchanges[0].raw_body[:2] == b"\x1f\x8b"  # evidence as on the wire


async def test_gzip_bomb_is_too_large() -> None:
    compressor = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    zeros = bytes(MB)
    bomb = b"".join(compressor.compress(zeros) for _ in range(50)) + compressor.flush()
    assert len(bomb) < 100_000
    async with serve({"/bomb": raw(bomb, {"Content-Encoding": "gzip"})}) as site:
        exchanges: list[Exchange] = []
        async with PoliteSession(make_gates(), on_exchange=exchanges.append) as s:
            with pytest.raises(FetchError) as info:
                await s.get(site.url("/bomb"))
    assert info.value.detail == Detail.TOO_LARGE
    assert exchanges[0].raw_body == bomb and exchanges[0].error == "too_large"


async def test_corrupt_gzip_is_a_network_error() -> None:
    routes = {"/bad": raw(b"\x1f\x8bthis is not gzip", {"Content-Encoding": "gzip"})}
    async with serve(routes) as site, PoliteSession(make_gates()) as s:
        with pytest.raises(FetchError) as info:
            await s.get(site.url("/bad"))
    assert info.value.detail == Detail.NETWORK


# -- text --------------------------------------------------------------------------------------


async def test_invalid_utf8_and_binary_never_raise() -> None:
    routes = {
        "/bad": raw(b"<p>caf\xc3 \xff\xfe</p>", {"Content-Type": "text/html; charset=utf-8"}),
        "/bin": raw(bytes(range(256)) * 4, {"Content-Type": "application/octet-stream"}),
        "/bogus": raw(b"abc\xe9", {"Content-Type": "text/html; charset=no-such-codec"}),
        "/rot": raw(b"abc", {"Content-Type": "text/plain; charset=rot13"}),
    }
    async with serve(routes) as site, PoliteSession(make_gates()) as s:
        bad = await s.get(site.url("/bad"))
        binary = await s.get(site.url("/bin"))
        bogus = await s.get(site.url("/bogus"))
        rot = await s.get(site.url("/rot"))
    assert bad.text == "<p>caf\ufffd \ufffd\ufffd</p>"
    assert isinstance(binary.text, str) and binary.content_type == "application/octet-stream"
    assert bogus.text == "abc\ufffd"
    assert rot.text == "abc"


def make_response(body: bytes, content_type: str) -> Response:
    from multidict import CIMultiDict, CIMultiDictProxy

    headers = CIMultiDictProxy(CIMultiDict({"Content-Type": content_type}))
    return Response("http://x/", 200, "OK", headers, body)


def test_charset_header_then_meta_then_utf8() -> None:
    latin = "préfecture".encode("latin-1")
    assert make_response(latin, "text/html; charset=ISO-8859-1").text == "préfecture"
    meta = b'<html><head><meta charset="windows-1252"></head>' + latin
    assert make_response(meta, "text/html").text.endswith("préfecture")
    http_equiv = (
        b'<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-15">' + latin
    )
    assert make_response(http_equiv, "text/html").text.endswith("préfecture")
    assert make_response("préfecture".encode(), "text/html").text == "préfecture"
    assert make_response("\ufeffok".encode(), "TEXT/HTML; Charset=latin-1").text == "ok"
    assert make_response(b"", "Text/HTML; charset=utf-8").content_type == "text/html"


# -- personal data -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "email",
        "Email",
        "emailcheck",
        "firstname",
        "lastname",
        "phone",
        "telephone",
        "nom",
        "prenom",
        "eZBookingAdditionalField_value_12",
        "g-recaptcha-response",
        "captchaUsercode",
        "h-captcha-response",
    ],
)
async def test_personal_fields_are_never_sent(name: str) -> None:
    async with serve({"/form": text("ok")}) as site:
        exchanges: list[Exchange] = []
        async with PoliteSession(make_gates(), on_exchange=exchanges.append) as s:
            with pytest.raises(ForbiddenRequest, match=name):
                await s.post(site.url("/form"), {"planning": "1", name: "x"})
            with pytest.raises(ForbiddenRequest):
                await s.get(site.url(f"/form?{name}=x"))
            with pytest.raises(ForbiddenRequest):
                await s.post(site.url(f"/form?{name}=x"), {})
    assert site.hits == [] and s.requests == 0 and exchanges == []


def test_personal_fields_exported() -> None:
    assert "email" in PERSONAL_FIELDS and "captchaUsercode" in PERSONAL_FIELDS
    assert "eZBookingAdditionalField_value_" in PERSONAL_FIELDS


async def test_ordinary_fields_pass() -> None:
    async with serve({"/form": text("ok")}) as site, PoliteSession(make_gates()) as s:
        await s.post(site.url("/form?planning=3"), {"condition": "on", "nextButton": "x"})
    assert site.hits[0].body == b"condition=on&nextButton=x"


# -- robots.txt --------------------------------------------------------------------------------

ROBOTS = """\
User-agent: *
Disallow: /

User-agent: guichets
Disallow: /private
Allow: /private/ok$
Disallow: /*.pdf$
"""


async def test_robots_rules_obeyed() -> None:
    routes = {p: text("page") for p in ("/public", "/private/x", "/private/ok", "/a.pdf")}
    routes["/robots.txt"] = text(ROBOTS)
    async with serve(routes) as site:
        gates = make_gates(obey_robots=True)
        exchanges: list[Exchange] = []
        async with PoliteSession(gates, on_exchange=exchanges.append) as s:
            assert (await s.get(site.url("/public"))).text == "page"
            for path in ("/private/x", "/a.pdf"):
                with pytest.raises(FetchError) as info:
                    await s.get(site.url(path))
                assert info.value.detail == Detail.ROBOTS
                assert "Disallow" in info.value.message
            await s.get(site.url("/private/ok"))
            await s.get(site.url("/a.pdf?page=2"))
    assert site.paths() == ["/robots.txt", "/public", "/private/ok", "/a.pdf?page=2"]
    assert s.requests == 4 and len(exchanges) == 4
    assert s.trail[0].url == site.url("/robots.txt") and s.trail[0].status == 200


async def test_robots_checked_on_each_redirect_hop() -> None:
    routes = {
        "/robots.txt": text("User-agent: *\nDisallow: /booking\n"),
        "/go": redirect("/booking/step1"),
    }
    async with serve(routes) as site, PoliteSession(make_gates(obey_robots=True)) as s:
        with pytest.raises(FetchError) as info:
            await s.get(site.url("/go"))
    assert info.value.detail == Detail.ROBOTS
    assert site.paths() == ["/robots.txt", "/go"]


async def test_robots_404_allows_everything() -> None:
    gates = make_gates(obey_robots=True)
    async with serve({"/p": text("ok")}) as site, PoliteSession(gates) as s:  # robots.txt: 404
        await s.get(site.url("/p"))
    assert site.paths() == ["/robots.txt", "/p"]


async def test_robots_503_disallows_everything_for_that_probe() -> None:
    state = {"status": 503}
    routes = {"/robots.txt": switchable(state), "/p": text("ok")}
    async with serve(routes) as site:
        gates = make_gates(obey_robots=True)
        async with PoliteSession(gates) as s:
            for _ in range(2):  # asked once per probe
                with pytest.raises(FetchError) as info:
                    await s.get(site.url("/p"))
                assert info.value.detail == Detail.ROBOTS and info.value.cause == "http_503"
                assert "unreachable" in info.value.message
        assert site.paths() == ["/robots.txt"] and s.requests == 1
        state["status"] = 200  # the next probe asks again: the outage is not cached for the run
        async with PoliteSession(gates) as later:
            await later.get(site.url("/p"))
    assert site.paths() == ["/robots.txt", "/robots.txt", "/p"]


async def test_robots_unreachable_disallows_everything() -> None:
    """No answer at all: nothing else is sent, and the finding is the timeout, not a barrier."""

    async def hang(request: web.Request) -> web.StreamResponse:
        await site.stop.wait()
        return web.Response(text="")

    gates = make_gates(obey_robots=True, timeout=0.3)
    async with serve({"/robots.txt": hang, "/p": text("ok")}) as site, PoliteSession(gates) as s:
        with pytest.raises(FetchError) as info:
            await s.get(site.url("/p"))
    assert info.value.detail == Detail.TIMEOUT and info.value.cause == "timeout"
    assert "robots.txt" in info.value.message and info.value.url == site.url("/p")
    assert site.paths() == ["/robots.txt"]

    url = f"http://127.0.0.1:{await closed_port()}/p"
    async with PoliteSession(make_gates(obey_robots=True)) as s:
        for _ in range(2):
            with pytest.raises(FetchError) as info:
                await s.get(url)
            assert info.value.detail == Detail.NETWORK
    assert s.requests == 1 and s.trail[0].note == "robots.txt; network"


async def test_robots_redirect_followed() -> None:
    routes = {
        "/robots.txt": redirect("/real-robots.txt", 301),
        "/real-robots.txt": text("User-agent: *\nDisallow: /p\n"),
        "/p": text("ok"),
    }
    async with serve(routes) as site, PoliteSession(make_gates(obey_robots=True)) as s:
        with pytest.raises(FetchError):
            await s.get(site.url("/p"))
    assert site.paths() == ["/robots.txt", "/real-robots.txt"]


async def test_robots_override_recorded() -> None:
    routes = {"/robots.txt": text("User-agent: *\nDisallow: /\n"), "/p": text("ok")}
    async with serve(routes) as site:
        overrides = {"127.0.0.1": "convention signée avec la préfecture"}
        gates = make_gates(obey_robots=True, robots_overrides=overrides)
        async with PoliteSession(gates) as s:
            await s.get(site.url("/p"))
        async with PoliteSession(gates) as untouched:
            pass
    assert site.paths() == ["/p"]  # robots.txt not even fetched
    assert s.overrides_used == {"127.0.0.1"} and untouched.overrides_used == set()


async def test_robots_cached_for_24_hours_of_clock() -> None:
    routes = {"/robots.txt": text("User-agent: *\nDisallow: /no\n"), "/p": text("ok")}
    async with serve(routes) as site:
        clock = SimulatedClock(START)
        gates = HostGates(clock, polite(obey_robots=True))
        async with PoliteSession(gates) as first:
            await first.get(site.url("/p"))
        clock.advance(24 * 3600 - 1)
        async with PoliteSession(gates) as second:
            await second.get(site.url("/p"))
        clock.advance(2)
        async with PoliteSession(gates) as third:
            await third.get(site.url("/p"))
    assert site.paths() == ["/robots.txt", "/p", "/p", "/robots.txt", "/p"]
    assert (first.requests, second.requests, third.requests) == (2, 1, 2)


async def test_robots_fetched_once_by_concurrent_probes() -> None:
    routes = {"/robots.txt": text("User-agent: *\nDisallow:\n"), "/p": text("ok")}

    async def probe(gates: HostGates) -> None:
        async with PoliteSession(gates) as s:
            await s.get(site.url("/p"))

    async with serve(routes) as site:
        gates = make_gates(obey_robots=True, min_gap=1.0)
        await asyncio.gather(*(probe(gates) for _ in range(3)))
    assert site.paths().count("/robots.txt") == 1 and site.peak == 1


# -- configuration -----------------------------------------------------------------------------


def test_politeness_validation() -> None:
    with pytest.raises(ValueError, match="product token"):
        Politeness(user_agent="  ")
    with pytest.raises(ValueError, match="reason"):
        Politeness(robots_overrides={"example.org": " "})
    with pytest.raises(ValueError):
        Politeness(min_gap=-1)
    assert Politeness().token == "guichets"


def test_host_key_has_an_explicit_port() -> None:
    assert host_key("https://Example.org/a?b") == "https://example.org:443"
    assert host_key("http://127.0.0.1:8765/x") == "http://127.0.0.1:8765"


async def test_relative_url_refused() -> None:
    async with PoliteSession(make_gates()) as s:
        with pytest.raises(ValueError, match="absolute"):
            await s.get("/relative")


async def test_large_robots_txt_read_to_500_kib_only() -> None:
    filler = "# " + "x" * 98 + "\n"
    big = "User-agent: *\nDisallow: /early\n" + filler * 6000 + "Disallow: /late\n"  # ~600 KB
    routes = {"/robots.txt": text(big), "/late": text("ok"), "/early": text("no")}
    async with serve(routes) as site:
        exchanges: list[Exchange] = []
        gates = make_gates(obey_robots=True)
        async with PoliteSession(gates, on_exchange=exchanges.append) as s:
            await s.get(site.url("/late"))
            with pytest.raises(FetchError):
                await s.get(site.url("/early"))
    assert len(exchanges[0].raw_body) == 500 * 1024  # read no further
    assert exchanges[0].error is None


async def test_unreadable_retry_after_is_ignored() -> None:
    routes = {"/p": limited_once(lambda: "soon, maybe")}
    async with serve(routes) as site, PoliteSession(make_gates(min_gap=1.0)) as s:
        await s.get(site.url("/p"))
        await s.get(site.url("/p"))
    assert seconds(s.trail[0].at, s.trail[1].at) == 1.0
