"""The ground truth: what was really bookable at every instant, for every simulated counter.

Each counter runs a seeded discrete-event model (slots released into a bookable window, people who
arrive at random and take the earliest or a random free slot, cancellations that free slots again,
slots that close shortly before they start). The model is simulated lazily, forward only, as far as
anyone has asked; every change is recorded, so the state at any past instant and the whole timeline
of a period can be answered exactly. Nothing the robot does changes the truth (it never books).
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sortedcontainers import SortedList

from guichets.clock import ensure_utc
from guichets.simulator.scenario import (
    WEEKDAYS,
    CounterConfig,
    ModelConfig,
    OutageConfig,
    ScenarioConfig,
    ServiceConfig,
    SiteConfig,
)

__all__ = [
    "PARIS",
    "CounterTruth",
    "OutagePlan",
    "Segment",
    "ServiceTruth",
    "Slot",
    "Spell",
    "World",
]

PARIS = ZoneInfo("Europe/Paris")
WARMUP_DAYS = 120
_FORGET_STEP = timedelta(hours=6)  # forgetting works in steps, not at every question

# Hourly demand weights (local time), normalised to a mean of 1 over the day: people try to book
# mostly in office hours and evenings, rarely at night.
_OFFICE = [0.1, 0.05, 0.05, 0.05, 0.05, 0.1, 0.3, 0.8, 1.5, 2.0, 2.0, 1.8,
           1.5, 1.6, 1.8, 1.8, 1.6, 1.4, 1.3, 1.2, 1.1, 0.9, 0.5, 0.2]  # fmt: skip
_OFFICE_MEAN = sum(_OFFICE) / 24
PROFILES = {
    "flat": [1.0] * 24,
    "office": [w / _OFFICE_MEAN for w in _OFFICE],
}


def stream(seed: int, *parts: object) -> random.Random:
    """An independent, reproducible random stream for one purpose of one counter."""
    key = "/".join(str(p) for p in (seed, *parts)).encode()
    return random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))


@dataclass(frozen=True, slots=True)
class Slot:
    """One appointment: a counter's time slot on one day."""

    index: int
    start: datetime  # Europe/Paris wall clock, aware
    release_at: datetime  # UTC: from then on it can be booked
    closes_at: datetime  # UTC: from then on it can no longer be booked

    @property
    def timestamp(self) -> int:
        return int(self.start.timestamp())


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of time over which the bookable free slots did not change."""

    start: datetime
    end: datetime
    free: int
    first: datetime | None
    second: datetime | None

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True, slots=True)
class Spell:
    """An outage: the site or form answers with an error instead of its pages."""

    start: datetime
    end: datetime
    kind: str


@dataclass(slots=True)
class _Booking:
    taken_at: datetime
    released_at: datetime | None = None  # cancellation time


def _spans(hours: list[str]) -> list[tuple[time, timedelta]]:
    """Opening spans as (start time, end as a duration since midnight): "24:00" is a whole day."""
    out = []
    for item in hours:
        start, end = item.split("-")
        hour, minute = end.split(":")
        stop = timedelta(hours=int(hour), minutes=int(minute))
        if stop > timedelta(days=1):
            raise ValueError(f"opening hours {item!r} end after midnight")
        out.append((time.fromisoformat(start), stop))
    return out


class Calendar:
    """Which slots exist on a date: a pure function of the opening days and hours."""

    def __init__(self, model: ModelConfig) -> None:
        self._days = {WEEKDAYS.index(d) for d in model.opening_days}
        self._spans = _spans(model.opening_hours)
        self._step = timedelta(minutes=model.slot_minutes)
        self._closed = set(model.closed_dates)

    def starts_on(self, day: date) -> list[datetime]:
        if day.weekday() not in self._days or day in self._closed:
            return []
        out: list[datetime] = []
        for begin, end in self._spans:
            cursor = datetime.combine(day, begin)
            stop = datetime.combine(day, time()) + end
            while cursor + self._step <= stop:
                out.append(cursor.replace(tzinfo=PARIS))
                cursor += self._step
        return sorted(out)

    def times_of_week(self, monday: date) -> list[time]:
        """Row labels of a week grid: every start time used on any day of that week."""
        found: set[time] = set()
        for offset in range(7):
            found.update(s.time() for s in self.starts_on(monday + timedelta(days=offset)))
        return sorted(found)


class ReleasePolicy:
    """When a slot enters the bookable window."""

    def __init__(self, model: ModelConfig, origin: datetime) -> None:
        self._mode = model.release
        self._at = time.fromisoformat(model.release_time)
        self._weekday = WEEKDAYS.index(model.release_weekday)
        # Regimes: (start, end, window_days); the first begins before anything is simulated.
        bounds = [origin - timedelta(days=400)] + [c.at for c in model.window_changes]
        windows = [model.window_days] + [c.window_days for c in model.window_changes]
        ends = [*bounds[1:], datetime.max.replace(tzinfo=UTC)]
        self._regimes = list(zip(bounds, ends, windows, strict=True))
        self.max_window = max(windows)

    def window_at(self, instant: datetime) -> int:
        for start, end, days in self._regimes:
            if start <= instant < end:
                return days
        return self._regimes[-1][2]

    def release_of(self, start: datetime) -> datetime:
        for begin, end, days in self._regimes:
            candidate = self._quantise(start, days)
            if candidate < end:
                return max(candidate, begin)
        raise AssertionError("the last regime never ends")

    def _quantise(self, start: datetime, days: int) -> datetime:
        if self._mode == "continuous":
            return ensure_utc(start - timedelta(days=days))
        day = start.date() - timedelta(days=days)
        if self._mode == "weekly":
            day += timedelta(days=(self._weekday - day.weekday()) % 7)
        return ensure_utc(datetime.combine(day, self._at, tzinfo=PARIS))


class CounterTruth:
    """The simulated calendar of one counter, and the people who book it."""

    def __init__(
        self, service_id: str, counter: CounterConfig, model: ModelConfig, seed: int,
        origin: datetime, keep: timedelta | None = None,
    ) -> None:  # fmt: skip
        self.service_id = service_id
        self.counter_id = counter.id
        self.label = counter.label
        self.model = model
        self.calendar = Calendar(model)
        self.release = ReleasePolicy(model, origin)
        self._lead = timedelta(hours=model.min_lead_hours)
        # Start the model before the scenario, so that at its start bookings have already eaten
        # into the window as in a running service (no artificial full stock). A shortage drains
        # the first full window slowly (demand minus supply a day), hence months, not weeks.
        warmup = max(WARMUP_DAYS, self.release.max_window + 21)
        self._origin = ensure_utc(origin) - timedelta(days=warmup)
        self._frontier = self._origin
        self._arrivals = stream(seed, service_id, counter.id, "arrivals")
        self._choices = stream(seed, service_id, counter.id, "choices")
        self._cancels = stream(seed, service_id, counter.id, "cancels")
        self._profile = PROFILES[model.demand_profile]
        self._rate_max = model.demand_per_hour * max(self._profile) / 3600.0
        self.slots: list[Slot] = []  # from index ``_base`` on: older ones may be forgotten
        self._base = 0
        # With ``keep``, what closed more than ``keep`` before the frontier is forgotten, so that
        # a long simulation holds days, not its whole past (the demo); questions about the
        # forgotten past are refused. Without it (tests, benchmarks), everything is kept.
        self._keep = keep
        self.forgotten_before: datetime | None = None
        self._closes: list[datetime] = []  # closes_at of each slot; grows with start times
        self._by_ts: dict[int, int] = {}
        self._bookings: list[list[_Booking]] = []
        self._generated_until = self._origin.astimezone(PARIS).date() - timedelta(days=1)
        self._events: list[tuple[datetime, int, int, int]] = []  # (when, order, kind, slot)
        self._available: SortedList = SortedList()  # (start, index) free and bookable now
        self._changes_at: list[datetime] = []  # log of changes to the available set
        self._changes: list[tuple[int, int]] = []  # (slot, +1 | -1)
        self._free_cache: tuple[datetime | None, frozenset[int]] = (None, frozenset())
        self._next_arrival = self._draw_arrival(self._origin)
        self._extend(self._origin)
        # Slots whose release lies before the origin are bookable from the start.
        self._run_events(self._origin)

    # -- generation -----------------------------------------------------------------------------

    def _extend(self, until: datetime) -> None:
        """Create the slots that can be released up to ``until``, with their events."""
        last_day = until.astimezone(PARIS).date() + timedelta(days=self.release.max_window + 15)
        day = self._generated_until + timedelta(days=1)
        while day <= last_day:
            for start in self.calendar.starts_on(day):
                index = self._base + len(self.slots)
                slot = Slot(index, start, self.release.release_of(start),
                            ensure_utc(start - self._lead))  # fmt: skip
                if slot.closes_at <= self._origin:
                    continue
                self.slots.append(slot)
                self._closes.append(slot.closes_at)
                self._by_ts[slot.timestamp] = index
                self._bookings.append([])
                if slot.release_at < slot.closes_at:
                    heapq.heappush(self._events, (slot.release_at, 0, index, index))
                    heapq.heappush(self._events, (slot.closes_at, 1, index, index))
            day += timedelta(days=1)
        self._generated_until = last_day

    def _draw_arrival(self, after: datetime) -> datetime | None:
        """Next arrival of a person, by thinning a Poisson process of time-varying rate."""
        if self._rate_max <= 0:
            return None
        cursor = after
        peak = max(self._profile)
        while True:
            cursor += timedelta(seconds=self._arrivals.expovariate(self._rate_max))
            weight = self._profile[cursor.astimezone(PARIS).hour]
            if self._arrivals.random() * peak <= weight:
                return cursor

    # -- simulation -----------------------------------------------------------------------------

    def advance_to(self, instant: datetime) -> None:
        """Simulate forward to ``instant`` (inclusive). Asking for the past costs nothing."""
        target = ensure_utc(instant)
        if target <= self._frontier:
            return
        self._extend(target)
        self._run_events(target)
        self._frontier = target
        if self._keep is not None:
            cutoff = target - self._keep
            if self.forgotten_before is None or cutoff - self.forgotten_before >= _FORGET_STEP:
                self._forget(cutoff)

    def _forget(self, cutoff: datetime) -> None:
        """Drop the slots closed before ``cutoff``, their bookings and the changes before it.
        Every change at or after ``cutoff`` concerns a slot closing at or after it: kept."""
        drop = bisect.bisect_left(self._closes, cutoff)
        for slot in self.slots[:drop]:
            self._by_ts.pop(slot.timestamp, None)
        del self.slots[:drop], self._closes[:drop], self._bookings[:drop]
        self._base += drop
        changes = bisect.bisect_left(self._changes_at, cutoff)
        del self._changes_at[:changes], self._changes[:changes]
        self.forgotten_before = cutoff

    def _remembered(self, at: datetime) -> None:
        if self.forgotten_before is not None and at < self.forgotten_before:
            raise ValueError(
                f"the truth before {self.forgotten_before.isoformat()} was forgotten "
                "(the simulator keeps only recent days)"
            )

    def _run_events(self, target: datetime) -> None:
        while True:
            event_at = self._events[0][0] if self._events else None
            arrival = self._next_arrival
            if (
                arrival is not None
                and event_at is not None
                and arrival < event_at
                and not self._available
            ):
                # Nothing is free until the next event: whoever comes before it finds nothing.
                # Poisson arrivals are memoryless, so drawing afresh from that event keeps their
                # law, and it depends only on the model's state, never on who asked when.
                self._next_arrival = self._draw_arrival(event_at)
                continue
            if (
                arrival is not None
                and arrival <= target
                and (event_at is None or arrival < event_at)
            ):
                self._arrive(arrival)
                self._next_arrival = self._draw_arrival(arrival)
                continue
            if event_at is None or event_at > target:
                return
            when, kind, _, index = heapq.heappop(self._events)
            if kind == 0:
                self._on_release(when, index)
            elif kind == 1:
                self._on_close(when, index)
            else:
                self._on_cancel(when, index)

    def _log(self, when: datetime, index: int, delta: int) -> None:
        self._changes_at.append(when)
        self._changes.append((index, delta))

    def _is_taken(self, index: int) -> bool:
        bookings = self._bookings[index - self._base]
        return bool(bookings) and bookings[-1].released_at is None

    def _on_release(self, when: datetime, index: int) -> None:
        if not self._is_taken(index):
            self._available.add((self.slots[index - self._base].start, index))
            self._log(when, index, +1)

    def _on_close(self, when: datetime, index: int) -> None:
        key = (self.slots[index - self._base].start, index)
        if key in self._available:
            self._available.remove(key)
            self._log(when, index, -1)

    def _arrive(self, when: datetime) -> None:
        if not self._available:
            return  # the person finds nothing and leaves
        if self._choices.random() < self.model.earliest_share:
            start, index = self._available[0]
        else:
            start, index = self._available[self._choices.randrange(len(self._available))]
        self._available.remove((start, index))
        self._log(when, index, -1)
        self._bookings[index - self._base].append(_Booking(when))
        slot = self.slots[index - self._base]
        if self._cancels.random() < self.model.cancel_probability:
            span = (slot.closes_at - when).total_seconds()
            cancel_at = when + timedelta(seconds=self._cancels.uniform(0, span))
            heapq.heappush(self._events, (cancel_at, 2, index, index))

    def _on_cancel(self, when: datetime, index: int) -> None:
        self._bookings[index - self._base][-1].released_at = when
        slot = self.slots[index - self._base]
        if slot.release_at <= when < slot.closes_at:
            self._available.add((slot.start, index))
            self._log(when, index, +1)

    # -- questions ------------------------------------------------------------------------------

    def _free_at(self, index: int, instant: datetime) -> bool:
        slot = self.slots[index - self._base]
        if not (slot.release_at <= instant < slot.closes_at):
            return False
        return not any(
            b.taken_at <= instant and (b.released_at is None or instant < b.released_at)
            for b in self._bookings[index - self._base]
        )

    def free_slots(self, instant: datetime) -> list[Slot]:
        """The slots a person could have booked at ``instant``, earliest first."""
        at = ensure_utc(instant)
        self.advance_to(at)
        self._remembered(at)
        if at == self._frontier:
            return [self.slots[index - self._base] for _, index in self._available]
        out = []
        # Slots are created in start order, and both their closing and their release instants
        # grow with their start, so the bookable ones form one run of the list.
        for slot in self.slots[bisect.bisect_right(self._closes, at) :]:
            if slot.release_at > at:
                break
            if self._free_at(slot.index, at):
                out.append(slot)
        return out

    def slot_state(self, start: datetime, instant: datetime) -> str:
        """How a grid cell shows: free, taken, closed (not bookable yet or any more) or none."""
        index = self._by_ts.get(int(start.timestamp()))
        if index is None:
            return "past" if self._forgotten(start) else "closed"
        slot = self.slots[index - self._base]
        at = ensure_utc(instant)
        if not (slot.release_at <= at < slot.closes_at):
            return "past" if at >= slot.closes_at else "closed"
        if self._free_cache[0] != at:
            self._free_cache = (at, frozenset(s.index for s in self.free_slots(at)))
        return "free" if index in self._free_cache[1] else "taken"

    def states_of_days(self, first: date, days: int, instant: datetime) -> dict[datetime, str]:
        """How each slot of ``days`` days from ``first`` shows at ``instant`` (see slot_state)."""
        at = ensure_utc(instant)
        free = {s.index for s in self.free_slots(at)}
        out: dict[datetime, str] = {}
        for offset in range(days):
            for start in self.calendar.starts_on(first + timedelta(days=offset)):
                index = self._by_ts.get(int(start.timestamp()))
                if index is None:
                    out[start] = "past" if self._forgotten(start) else "closed"
                    continue
                slot = self.slots[index - self._base]
                if not (slot.release_at <= at < slot.closes_at):
                    out[start] = "past" if at >= slot.closes_at else "closed"
                else:
                    out[start] = "free" if index in free else "taken"
        return out

    def _forgotten(self, start: datetime) -> bool:
        """Whether a slot starting then would have closed before the forgotten past."""
        return self.forgotten_before is not None and ensure_utc(start - self._lead) < (
            self.forgotten_before
        )

    def timeline(self, start: datetime, end: datetime) -> list[Segment]:
        """Exact piecewise-constant availability over [start, end)."""
        begin, stop = ensure_utc(start), ensure_utc(end)
        self.advance_to(stop)
        self._remembered(begin)
        state = SortedList((s.start, s.index) for s in self.free_slots(begin))
        lo = bisect.bisect_right(self._changes_at, begin)
        hi = bisect.bisect_left(self._changes_at, stop)
        segments: list[Segment] = []
        cursor = begin
        i = lo
        while i < hi:
            when = self._changes_at[i]
            if when > cursor:
                segments.append(self._segment(cursor, when, state))
                cursor = when
            while i < hi and self._changes_at[i] == when:
                index, delta = self._changes[i]
                key = (self.slots[index - self._base].start, index)
                if delta > 0:
                    state.add(key)
                else:
                    state.discard(key)
                i += 1
        if stop > cursor:
            segments.append(self._segment(cursor, stop, state))
        return segments

    @staticmethod
    def _segment(start: datetime, end: datetime, state: SortedList) -> Segment:
        first = state[0][0] if len(state) > 0 else None
        second = state[1][0] if len(state) > 1 else None
        return Segment(start, end, len(state), first, second)


class OutagePlan:
    """When a service is down, and how: scheduled spells plus random ones.

    With ``keep``, as for the counters, random spells that ended more than ``keep`` before the
    latest instant asked are forgotten, and questions about that past refused: a long demo holds
    days of spells, not its whole past (they were the last list of the truth to grow for ever).
    """

    def __init__(
        self,
        config: OutageConfig,
        seed: int,
        service_id: str,
        origin: datetime,
        keep: timedelta | None = None,
    ) -> None:
        self._config = config
        self._rng = stream(seed, service_id, "outages")
        self._spells: list[Spell] = sorted(
            (Spell(s.start, s.end, s.kind) for s in config.scheduled), key=lambda s: s.start
        )
        self._random: list[Spell] = []
        self._cursor = ensure_utc(origin) - timedelta(days=1)
        self._until = self._cursor
        self._keep = keep
        self.forgotten_before: datetime | None = None

    @property
    def kept(self) -> int:
        """Random spells held (for the tests of a long run's memory)."""
        return len(self._random)

    def _extend(self, until: datetime) -> None:
        rate = self._config.per_week / (7 * 86400.0)
        if rate > 0:
            while self._cursor <= until:
                self._cursor += timedelta(seconds=self._rng.expovariate(rate))
                length = timedelta(minutes=self._rng.expovariate(1 / self._config.mean_minutes))
                kind = self._rng.choice(self._config.kinds)
                self._random.append(Spell(self._cursor, self._cursor + length, kind))
        if until > self._until:
            self._until = until
            if self._keep is not None:
                cutoff = until - self._keep
                if self.forgotten_before is None or cutoff - self.forgotten_before >= _FORGET_STEP:
                    self._forget(cutoff)

    def _forget(self, cutoff: datetime) -> None:
        """Drop the random spells over before ``cutoff``; the scheduled ones are the config's."""
        self._random = [s for s in self._random if s.end > cutoff]
        self.forgotten_before = cutoff

    def _remembered(self, at: datetime) -> None:
        if self.forgotten_before is not None and at < self.forgotten_before:
            raise ValueError(
                f"the outages before {self.forgotten_before.isoformat()} were forgotten "
                "(the simulator keeps only recent days)"
            )

    def at(self, instant: datetime) -> Spell | None:
        at = ensure_utc(instant)
        self._extend(at)
        self._remembered(at)
        for spell in self._spells:
            if spell.start <= at < spell.end:
                return spell
        # Random spells may overlap: the latest one to start may be over while an earlier, longer
        # one still runs.
        for spell in reversed(self._random):
            if spell.start <= at < spell.end:
                return spell
        return None

    def between(self, start: datetime, end: datetime) -> list[Spell]:
        self._extend(ensure_utc(end))
        self._remembered(ensure_utc(start))
        found = [s for s in self._spells + self._random if s.start < end and s.end > start]
        return sorted(found, key=lambda s: s.start)


@dataclass
class ServiceTruth:
    """A booking form at a site: its counters, its outages, its layout."""

    site: SiteConfig
    config: ServiceConfig
    counters: dict[int, CounterTruth]
    outages: OutagePlan

    @property
    def id(self) -> str:
        return self.config.id

    def layout_at(self, instant: datetime) -> str:
        change = self.config.layout_change_at
        return "v2" if change is not None and ensure_utc(instant) >= change else "v1"

    def counter(self, counter_id: int | None = None) -> CounterTruth:
        if counter_id is None:
            return next(iter(self.counters.values()))
        return self.counters[counter_id]

    def snapshot(self, instant: datetime, counter_id: int | None = None) -> dict[str, object]:
        """The truth at one instant, as ``/_truth`` answers it."""
        at = ensure_utc(instant)
        spell = self.outages.at(at)
        counters = [self.counter(counter_id)] if counter_id else list(self.counters.values())
        rows: list[dict[str, object]] = []
        for counter in counters:
            free = counter.free_slots(at)
            window = counter.release.window_at(at)
            rows.append(
                {
                    "planning": counter.counter_id,
                    "label": counter.label,
                    "window_days": window,
                    "available": bool(free),
                    "free_count": len(free),
                    "first_slots": [s.start.isoformat() for s in free[:2]],
                    "free_slots": [s.start.isoformat() for s in free],
                }
            )
        return {
            "service": self.id,
            "site": self.site.slug,
            "departement": self.site.departement,
            "at": at.isoformat(),
            "state": spell.kind if spell else "up",
            "layout": self.layout_at(at),
            "counters": rows,
        }


@dataclass
class World:
    """Every simulated service of a scenario, addressable by id."""

    scenario: ScenarioConfig
    seed: int
    services: dict[str, ServiceTruth] = field(default_factory=dict)

    @classmethod
    def from_scenario(
        cls, scenario: ScenarioConfig, seed: int | None = None, keep: timedelta | None = None
    ) -> World:
        """``keep``: how much of the past each counter remembers (everything by default)."""
        chosen = scenario.scenario.seed if seed is None else seed
        world = cls(scenario, chosen)
        origin = scenario.scenario.start
        for site in scenario.sites:
            for service in site.services:
                counters = {
                    c.id: CounterTruth(service.id, c, service.model_for(c), chosen, origin, keep)
                    for c in service.counters
                }
                outages = OutagePlan(service.outages, chosen, service.id, origin, keep)
                world.services[service.id] = ServiceTruth(site, service, counters, outages)
        return world

    @property
    def start(self) -> datetime:
        return self.scenario.scenario.start

    def __iter__(self) -> Iterator[ServiceTruth]:
        return iter(self.services.values())

    def timeline(
        self, service_id: str, start: datetime, end: datetime, counter_id: int | None = None
    ) -> tuple[list[Segment], list[Spell]]:
        """The whole truth of a period: availability segments and outage spells."""
        service = self.services[service_id]
        return service.counter(counter_id).timeline(start, end), service.outages.between(start, end)


def share_without_slot(segments: list[Segment]) -> float:
    """Share of the time with no bookable slot (outages not taken into account)."""
    total = sum(s.seconds for s in segments)
    empty = sum(s.seconds for s in segments if s.free == 0)
    return math.nan if total == 0 else empty / total
