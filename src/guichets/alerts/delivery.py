"""Delivering alerts through Apprise: any of its URLs (``json://``, ``mailto://``, Matrix, …).

A delivery never blocks the probes: :meth:`Dispatcher.submit` only queues, in the store's outbox
(``guichets.store.outbox``: one row per message and receiver); a background task sends each due
row in a worker thread (Apprise is synchronous; the row's claim and outcome are written there
too), each receiver's messages in the order they were queued; a failure is logged and retried
with backoff on the run's clock, and after the last retry the row stays in the outbox as given
up. Quiet hours hold messages until they end. Because the outbox is in the database, what a run
could not send before it stopped (quiet hours, a receiver down) is sent by the next run, or the
next ``guichets alerts check``: nothing is lost at exit.
A database that fails (a lost connection) pauses the deliveries, never the run; a message is
delivered at least once: should its row not be removed after it was sent (the database gone at
that instant), it is sent again once its claim lapses.
On a :class:`~guichets.clock.SimulatedClock` the retries wait in simulated time, so tests drive a
failing receiver's recovery without sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Final

from guichets.alerts.messages import Message
from guichets.clock import Clock
from guichets.model import PARIS
from guichets.store import Store, StoreError
from guichets.store.outbox import (
    OutboxRow,
    claim,
    delivered,
    failed,
    next_due,
    queue,
    read_outbox,
    target_key,
)

if TYPE_CHECKING:
    import apprise

__all__ = ["BACKOFF", "LEASE", "Delivery", "Dispatcher", "QuietHours", "check_url"]

log = logging.getLogger("guichets.alerts")

# Seconds before each retry: a receiver down for a minute or for an afternoon still gets it.
BACKOFF: Final = (30.0, 120.0, 600.0, 1800.0, 3600.0, 3 * 3600.0)
LEASE: Final = 600.0
"""Seconds a message claimed for an attempt waits before another one, should its sender die
while sending (the process killed): then the next run sends it."""
STORE_PAUSE: Final = 30.0
"""Seconds of the clock before the outbox is read again when the database failed (a lost
connection): the deliveries wait, the probes go on."""
KEPT: Final = 100
"""Deliveries kept for a look (``delivered``, ``given_up``): a run lasts months; counts are kept
of them all."""


def check_url(url: str) -> apprise.Apprise:
    """An Apprise object for one URL; ValueError when Apprise cannot read it."""
    import apprise  # here: the command line starts without it (most commands never notify)

    # In memory only: Apprise's persistent store would otherwise write under the user's home.
    asset = apprise.AppriseAsset(storage_mode=apprise.PersistentStoreMode.MEMORY)
    target = apprise.Apprise(asset=asset)
    if not target.add(url):
        # Only the scheme is said: the rest of a URL Apprise cannot read may hold a secret.
        scheme = url.partition("://")[0][:20] if "://" in url else "?"
        raise ValueError(
            f"cannot use the {scheme}:// URL given as a notification URL: not an Apprise URL "
            "(examples: json://127.0.0.1:8080/, "
            "mailto://user:password@smtp.example.org?to=ops@example.org)"
        )
    return target


def _shown(target: apprise.Apprise) -> str:
    """A URL as logged: masked by its own plugin (Apprise's privacy mode), so that a password,
    and a token in a path (Telegram's bot token, a Discord or Slack webhook's), never reaches
    the logs; the query (the plugin's options) left out."""
    shown: list[str] = target.urls(privacy=True)
    return shown[0].split("?", 1)[0] if shown else "?"


@dataclass(frozen=True)
class QuietHours:
    """Paris wall-clock hours when nothing is sent (held until they end), e.g. 22:00-07:00."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        try:
            a, b = text.split("-")
            return cls(time.fromisoformat(a.strip()), time.fromisoformat(b.strip()))
        except ValueError as exc:
            raise ValueError(f"quiet hours {text!r}: give HH:MM-HH:MM, e.g. 22:00-07:00") from exc

    def quiet(self, at: datetime) -> bool:
        now = at.astimezone(PARIS).time()
        if self.start <= self.end:
            return self.start <= now < self.end
        return now >= self.start or now < self.end

    def release(self, at: datetime) -> datetime:
        """``at``, or the end of the quiet hours it falls in."""
        if not self.quiet(at):
            return at
        local = at.astimezone(PARIS)
        end = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if end <= local:
            end += timedelta(days=1)
        return end.astimezone(at.tzinfo)


@dataclass
class Delivery:
    """How one message went to one receiver (the last :data:`KEPT` of them, for a look)."""

    order: int  # its row in the outbox: the order messages were queued
    message: Message
    target: str  # the receiver's URL as shown (secrets masked)
    attempts: int
    last_error: str | None = None
    delivered_at: datetime | None = None
    retry_at: datetime | None = None  # after a failure: the next try (None: given up)


def _fields(message: Message) -> dict[str, str | None]:
    """The outbox row's columns of a message: its fields, by name."""
    return dataclasses.asdict(message)


def _message(row: OutboxRow) -> Message:
    return Message(**{f.name: getattr(row, f.name) for f in dataclasses.fields(Message)})


class Dispatcher:
    """Queues messages in the store's outbox and sends them in the background, with retries; see
    the module."""

    def __init__(
        self,
        urls: Sequence[str],
        clock: Clock,
        store: Store,
        *,
        quiet: QuietHours | None = None,
        backoff: Sequence[float] = BACKOFF,
        report: Callable[[str], None] | None = None,
    ) -> None:
        self.clock = clock
        self.store = store
        self.quiet = quiet
        self.backoff = tuple(backoff)
        self.report = report  # one line per failure, e.g. on the console
        self._targets = {url: check_url(url) for url in urls}
        self._shown = {url: _shown(target) for url, target in self._targets.items()}
        self._urls = {target_key(url): url for url in self._targets}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._drain = True
        # The last KEPT of each, for a look (tests, a summary); the counts are of the whole run,
        # which may last months: the lists do not grow with it.
        self.delivered: list[Delivery] = []
        self.given_up: list[Delivery] = []
        self.delivered_count = 0
        self.given_up_count = 0
        self.failures = 0
        self.left = 0  # messages left waiting in the outbox when it closed

    @property
    def urls(self) -> list[str]:
        return list(self._targets)

    @property
    def keys(self) -> list[str]:
        """The receivers' keys in the outbox (:func:`guichets.store.outbox.target_key`)."""
        return list(self._urls)

    def submit(self, message: Message) -> None:
        """Queue ``message`` for every URL in the outbox; returns at once (no sending here)."""
        now = self.clock.now()
        due = now if self.quiet is None else self.quiet.release(now)
        targets = [(self._shown[url], key) for key, url in self._urls.items()]
        queue(self.store, _fields(message), targets, at=now, due=due)
        self._wake.set()

    @property
    def pending(self) -> list[OutboxRow]:
        """What waits in the outbox for this dispatcher's receivers, by due time."""
        return [r for r in read_outbox(self.store, self.keys) if r.state == "waiting"]

    def start(self) -> None:
        """Send in the background, beginning with what earlier runs left in the outbox."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._work())

    async def __aenter__(self) -> Dispatcher:
        self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self, *, drain: bool = True) -> None:
        """Stop: with ``drain``, wait (on the clock) until every message is delivered or has used
        its retries; without, send what is due now, once, and leave the rest (quiet hours, a
        retry to come) in the outbox, where the next run takes it up."""
        self._closing, self._drain = True, drain
        self._wake.set()
        if self._task is not None:
            await self._task
        with contextlib.suppress(StoreError):  # the database away: said by the task already
            self.left = len(self.pending)

    async def _work(self) -> None:
        while True:
            try:
                if not await self._step():
                    return
            except StoreError as exc:  # the database away: the run goes on, deliveries wait
                said = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                if self._closing:
                    self._note(
                        f"the alerts' outbox cannot be reached ({said[:200]}): what it holds "
                        "waits for the next run"
                    )
                    return
                self._note(
                    f"the alerts' outbox cannot be reached ({said[:200]}); deliveries wait "
                    f"{STORE_PAUSE:.0f} s"
                )
                await self._wait(STORE_PAUSE)

    async def _step(self) -> bool:
        """Send the next due message, or wait for one; False once there is nothing more to do
        before closing."""
        row = next_due(self.store, self.keys)
        now = self.clock.now()
        if row is None:
            if self._closing:
                return False
            await self._wait(None)
            return True
        if row.due > now:
            if self._closing and not self._drain:
                return False  # it waits in the outbox: the next run sends it
            await self._wait((row.due - now).total_seconds())
            return True
        await self._attempt(row, now)
        return True

    async def _wait(self, seconds: float | None) -> None:
        """Until something is queued or closing, or ``seconds`` of the clock pass."""
        self._wake.clear()
        waiter = asyncio.ensure_future(self._wake.wait())
        tasks: set[asyncio.Future[object]] = {waiter}  # type: ignore[arg-type]
        if seconds is not None:
            tasks.add(asyncio.ensure_future(self.clock.sleep(seconds)))
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _attempt(self, row: OutboxRow, now: datetime) -> None:
        # The claim, the send and what came of it in the worker thread: the event loop (the
        # probes) never waits for Apprise, nor for the database's writer lock.
        item = await asyncio.to_thread(self._claim_and_send, row, now)
        if item is None:
            return  # another process on this database took it first
        if item.delivered_at is not None:
            self.delivered_count += 1
            _keep(self.delivered, item)
            return
        self.failures += 1
        later = ""
        if item.retry_at is not None:
            later = f"; next try in {self.backoff[item.attempts - 1]:.0f} s"
            if self._closing and not self._drain:
                later += " (it waits in the outbox for the next run)"
        self._note(
            f"delivery of alert {row.alert_id} to {item.target} failed "
            f"(attempt {item.attempts}): {item.last_error}{later}"
        )
        if item.retry_at is None:
            self.given_up_count += 1
            _keep(self.given_up, item)
            self._note(
                f"alert {row.alert_id} to {item.target}: gave up; it stays in the outbox "
                "(guichets alerts outbox --retry)"
            )

    def _claim_and_send(self, row: OutboxRow, now: datetime) -> Delivery | None:
        """One attempt, in a worker thread: claim the row, send, then remove it (delivered) or
        set its next try (or give up); None when another process claimed it first."""
        if not claim(self.store, row, at=now, until=now + timedelta(seconds=LEASE)):
            return None
        url = self._urls[row.target_key]
        attempts = row.attempts + 1
        item = Delivery(row.id, _message(row), self._shown[url], attempts)
        ok, error = self._send(url, item.message)
        now = self.clock.now()
        if ok:
            delivered(self.store, row.id)
            item.delivered_at = now
            return item
        item.last_error = error
        if attempts <= len(self.backoff):
            item.retry_at = now + timedelta(seconds=self.backoff[attempts - 1])
            if self.quiet is not None:
                item.retry_at = self.quiet.release(item.retry_at)
        failed(self.store, row.id, error, retry_at=item.retry_at)
        return item

    def _send(self, url: str, message: Message) -> tuple[bool, str]:
        import apprise

        target = self._targets[url]
        with apprise.LogCapture(level=logging.WARNING) as captured:  # type: ignore[no-untyped-call]
            try:
                ok = target.notify(
                    title=message.title,
                    body=message.body,
                    body_format=apprise.NotifyFormat.TEXT,
                )
            except Exception as exc:  # a plugin's bug must not end the deliveries
                return False, f"{type(exc).__name__}: {exc}"
            text = captured.getvalue() if hasattr(captured, "getvalue") else ""
        lines = [line.strip() for line in str(text).splitlines() if line.strip()]
        return bool(ok), (lines[-1] if lines else "refused")[:300]

    def _note(self, line: str) -> None:
        log.warning("%s", line)
        if self.report is not None:
            self.report(line)


def _keep(items: list[Delivery], item: Delivery) -> None:
    items.append(item)
    if len(items) > KEPT:
        del items[: len(items) - KEPT]
