"""Hostile pages for each reader: whatever a site sends (markup soup, the platform's own words
out of place, control characters, formula-looking counters, megabytes of one value), a probe
never crashes, never says ``unavailable`` without the platform's own evidence on the page, and
stores only bounded, clean text and a counter id that is one.

One loopback server (a thread) answers every request with the page hypothesis drew; the probe runs
on a simulated clock, so no politeness pause costs wall time."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guichets.clock import SimulatedClock
from guichets.http import HostGates, Politeness
from guichets.model import PARIS, Observation, Outcome
from guichets.platforms import Target
from guichets.platforms.eappointment import ALERTS
from guichets.platforms.ezbooking import NO_SLOT_TEXT
from guichets.platforms.rdvpref import DAY_EMPTY, NO_SLOT_FROM_DATE, WEEK_EMPTY
from guichets.probe import ProbeSpec, run_probe
from guichets.untrusted import MAX_MESSAGE, is_counter_id, unsafe_characters

START = datetime(2026, 10, 5, 9, 0, tzinfo=PARIS)

# What each platform's "no slot" evidence looks like: the platform's sentences, and the markup of
# its grids (a grid read to the horizon with nothing free is evidence too).
EVIDENCE = {
    "ezbooking": (NO_SLOT_TEXT, "status-", "ezjscore"),
    "rdvpref": (NO_SLOT_FROM_DATE, WEEK_EMPTY, DAY_EMPTY, "creneau"),
    "eappointment": (*ALERTS, "alert("),
}
PATHS = {
    "ezbooking": "/booking/create/4129",
    "rdvpref": "/rdvpref/reservation/demarche/3720/",
    "eappointment": "/eAppointmentpref94/appointment.do?sitekey=P941",
}

_WORDS = [
    NO_SLOT_TEXT, WEEK_EMPTY, DAY_EMPTY, NO_SLOT_FROM_DATE, *ALERTS, "Effectuer une demande",
    "Étape suivante", "Terminer", "Semaine du", "libre", "complet", "captcha", "\x1b[31m",
    "\x00", "\u202e", "=HYPERLINK(\"http://x\")", "+1", "@SUM(1)", "-2+3", "[bold]x[/bold]",
    "![img](http://x/a.png)", "<script>alert(1)</script>", "Prochaine disponibilité le 01/01/2027",
]  # fmt: skip
_FRAGMENTS = [
    '<form id="FormBookingCreate" method="post" action="{a}">',
    '<input type="radio" name="planning" value="{v}"/>',
    '<input type="checkbox" name="condition" value="on"/>',
    '<input type="submit" name="nextButton" value="{w}"/>',
    '<input type="hidden" name="{v}" value="{w}"/>',
    '<input type="checkbox" name="selectedMotiveKeyList" value="{v}"/>',
    "<script>var x='/ezjscore/call/bookingserver::planning::assign::4129::{v}::0';</script>",
    '<table><tr><th>lundi 05 octobre 2026</th></tr><tr><td class="status-{d} {w}">{w}</td></tr>'
    "</table>",
    '<div class="alert">{w}</div>', "<script>alert('{w}');</script>", "<p>{w}</p>",
    '<meta http-equiv="refresh" content="0;url={a}">', '<a href="{a}">{w}</a>', "</form>",
    '<input type="password" name="p"/>', '<div data-sitekey="x" class="g-recaptcha"></div>',
    '<button id="nextButton" type="submit">{w}</button>', '<h1>Service surchargé</h1>',
]  # fmt: skip


@st.composite
def pages(draw: st.DrawFn) -> tuple[int, str, bytes]:
    text = st.one_of(st.sampled_from(_WORDS), st.text(max_size=40))
    parts = []
    for _ in range(draw(st.integers(0, 14))):
        fragment = draw(st.sampled_from(_FRAGMENTS))
        parts.append(fragment.format(
            a=draw(st.sampled_from(["", "/", "/booking/create/4129/1", "http://127.0.0.2:1/x",
                                    "javascript:alert(1)", "/eAppointmentpref94/dates.do"])),
            v=draw(st.one_of(st.sampled_from(["4130", "=1+1", "+33", "-2+3", "1" * 300]),
                             st.text(max_size=12))),
            w=draw(text),
            d=draw(st.integers(0, 3)),
        ))  # fmt: skip
    if draw(st.booleans()):
        parts.append("x" * draw(st.sampled_from([0, 10_000, 1_500_000])))
    status = draw(st.sampled_from([200, 200, 200, 302, 403, 500, 503]))
    body = "<html><body>" + "".join(parts) + "</body></html>"
    return (
        status,
        draw(st.sampled_from(["text/html; charset=utf-8", "text/plain", ""])),
        (
            body.encode("utf-8", "surrogatepass")
            if draw(st.booleans())
            else body.encode("latin-1", "replace")
        ),
    )


class _Page:
    status = 200
    kind = "text/html"
    body = b""


class _Handler(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        if self.path == "/robots.txt":
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(_Page.status)
        if _Page.kind:
            self.send_header("Content-Type", _Page.kind)
        if _Page.status == 302:
            self.send_header("Location", "/booking/create/4129/1")
        self.send_header("Content-Length", str(len(_Page.body)))
        self.end_headers()
        self.wfile.write(_Page.body)

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _probe(base: str, platform: str) -> Observation:
    clock = SimulatedClock(START)
    gates = HostGates(clock, Politeness(min_gap=0, timeout=30, obey_robots=True))
    spec = ProbeSpec("38-hostile", platform, Target(base + PATHS[platform]))
    return asyncio.run(run_probe(spec, gates, clock))


def _check(obs: Observation, platform: str, body: bytes) -> None:
    assert obs.detail != "reader_error", obs.message  # a reader's crash, caught by the probe
    if obs.outcome is Outcome.UNAVAILABLE:
        page = body.decode("utf-8", "replace")
        assert any(mark in page for mark in EVIDENCE[platform]), obs
    assert obs.counter is None or is_counter_id(obs.counter), obs.counter
    assert len(obs.message) <= MAX_MESSAGE and not unsafe_characters(obs.message)
    for key, value in obs.extra.items():
        assert not unsafe_characters(key) and not unsafe_characters(value)


@pytest.mark.parametrize("platform", sorted(PATHS))
@settings(max_examples=25)
@given(page=pages())
def test_a_hostile_page_is_never_a_crash_nor_a_false_no_slot(
    server: str, platform: str, page: tuple[int, str, bytes]
) -> None:
    """Whatever the page: no reader error, ``unavailable`` only with the platform's evidence
    on the page, a clean bounded message and a valid counter id (or none)."""
    _Page.status, _Page.kind, _Page.body = page
    _check(_probe(server, platform), platform, _Page.body)
