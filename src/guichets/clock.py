"""Clocks: the one place where the project asks what time it is, or waits.

Every component takes a :class:`Clock` instead of calling ``datetime.now`` or ``asyncio.sleep``, so
that tests, the demo and the benchmarks can run a month of probing in seconds on a
:class:`SimulatedClock` and never wait on the wall clock.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

__all__ = [
    "Clock",
    "ScaledClock",
    "SimulatedClock",
    "SystemClock",
    "ensure_utc",
    "parse_instant",
]


def ensure_utc(instant: datetime) -> datetime:
    """Reject naive datetimes: an instant without an offset is ambiguous evidence."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(
            f"instant {instant.isoformat()} has no timezone offset; "
            "give one, e.g. 2026-01-05T09:00:00+01:00"
        )
    return instant.astimezone(UTC)


def parse_instant(text: str) -> datetime:
    """Parse an ISO 8601 instant with an offset (``Z`` accepted) into UTC."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(
            f"{text!r} is not an ISO 8601 instant; expected e.g. 2026-01-05T09:00:00+01:00"
        ) from exc
    return ensure_utc(parsed)


@runtime_checkable
class Clock(Protocol):
    """What every time-dependent component needs."""

    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class SystemClock:
    """The machine's clock; used in production."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ScaledClock:
    """Wall time sped up: ``speed`` simulated seconds pass per real second.

    This is for a person watching the simulator (``guichets simulate --speed``), never for tests:
    its readings depend on how fast the machine is.
    """

    def __init__(self, start: datetime, speed: float) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._start = ensure_utc(start)
        self._origin = time.monotonic()
        self.speed = speed

    def now(self) -> datetime:
        elapsed = (time.monotonic() - self._origin) * self.speed
        return self._start + timedelta(seconds=elapsed)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)


class SimulatedClock:
    """A clock that moves only when told to, or when every waiter is asleep.

    ``set`` and ``advance`` move time forward and wake the sleepers whose deadline has passed, in
    deadline order. With ``autojump`` (the default), a coroutine that sleeps makes time jump to the
    earliest pending deadline once the event loop has nothing else ready to run, which lets
    ordinary ``await clock.sleep(...)`` code run a month in seconds with a correct order of events.
    Time never moves backward.
    """

    def __init__(self, start: datetime, *, autojump: bool = True) -> None:
        self._now = ensure_utc(start)
        self._autojump = autojump
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._counter = itertools.count()
        self._jumper: asyncio.Task[None] | None = None

    def now(self) -> datetime:
        return self._now

    def set(self, instant: datetime) -> None:
        """Move to ``instant`` (forward only) and wake the sleepers due by then."""
        target = ensure_utc(instant)
        if target < self._now:
            raise ValueError(
                f"the simulated clock cannot go back from {self._now.isoformat()} "
                f"to {target.isoformat()}"
            )
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, future = heapq.heappop(self._sleepers)
            self._now = max(self._now, deadline)
            if not future.done():
                future.set_result(None)
        self._now = target

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the simulated clock cannot go back")
        self.set(self._now + timedelta(seconds=seconds))

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        deadline = self._now + timedelta(seconds=seconds)
        heapq.heappush(self._sleepers, (deadline, next(self._counter), future))
        if self._autojump and (self._jumper is None or self._jumper.done()):
            self._jumper = loop.create_task(self._jump_when_idle())
        await future

    @property
    def pending(self) -> int:
        """How many coroutines are asleep on this clock."""
        return sum(1 for _, _, f in self._sleepers if not f.done())

    async def _jump_when_idle(self) -> None:
        # Let every ready task run (and maybe register an earlier deadline) before jumping: a few
        # rounds of the loop settle chains of callbacks. Tasks waiting on real I/O are not "ready",
        # so a jump may happen while a request is in flight; code that needs time frozen across
        # real I/O must not sleep concurrently with it.
        while self._sleepers:
            for _ in range(8):
                await asyncio.sleep(0)
            while self._sleepers and self._sleepers[0][2].done():
                heapq.heappop(self._sleepers)
            if not self._sleepers:
                return
            deadline, _, future = heapq.heappop(self._sleepers)
            self._now = max(self._now, deadline)
            if not future.done():
                future.set_result(None)
