"""Alerts delivered through Apprise to real receivers on loopback: an HTTP endpoint for
``json://`` and an SMTP server (aiosmtpd) for ``mailto://``, each also failing before it
recovers. Time is the simulated clock's: retries wait in simulated time, nothing sleeps. The
outbox is the store's, on SQLite and on PostgreSQL: a run that stops with messages not yet sent
leaves them to the next, which sends each once."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.header import decode_header, make_header
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from guichets.alerts import delivery as delivery_module
from guichets.alerts.delivery import Dispatcher, QuietHours, check_url
from guichets.alerts.messages import Names, clean, message
from guichets.alerts.rules import Engine, Event, Rules
from guichets.clock import SimulatedClock
from guichets.store import Store
from guichets.store.alerts import ProbePoint
from guichets.store.outbox import read_outbox
from tests.dbfixtures import db_url

T0 = datetime(2026, 10, 5, 10, 0, tzinfo=UTC)  # 12:00 in Paris

__all__ = ["db_url"]  # the fixture, imported for pytest


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with Store.open(db_url) as opened:
        yield opened


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class JsonReceiver:
    """An HTTP endpoint like a webhook: answers 500 to the first ``fail`` posts."""

    fail: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    hold: asyncio.Event | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        if self.hold is not None:
            await self.hold.wait()
        if self.fail > 0:
            self.fail -= 1
            return web.Response(status=500, text="down")
        self.received.append(await request.json())
        return web.json_response({"ok": True})


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[JsonReceiver, str]]:
    got = JsonReceiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", got.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield got, f"json://127.0.0.1:{port}/hook"
    finally:
        await runner.cleanup()


class MailBox:
    """An SMTP server's handler: answers 451 (try later) to the first ``fail`` messages."""

    def __init__(self) -> None:
        self.fail = 0
        self.messages: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.fail > 0:
            self.fail -= 1
            return "451 4.3.0 try again later"
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[tuple[MailBox, str]]:
    box = MailBox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield (
            box,
            (
                f"mailto://127.0.0.1:{port}?from=robot@example.org&to=veille@example.org"
                "&mode=insecure"
            ),
        )
    finally:
        controller.stop()


def closed_event(label: str = "Renouvellement - Clermont-Ferrand") -> tuple[Event, Names]:
    """A real ``closed`` alert from the rules, for service 63-clermont-renouvellement."""
    engine = Engine(Rules(closed_probes=3, closed_hours=3))
    events: list[Event] = []
    for i in range(4):
        events += engine.observe(
            ProbePoint(
                probe_id=f"probe{i}",
                service="63-clermont-renouvellement",
                platform="ezbooking",
                departement="63",
                at=T0 + timedelta(hours=i),
                outcome="unavailable",
                detail="no_slot_page",
            )
        )
    assert len(events) == 1
    return events[0], Names({"63-clermont-renouvellement": label}, "https://obs.example/")


async def test_json_receiver_gets_the_alert_in_french(
    receiver: tuple[JsonReceiver, str], store: Store
) -> None:
    got, url = receiver
    clock = SimulatedClock(T0)
    event, names = closed_event()
    async with Dispatcher([url], clock, store) as dispatcher:
        dispatcher.submit(message(event, names))
    assert len(got.received) == 1 and dispatcher.given_up == []
    body = got.received[0]
    assert body["title"] == "Guichet fermé : Renouvellement - Clermont-Ferrand"
    text = body["message"]
    assert "Service : 63-clermont-renouvellement" in text
    assert "Aucune date de rendez-vous sur les 4 derniers sondages valides" in text
    assert "3 heures" in text and "Puy-de-Dôme (63)" in text
    assert "https://obs.example/services/63-clermont-renouvellement.html" in text
    assert "guichets evidence screenshot probe3" in text  # the archived page of the last probe


async def test_a_long_run_keeps_counts_of_every_delivery_and_only_the_last_ones(
    receiver: tuple[JsonReceiver, str], monkeypatch: pytest.MonkeyPatch, store: Store
) -> None:
    got, url = receiver
    monkeypatch.setattr(delivery_module, "KEPT", 2)
    clock = SimulatedClock(T0)
    event, names = closed_event()
    async with Dispatcher([url], clock, store) as d:
        for _ in range(5):
            d.submit(message(event, names))
    assert len(got.received) == 5 and d.delivered_count == 5
    first = min(r.order for r in d.delivered)
    assert [r.order for r in d.delivered] == [first, first + 1]  # the last ones, in order
    assert read_outbox(store) == []  # each delivered message left the outbox
    assert d.given_up_count == 0 and d.given_up == []


async def test_a_failing_receiver_is_retried_with_backoff_until_it_recovers(
    receiver: tuple[JsonReceiver, str], store: Store
) -> None:
    got, url = receiver
    got.fail = 2
    clock = SimulatedClock(T0)
    lines: list[str] = []
    event, names = closed_event()
    async with Dispatcher([url], clock, store, backoff=(60, 600, 3600), report=lines.append) as d:
        d.submit(message(event, names))
    assert got.attempts == 3 and len(got.received) == 1
    delivery = d.delivered[0]
    assert delivery.attempts == 3 and delivery.last_error is None
    assert delivery.delivered_at == T0 + timedelta(seconds=60 + 600)  # simulated time
    assert d.failures == 2 and d.given_up == []
    assert len(lines) == 2 and all("failed (attempt" in line for line in lines)
    assert "next try in 60 s" in lines[0] and "next try in 600 s" in lines[1]


async def test_a_receiver_that_never_recovers_is_given_up_and_logged(
    receiver: tuple[JsonReceiver, str], store: Store
) -> None:
    got, url = receiver
    got.fail = 99
    clock = SimulatedClock(T0)
    event, names = closed_event()
    lines: list[str] = []
    async with Dispatcher([url], clock, store, backoff=(60, 60), report=lines.append) as d:
        d.submit(message(event, names))
    assert got.attempts == 3 and d.delivered == [] and len(d.given_up) == 1
    assert "gave up" in lines[-1] and "guichets alerts outbox --retry" in lines[-1]
    # Given up, but not dropped: it stays in the outbox for a person, with what went wrong.
    [kept] = read_outbox(store)
    assert kept.state == "given_up" and kept.attempts == 3 and kept.last_error


async def test_a_slow_delivery_never_blocks_the_caller(
    receiver: tuple[JsonReceiver, str], store: Store
) -> None:
    """While the receiver holds the request, the event loop goes on (the probes would)."""
    got, url = receiver
    got.hold = asyncio.Event()
    clock = SimulatedClock(T0)
    event, names = closed_event()
    async with Dispatcher([url], clock, store) as d:
        d.submit(message(event, names))  # returns at once
        ticks = 0
        while got.attempts == 0 or ticks < 3:
            await clock.sleep(3600)  # other work on the clock goes on meanwhile
            ticks += 1
        assert d.delivered == []
        got.hold.set()
    assert len(got.received) == 1


async def test_quiet_hours_hold_messages_until_they_end(
    receiver: tuple[JsonReceiver, str], store: Store
) -> None:
    got, url = receiver
    night = datetime(2026, 10, 5, 21, 30, tzinfo=UTC)  # 23:30 in Paris
    clock = SimulatedClock(night)
    quiet = QuietHours.parse("22:00-07:00")
    event, names = closed_event()
    async with Dispatcher([url], clock, store, quiet=quiet) as d:
        d.submit(message(event, names))
        await asyncio.sleep(0)
        assert d.pending[0].due == datetime(2026, 10, 6, 5, 0, tzinfo=UTC)  # 07:00 Paris
    assert len(got.received) == 1
    assert d.delivered[0].delivered_at == datetime(2026, 10, 6, 5, 0, tzinfo=UTC)


def test_quiet_hours_within_one_day_and_across_midnight() -> None:
    day = QuietHours.parse("12:00-14:00")
    assert day.quiet(T0) and not day.quiet(T0 + timedelta(hours=2))
    assert day.release(T0) == T0 + timedelta(hours=2)
    with pytest.raises(ValueError, match="HH:MM-HH:MM"):
        QuietHours.parse("tonight")


async def test_closing_without_draining_leaves_the_retry_in_the_outbox(
    receiver: tuple[JsonReceiver, str], store: Store
) -> None:
    got, url = receiver
    got.fail = 99
    clock = SimulatedClock(T0, autojump=False)  # a run on the system clock stopping
    event, names = closed_event()
    lines: list[str] = []
    d = Dispatcher([url], clock, store, backoff=(3600,), report=lines.append)
    d.start()
    d.submit(message(event, names))
    await _first_failure(d)  # it waits for its retry in an hour
    assert got.attempts == 1 and d.pending[0].due == T0 + timedelta(hours=1)
    await d.close(drain=False)
    assert got.attempts == 1 and d.delivered == [] and d.given_up == []
    [waiting] = read_outbox(store)
    assert waiting.state == "waiting" and waiting.attempts == 1
    assert waiting.due == T0 + timedelta(hours=1) and waiting.last_error


async def _first_failure(d: Dispatcher) -> None:
    """Until the first attempt has failed (the send runs in a thread: real time, bounded)."""
    for _ in range(3000):
        if d.failures:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("no attempt failed in 30 s")


def _stopped_run(db: str, clock: SimulatedClock, url: str, **options: Any) -> Dispatcher:
    """A run's dispatcher on its own connection to the database, as a new process has."""
    return Dispatcher([url], clock, Store.open(db), **options)


async def _run_and_stop(d: Dispatcher, *messages: Any) -> None:
    """Start, queue ``messages``, stop as ``guichets run`` does on exit (no draining)."""
    d.start()
    for m in messages:
        d.submit(m)
    await d.close(drain=False)
    d.store.close()


async def test_a_run_that_stops_in_quiet_hours_leaves_its_message_to_the_next_run(
    receiver: tuple[JsonReceiver, str], db_url: str
) -> None:
    """The bug: quiet-hours messages lived in memory and were lost at exit."""
    got, url = receiver
    quiet = QuietHours.parse("22:00-07:00")
    event, names = closed_event()
    night = datetime(2026, 10, 5, 21, 30, tzinfo=UTC)  # 23:30 in Paris
    await _run_and_stop(_stopped_run(db_url, SimulatedClock(night), url, quiet=quiet),
                        message(event, names))  # fmt: skip
    assert got.attempts == 0
    with Store.open(db_url) as store:
        [held] = read_outbox(store)
    assert held.state == "waiting" and held.attempts == 0
    assert held.due == datetime(2026, 10, 6, 5, 0, tzinfo=UTC)  # 07:00 in Paris
    assert held.title == "Guichet fermé : Renouvellement - Clermont-Ferrand"
    assert "127.0.0.1" in held.target and held.target_key != url  # the URL itself is not kept

    # A run at 06:30 (still quiet) sends nothing; one at 08:00 sends it; one at 09:00, nothing.
    for hour, received in ((4, 0), (6, 1), (7, 1)):
        clock = SimulatedClock(datetime(2026, 10, 6, hour, 30, tzinfo=UTC))
        await _run_and_stop(_stopped_run(db_url, clock, url, quiet=quiet))
        assert len(got.received) == received and got.attempts == received
    assert got.received[0]["title"] == held.title and got.received[0]["message"] == held.body
    with Store.open(db_url) as store:
        assert read_outbox(store) == []


async def test_a_run_that_stops_while_a_receiver_is_down_leaves_the_retry_to_the_next_run(
    receiver: tuple[JsonReceiver, str], db_url: str
) -> None:
    got, url = receiver
    got.fail = 1
    event, names = closed_event()
    lines: list[str] = []
    first = _stopped_run(db_url, SimulatedClock(T0), url, backoff=(60,), report=lines.append)
    await _run_and_stop(first, message(event, names))
    assert got.attempts == 1 and got.received == [] and first.given_up == []
    assert "it waits in the outbox for the next run" in lines[0]
    # The next run, before the retry is due, waits; after, sends it once.
    await _run_and_stop(_stopped_run(db_url, SimulatedClock(T0 + timedelta(seconds=30)), url))
    assert got.attempts == 1
    again = _stopped_run(db_url, SimulatedClock(T0 + timedelta(minutes=5)), url)
    await _run_and_stop(again)
    assert got.attempts == 2 and len(got.received) == 1 and again.delivered[0].attempts == 2
    await _run_and_stop(_stopped_run(db_url, SimulatedClock(T0 + timedelta(hours=1)), url))
    assert got.attempts == 2 and len(got.received) == 1


async def test_a_receiver_gets_its_messages_in_the_order_they_were_queued(
    receiver: tuple[JsonReceiver, str], store: Store
) -> None:
    """A reopening never reaches a receiver before the closing that waits for its retry."""
    got, url = receiver
    got.fail = 1
    clock = SimulatedClock(T0)
    event, names = closed_event()
    first = message(event, names)
    second = dataclasses.replace(first, title="second", alert_id="second")
    async with Dispatcher([url], clock, store, backoff=(60,)) as d:
        d.submit(first)
        await _first_failure(d)
        d.submit(second)  # due now, but behind the first one's retry
    assert [b["title"] for b in got.received] == [first.title, "second"]


async def test_mail_through_a_local_smtp_server_that_fails_then_recovers(
    mailbox: tuple[MailBox, str], store: Store
) -> None:
    box, url = mailbox
    box.fail = 1
    clock = SimulatedClock(T0)
    event, names = closed_event(label="Clermont <script>alert(1)</script>\x07 — accueil")
    async with Dispatcher([url], clock, store, backoff=(120,)) as d:
        d.submit(message(event, names))
    assert len(box.messages) == 1 and d.delivered[0].attempts == 2
    envelope = box.messages[0]
    assert envelope.mail_from == "robot@example.org"
    assert envelope.rcpt_tos == ["veille@example.org"]
    assert isinstance(envelope.content, bytes)
    mail = message_from_bytes(envelope.content)
    subject = str(make_header(decode_header(mail["Subject"])))
    assert subject == "Guichet fermé : Clermont <script>alert(1)</script> — accueil"
    assert mail.get_content_type() == "text/plain"  # plain text: no markup is ever interpreted
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes)
    text = payload.decode("utf-8")
    assert "Service : 63-clermont-renouvellement" in text and "\x07" not in text


def test_untrusted_text_is_cleaned() -> None:
    assert clean("a\nb\x00c\u202ed  e") == "a b c d e"
    assert clean("tag\U000e0041\u00adged") == "tag ged"  # every format character
    assert len(clean("x" * 500)) == 160


def test_a_bad_url_is_refused_with_examples() -> None:
    with pytest.raises(ValueError, match=r"json://127\.0\.0\.1:8080/"):
        check_url("nonsense://")
    with pytest.raises(ValueError) as refused:
        check_url("nonsense://robot:s3cret@host/t0ken")
    assert "s3cret" not in str(refused.value) and "t0ken" not in str(refused.value)


async def test_the_logs_never_show_a_password(
    receiver: tuple[JsonReceiver, str], store: Store
) -> None:
    got, url = receiver
    got.fail = 1
    lines: list[str] = []
    event, names = closed_event()
    secret = url.replace("json://", "json://robot:s3cret@")
    async with Dispatcher(
        [secret], SimulatedClock(T0), store, backoff=(60,), report=lines.append
    ) as d:
        d.submit(message(event, names))
    assert len(got.received) == 1 and len(lines) == 1  # one failure logged, then delivered
    assert "robot:" in lines[0] and "s3cret" not in lines[0]


def test_messages_of_every_kind_name_their_subject() -> None:
    engine = Engine(Rules(blind_probes=2, platform_services=2, closed_probes=99))
    events: list[Event] = []
    for i, (service, outcome, detail) in enumerate(
        [
            ("33-bordeaux", "barrier", "captcha"),
            ("33-bordeaux", "barrier", "captcha"),
            ("a", "unrecognized", "layout_changed"),
            ("b", "unrecognized", "layout_changed"),
            ("33-bordeaux", "available", "slots_seen"),
        ]
    ):
        at = T0 + timedelta(hours=i)
        events += engine.observe(
            ProbePoint(f"p{i}", service, "rdvpref", "33", at, outcome, detail,
                       at + timedelta(days=1) if outcome == "available" else None)
        )  # fmt: skip
    events += engine.check_stalled(T0 + timedelta(days=2), {"a": 3600})
    names = Names({"33-bordeaux": "Bordeaux — titre de séjour"})
    texts = [message(e, names) for e in events]
    kinds = [(m.kind, m.change) for m in texts]
    assert kinds == [
        ("blind", "opened"),
        ("layout_changed", "opened"),
        ("blind", "closed"),
        ("stalled", "opened"),
    ]
    assert texts[0].title == "Robot aveugle (captcha) : Bordeaux — titre de séjour"
    assert "Ce n'est pas une fermeture" in texts[0].body
    assert "services/33-bordeaux.html" in texts[0].body
    assert texts[1].title == "Pages changées sur une plateforme : plateforme rdvpref"
    assert texts[1].body.count("guichets evidence screenshot p") == 2
    assert texts[2].title.startswith("Le robot lit de nouveau")
    assert "Aucun sondage enregistré depuis" in texts[3].body
    assert all(json.dumps(m.body) for m in texts)
