"""Delivering alerts through Apprise: any of its URLs (``json://``, ``mailto://``, Matrix, …).

A delivery never blocks the probes: :meth:`Dispatcher.submit` only queues; a background task sends
each message to each URL in a worker thread (Apprise is synchronous), and a failure is logged and
retried with backoff on the run's clock. Quiet hours hold messages until they end; nothing is
dropped for them. On a :class:`~guichets.clock.SimulatedClock` the retries wait in simulated time,
so tests drive a failing receiver's recovery without sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Final

from guichets.alerts.messages import Message
from guichets.clock import Clock
from guichets.model import PARIS

if TYPE_CHECKING:
    import apprise

__all__ = ["BACKOFF", "Delivery", "Dispatcher", "QuietHours", "check_url"]

log = logging.getLogger("guichets.alerts")

# Seconds before each retry: a receiver down for a minute or for an afternoon still gets it.
BACKOFF: Final = (30.0, 120.0, 600.0, 1800.0, 3600.0, 3 * 3600.0)
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


@dataclass(order=True)
class Delivery:
    """One message to one URL, and how its attempts went."""

    due: datetime
    order: int
    message: Message = field(compare=False)
    url: str = field(compare=False)
    attempts: int = field(default=0, compare=False)
    errors: list[str] = field(default_factory=list, compare=False)
    delivered_at: datetime | None = field(default=None, compare=False)


class Dispatcher:
    """Queues messages and sends them in the background, with retries; see the module."""

    def __init__(
        self,
        urls: Sequence[str],
        clock: Clock,
        *,
        quiet: QuietHours | None = None,
        backoff: Sequence[float] = BACKOFF,
        report: Callable[[str], None] | None = None,
    ) -> None:
        self.clock = clock
        self.quiet = quiet
        self.backoff = tuple(backoff)
        self.report = report  # one line per failure, e.g. on the console
        self._targets = {url: check_url(url) for url in urls}
        self._shown = {url: _shown(target) for url, target in self._targets.items()}
        self._queue: list[Delivery] = []
        self._order = itertools.count()
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

    @property
    def urls(self) -> list[str]:
        return list(self._targets)

    def submit(self, message: Message) -> None:
        """Queue ``message`` for every URL; returns at once."""
        now = self.clock.now()
        due = now if self.quiet is None else self.quiet.release(now)
        for url in self._targets:
            heapq.heappush(self._queue, Delivery(due, next(self._order), message, url))
        self._wake.set()

    @property
    def pending(self) -> list[Delivery]:
        return sorted(self._queue)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._work())

    async def __aenter__(self) -> Dispatcher:
        self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self, *, drain: bool = True) -> None:
        """Stop: with ``drain``, wait (on the clock) until every message is delivered or has used
        its retries; without, try each due or retried message once more now, and log the rest."""
        self._closing, self._drain = True, drain
        self._wake.set()
        if self._task is not None:
            await self._task
        for item in self._queue:
            self._failed(item, "not delivered: the run stopped before its turn")
        self._queue.clear()

    async def _work(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                await self._wait(None)
                continue
            now = self.clock.now()
            head = self._queue[0]
            if head.due > now:
                if self._closing and not self._drain:
                    if head.attempts == 0:  # held by quiet hours: the next run sends it
                        return
                    head.due = now
                else:
                    await self._wait((head.due - now).total_seconds())
                    continue
            item = heapq.heappop(self._queue)
            await self._attempt(item)

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

    async def _attempt(self, item: Delivery) -> None:
        item.attempts += 1
        ok, error = await asyncio.to_thread(self._send, item)
        now = self.clock.now()
        if ok:
            item.delivered_at = now
            self.delivered_count += 1
            _keep(self.delivered, item)
            return
        self.failures += 1
        item.errors.append(error)
        retries_left = item.attempts <= len(self.backoff)
        self._note(
            f"delivery of alert {item.message.alert_id} to {self._shown[item.url]} failed "
            f"(attempt {item.attempts}): {error}"
            + (
                f"; next try in {self.backoff[item.attempts - 1]:.0f} s"
                if retries_left and not (self._closing and not self._drain)
                else ""
            )
        )
        if not retries_left or (self._closing and not self._drain):
            self._failed(item, "gave up")
            return
        item.due = now + timedelta(seconds=self.backoff[item.attempts - 1])
        if self.quiet is not None:
            item.due = self.quiet.release(item.due)
        heapq.heappush(self._queue, item)

    def _send(self, item: Delivery) -> tuple[bool, str]:
        import apprise

        target = self._targets[item.url]
        with apprise.LogCapture(level=logging.WARNING) as captured:  # type: ignore[no-untyped-call]
            try:
                ok = target.notify(
                    title=item.message.title,
                    body=item.message.body,
                    body_format=apprise.NotifyFormat.TEXT,
                )
            except Exception as exc:  # a plugin's bug must not end the deliveries
                return False, f"{type(exc).__name__}: {exc}"
            text = captured.getvalue() if hasattr(captured, "getvalue") else ""
        lines = [line.strip() for line in str(text).splitlines() if line.strip()]
        return bool(ok), (lines[-1] if lines else "refused")[:300]

    def _failed(self, item: Delivery, why: str) -> None:
        self.given_up_count += 1
        _keep(self.given_up, item)
        self._note(f"alert {item.message.alert_id} to {self._shown[item.url]}: {why}")

    def _note(self, line: str) -> None:
        log.warning("%s", line)
        if self.report is not None:
            self.report(line)


def _keep(items: list[Delivery], item: Delivery) -> None:
    items.append(item)
    if len(items) > KEPT:
        del items[: len(items) - KEPT]
