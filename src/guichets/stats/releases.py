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

import statistics
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
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
_WEEK: Final = frozenset(range(7))
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


def _wall(instant: datetime) -> tuple[float, int]:
    """(seconds since midnight, weekday) on the Paris wall clock: both cycles' phases
    (``_on_cycle``), the same floats as :func:`phase`'s."""
    local = instant.astimezone(PARIS)
    seconds = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    return seconds, local.weekday()


def _on_cycle(wall: tuple[float, int], cycle: str) -> float:
    seconds, weekday = wall
    return seconds + (weekday * 86_400 if cycle == "weekly" else 0)


def _covers(start: float, length: float, point: float, period: int) -> bool:
    """Whether the span (start, start + length] of the circle holds ``point``: half-open, so that
    probes at one fixed minute, whose spans meet end to start, do not all seem to agree."""
    return 0 < (point - start) % period <= length


def _best_window(spans: Sequence[tuple[float, float]], period: int) -> tuple[float, float, int]:
    """(start phase, width, count): where most (start, length) spans of the circle overlap.

    Each span's end is a candidate point; the spans covering it (``_covers``) are counted, and
    the first point covered by the most spans wins. Testing every span against every point is
    quadratic (hundreds of episodes a service: 37 million tests for a year of 100 services),
    and a point can change the result only if it beats the best so far. So every point's count
    is first bounded from above, all at once, by bisection in two sorted lists (``_at_most``),
    and a point is counted, against every span with ``_covers``, only when its bound beats the
    best so far: a point passed over could not have won; the winner, its count and its width
    are those of testing every pair. A month's series needs a few such counts a cycle."""
    best: tuple[float, float, int] = (0.0, 0.0, 0)
    points = [(start + length) % period for start, length in spans]
    for point, bound in zip(points, _at_most(spans, points, period), strict=True):
        if bound <= best[2]:
            continue
        # _covers inlined, its offset kept: the same test, the same offsets.
        offsets = [o for s, n in spans if 0 < (o := (point - s) % period) <= n]
        if len(offsets) > best[2]:
            width = min(offsets)  # how far back from point every covering span still reaches
            best = ((point - width) % period, width, len(offsets))
    return best


_MARGIN: Final = 1e-6  # seconds: rounding errors of sums below 2**21 s are under 2**-31 s each


def _at_most(
    spans: Sequence[tuple[float, float]], points: Sequence[float], period: int
) -> list[int]:
    """For each point p of [0, period), at least the number of spans ``_covers`` finds covering
    it.

    ``_covers`` takes the offset (p - start) % period in floats: when p >= start it is p -
    start rounded, positive only if p > start; when p < start it is p - start + period rounded
    twice. So a span (start, length) covering p has p in the interval (start, start + length +
    margin], or, when that reaches past the cycle's end, in its copy a period earlier (which
    opens below 0): the margin, far above the few roundings, keeps every covering span in. A
    span shorter than half the cycle has at most one interval holding p, so the intervals
    holding p (opening before p, less those closing before it: one bisection in each sorted
    list) are at least the spans covering it; with no margin at the opening, spans that meet
    end to start (probes at a fixed minute) are not counted. Spans this does not fit (off the
    circle, as long as half of it, a cycle too long for the margin) bound nothing: every
    span."""
    fits = period < 2**20 and all(
        0 <= start < period and 0 <= length < period / 2 for start, length in spans
    )
    if not fits:
        return [len(spans)] * len(points)
    opens, closes = [], []
    for start, length in spans:
        end = start + length + _MARGIN
        opens.append(start)
        closes.append(end)
        if end >= period:
            opens.append(start - period)
            closes.append(end - period)
    opens.sort()
    closes.sort()
    return [bisect_left(opens, point) - bisect_left(closes, point) for point in points]


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
    return _binned(_delays(points, cycle, release, days), cycle)


def _delays(
    points: Sequence[tuple[datetime, bool]], cycle: str, release: float, days: frozenset[int]
) -> Iterator[tuple[float, bool]]:
    """(delay after the release, found a date) of the probes whose cycle started on a release
    day. When every day is one, that day is not looked up: a conversion to the Paris clock a
    probe, a third of the analysis of a month of daily batches."""
    period = CYCLES[cycle]
    every_day = days >= _WEEK
    for at, dated in points:
        delay = (phase(at, cycle) - release) % period
        if every_day or (at - timedelta(seconds=delay)).astimezone(PARIS).weekday() in days:
            yield delay, dated


def _binned(
    delays: Iterable[tuple[float, bool]], cycle: str
) -> tuple[list[tuple[int, Share]], float | None]:
    """:func:`_curve` from the delays: the share with a date by bin of delay, and the mean."""
    period, width = CYCLES[cycle], BIN_SECONDS[cycle]
    half = period // 2
    bins: dict[int, list[int]] = {}
    far = [0, 0]
    for delay, dated in delays:
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
    # Each episode's gap and wall clock, once for both cycles (the daily cycle's usable
    # episodes are among the weekly one's).
    gaps = [(e.first - e.before).total_seconds() for e in runs]
    walls: dict[int, tuple[float, int]] = {}
    for cycle, period in CYCLES.items():
        usable = [i for i, gap in enumerate(gaps) if gap < period / 2]
        if len(usable) < MIN_EPISODES:
            continue
        for i in usable:
            if i not in walls:
                walls[i] = _wall(runs[i].before)
        spans = [(_on_cycle(walls[i], cycle), gaps[i]) for i in usable]
        start, width, count = _best_window(spans, period)
        if count < AGREEMENT * len(usable):
            continue  # too few agree: which ones need not be told
        agreeing = [
            runs[i]
            for i, (s, n) in zip(usable, spans, strict=True)
            if _covers(s, n, (start + width) % period, period)
        ]
        cycles = {int(e.first.timestamp() // period) for e in agreeing}
        if len(cycles) < 2 or len(agreeing) < MIN_EPISODES:
            continue
        return _release(service, points, cycle, (start, width), agreeing, len(usable), dated)
    return None


def _release(
    service: str,
    points: Sequence[tuple[datetime, bool]],
    cycle: str,
    window: tuple[float, float],
    agreeing: Sequence[Episode],
    placed: int,
    dated: Share,
) -> Release:
    """The release in ``window`` (start phase, width) that ``agreeing`` of the ``placed``
    episodes agree on: on which days, how long its batches last. Apart from the window search,
    so that the tests' reference search (tests/test_stats_releases.py) describes its releases
    with the same code."""
    start, width = window
    period = CYCLES[cycle]
    least, most, days = [], [], Counter[int]()
    for e in agreeing:
        opened_late = e.first - timedelta(seconds=(phase(e.first, cycle) - start - width) % period)
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
        placed,
        len(agreeing),
        statistics.median(least),
        statistics.median(most),
        mean,
        dated,
        tuple(sorted(release_days)),
        curve,
    )


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
