"""When slots appear in batches, and how long they last, from the probes alone.

Some prefectures open their calendar once a week or once a day ("every Thursday at 10:00"), and the
batch is gone within minutes or hours. The probes show it as *episodes*: a run of probes that found
a date, between two that found none. Each episode says the batch appeared between the last empty
probe before it and its first probe with a date, and was gone between its last probe with a date
and the next empty one.

1. **When.** Each episode's appearance interval is placed on the weekly (then the daily) cycle of
   the Paris wall clock; the window where most intervals overlap is the release time. It is called
   a batch release when at least 60 % of at least three episodes, over at least two cycles, agree
   on it, and the service shows a date to fewer than half of its probes.
2. **How long.** For each agreeing episode the batch lasted at least from the release to its last
   probe with a date, and at most to the next empty probe: the medians of both bounds are reported.
   With probes at random minutes, the share of probes that find a date at each delay after the
   release also estimates, summed over delays, the mean time the batch lasts (the "curve"); with
   probes at fixed minutes every probe sits at the same delay and the curve cannot be drawn.
"""

from __future__ import annotations

import math
import statistics
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any, Final

from guichets.model import PARIS, Category, Outcome
from guichets.periods import DateRange
from guichets.stats.wilson import Share

__all__ = [
    "Episode",
    "Release",
    "detect_release",
    "episodes",
    "release_rows",
    "releases_markdown",
    "releases_of",
]

CYCLES: Final = {"weekly": 7 * 86_400, "daily": 86_400}
MIN_EPISODES: Final = 3
AGREEMENT: Final = 0.6
DAY_SHARE: Final = 0.4  # of the busiest release day's episodes, for a day to be a release day
BIN_SECONDS: Final = {"weekly": 1800, "daily": 900}
WEEKDAYS_EN: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True, slots=True)
class Episode:
    """A run of probes with a date, between two valid probes without one."""

    before: datetime  # the last empty probe before
    first: datetime
    last: datetime
    after: datetime  # the first empty probe after
    probes: int


def episodes(points: Iterable[tuple[datetime, bool]]) -> list[Episode]:
    """Complete episodes of a service's valid probes, given as (instant, found a date), in order.

    Runs at the edges (with no empty probe before or after) are left out: they bound nothing.
    """
    found: list[Episode] = []
    before: datetime | None = None
    first: datetime | None = None
    last: datetime | None = None
    count = 0
    for at, dated in points:
        if dated:
            if first is None:
                first, count = at, 0
            last, count = at, count + 1
            continue
        if first is not None and last is not None and before is not None:
            found.append(Episode(before, first, last, at, count))
        first = last = None
        before = at
    return found


def phase(instant: datetime, cycle: str) -> float:
    """Seconds since the start of the cycle (Monday or midnight), on the Paris wall clock."""
    local = instant.astimezone(PARIS)
    seconds = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    return seconds + (local.weekday() * 86_400 if cycle == "weekly" else 0)


def _covers(start: float, length: float, point: float, period: int) -> bool:
    """Whether the span (start, start + length] of the circle holds ``point``: half-open, so that
    probes at one fixed minute, whose spans meet end to start, do not all seem to agree."""
    return 0 < (point - start) % period <= length


def _best_window(spans: Sequence[tuple[float, float]], period: int) -> tuple[float, float, int]:
    """(start phase, width, count): where most (start, length) spans of the circle overlap.

    Each span's end is a candidate point; the spans covering it are counted, and the first
    point covered by the most spans wins. Testing every span against every point cost most of
    a month's release analysis (hundreds of episodes a service: 37 million tests for a year of
    100 services), so the spans that may cover a point are looked up first (``_Starts``) and
    only those are tested, with the same ``_covers``: the same counts, the same winner."""
    best: tuple[float, float, int] = (0.0, 0.0, 0)
    starts = _Starts(spans, period)
    for start, length in spans:
        point = (start + length) % period
        offsets = [
            (point - s) % period for s, n in starts.near(point) if _covers(s, n, point, period)
        ]
        if len(offsets) > best[2]:
            width = min(offsets)  # how far back from point every covering span still reaches
            best = ((point - width) % period, width, len(offsets))
    return best


class _Starts:
    """Spans sorted by start, in groups of similar length: the spans that can cover a point are
    those of each group that start at most the group's longest length before it (on the
    circle), found by bisection; a margin of a second keeps any span that rounding could put
    either side (``_covers`` decides)."""

    def __init__(self, spans: Sequence[tuple[float, float]], period: int) -> None:
        self.period = period
        groups: dict[int, list[tuple[float, float]]] = {}
        for start, length in spans:
            groups.setdefault(math.frexp(length)[1], []).append((start, length))
        self.groups = []
        for found in groups.values():
            found.sort()
            reach = max(length for _, length in found) + 1.0
            self.groups.append(([start for start, _ in found], found, reach))

    def near(self, point: float) -> list[tuple[float, float]]:
        period, near = self.period, []
        for starts, spans, reach in self.groups:
            low, high = point - reach, point + 1.0
            if reach + 1.0 >= period:
                near += spans
                continue
            if low < 0:  # the window goes back over the start of the cycle
                near += spans[: bisect_right(starts, high)]
                near += spans[bisect_left(starts, low + period) :]
            elif high > period:  # or forward over its end
                near += spans[bisect_left(starts, low) :]
                near += spans[: bisect_right(starts, high - period)]
            else:
                near += spans[bisect_left(starts, low) : bisect_right(starts, high)]
        return near


@dataclass(frozen=True)
class Release:
    """A batch release found in a service's probes, and how long its batches last."""

    service: str
    cycle: str  # "weekly" or "daily"
    opens_from: float  # phase, seconds after Monday 00:00 (weekly) or midnight (daily), Paris
    opens_width: float  # seconds: the release lies in [opens_from, opens_from + width]
    episodes: int  # episodes placed on the cycle
    agreeing: int  # of which agree on the window
    lasts_at_least_minutes: float  # medians over the agreeing episodes
    lasts_at_most_minutes: float
    lasts_mean_minutes: float | None  # from the curve, when there are probes at every delay
    dated: Share  # valid probes that found a date
    weekdays: tuple[int, ...] = tuple(range(7))  # days (0 = Monday) with a release
    curve: list[tuple[int, Share]] = field(default_factory=list)  # minutes after release

    def opens_at(self) -> tuple[int | None, str, str]:
        """(weekday 0-6 or None, from HH:MM, to HH:MM)."""
        start = self.opens_from
        day = int(start // 86_400) if self.cycle == "weekly" else None
        return day, _clock(start), _clock(start + self.opens_width)

    def describe(self) -> str:
        day, start, end = self.opens_at()
        if day is not None:
            when = f"every {WEEKDAYS_EN[day]}"
        elif len(self.weekdays) == 7:
            when = "every day"
        else:
            when = "every " + ", ".join(WEEKDAYS_EN[d] for d in self.weekdays)
        mean = (
            f", about {_duration(self.lasts_mean_minutes)} on average"
            if self.lasts_mean_minutes is not None
            else ""
        )
        return (
            f"{when} between {start} and {end}; the batch lasts at least "
            f"{_duration(self.lasts_at_least_minutes)} and at most "
            f"{_duration(self.lasts_at_most_minutes)} (medians over {self.agreeing} of "
            f"{self.episodes} episodes){mean}"
        )

    def to_json(self) -> dict[str, Any]:
        day, start, end = self.opens_at()
        return {
            "service": self.service,
            "cycle": self.cycle,
            "weekday": day,
            "weekdays": list(self.weekdays),
            "opens_from": start,
            "opens_to": end,
            "episodes": self.episodes,
            "agreeing": self.agreeing,
            "lasts_at_least_minutes": round(self.lasts_at_least_minutes, 1),
            "lasts_at_most_minutes": round(self.lasts_at_most_minutes, 1),
            "lasts_mean_minutes": None
            if self.lasts_mean_minutes is None
            else round(self.lasts_mean_minutes, 1),
            "dated": self.dated.count,
            "valid": self.dated.total,
            "curve": [
                {"minutes": m, "dated": s.count, "valid": s.total, "share": s.value}
                for m, s in self.curve
            ],
        }


def _clock(seconds: float) -> str:
    s = round(seconds) % 86_400
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}"


def _duration(minutes: float) -> str:
    if minutes < 90:
        return f"{minutes:.0f} min"
    return f"{minutes / 60:.1f} h"


def _curve(
    points: Sequence[tuple[datetime, bool]], cycle: str, release: float, days: frozenset[int]
) -> tuple[list[tuple[int, Share]], float | None]:
    """Share of probes with a date by delay after the release; and the mean lifetime it implies.

    Only cycles that start on a release day count (a daily release may skip weekends).
    """
    period, width = CYCLES[cycle], BIN_SECONDS[cycle]
    half = period // 2
    bins: dict[int, list[int]] = {}
    far = [0, 0]
    for at, dated in points:
        delay = (phase(at, cycle) - release) % period
        if (at - timedelta(seconds=delay)).astimezone(PARIS).weekday() not in days:
            continue
        cell = bins.setdefault(int(delay // width), [0, 0]) if delay < half else far
        cell[0] += dated
        cell[1] += 1
    curve = [(b * width // 60, Share(c[0], c[1])) for b, c in sorted(bins.items())]
    if len(bins) < half // width or far[1] == 0:
        return curve, None  # some delays never probed (fixed minutes): no estimate
    baseline = far[0] / far[1]
    mean = sum(max(0.0, c[0] / c[1] - baseline) * width for c in bins.values()) / 60
    return curve, mean


def detect_release(service: str, points: Sequence[tuple[datetime, bool]]) -> Release | None:
    """The batch release of one service's valid probes (instant, found a date), if there is one."""
    if not points:
        return None
    dated = Share(sum(1 for _, d in points if d), len(points))
    if dated.value is None or dated.value >= 0.5:
        return None
    runs = episodes(points)
    for cycle, period in CYCLES.items():
        usable = [e for e in runs if (e.first - e.before).total_seconds() < period / 2]
        if len(usable) < MIN_EPISODES:
            continue
        spans = [(phase(e.before, cycle), (e.first - e.before).total_seconds()) for e in usable]
        start, width, count = _best_window(spans, period)
        agreeing = [
            e
            for e, (s, n) in zip(usable, spans, strict=True)
            if _covers(s, n, (start + width) % period, period)
        ]
        cycles = {int(e.first.timestamp() // period) for e in agreeing}
        if count < AGREEMENT * len(usable) or len(cycles) < 2 or len(agreeing) < MIN_EPISODES:
            continue
        least, most, days = [], [], Counter[int]()
        for e in agreeing:
            opened_late = e.first - timedelta(
                seconds=(phase(e.first, cycle) - start - width) % period
            )
            opened_early = opened_late - timedelta(seconds=width)
            least.append(max(0.0, (e.last - opened_late).total_seconds() / 60))
            most.append((e.after - opened_early).total_seconds() / 60)
            days[opened_late.astimezone(PARIS).weekday()] += 1
        # Release days: those with a fair share of the agreeing episodes (a slot freed by a
        # cancellation near the release time on another day must not make that day one).
        top = max(days.values())
        release_days = frozenset(d for d, n in days.items() if n >= DAY_SHARE * top)
        curve, mean = _curve(points, cycle, start + width / 2, release_days)
        return Release(
            service,
            cycle,
            start,
            width,
            len(usable),
            len(agreeing),
            statistics.median(least),
            statistics.median(most),
            mean,
            dated,
            tuple(sorted(release_days)),
            curve,
        )
    return None


def release_rows(
    points: Iterable[tuple[str, datetime, str, str | None]],
) -> list[Release]:
    """Batch releases of every service in (service, started_at, outcome, category) rows, ordered
    by service and time; services without a batch pattern are left out."""
    return releases_of(
        (
            service,
            [
                (at, category != Category.E)
                for _, at, outcome, category in rows
                if outcome in (Outcome.AVAILABLE, Outcome.UNAVAILABLE)
            ],
        )
        for service, rows in groupby(points, key=lambda p: p[0])
    )


def releases_of(services: Iterable[tuple[str, Sequence[tuple[datetime, bool]]]]) -> list[Release]:
    """The batch releases of each service's valid probes (instant, found a date), services in
    order: :func:`release_rows` once the rows are grouped and their valid points taken, which
    the site's month files do from their columns (``site/month_points.py``)."""
    found: list[Release] = []
    for service, valid in services:
        release = detect_release(service, valid)
        if release is not None:
            found.append(release)
    return found


def releases_markdown(found: Sequence[Release], days: DateRange) -> str:
    title = f"## Batch releases, {days.label()}"
    if not found:
        return f"{title}\n\nNo service shows slots released in batches over these days.\n"
    lines = [title, ""]
    lines += [f"- **{r.service}**: {r.describe()}." for r in found]
    return "\n".join(lines) + "\n"
