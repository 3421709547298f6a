"""The observatory's indicators, as pure functions of tallies, days and the robot's runs.

Definitions (docs/method.md states them for readers):

- valid probes: ``available`` + ``unavailable``; barriers, site errors and unrecognized pages
  never count as "no slot";
- failure rate: E / valid; opening rate: 1 - failure rate; short-horizon availability: A / valid;
- downtime rate: site_error / all probes; barrier rate: barrier / all probes, also by kind;
- lead time: first slot - probe time, Kaplan-Meier median and P90 over valid probes, those that
  found nothing censored at their horizon (``leadtime.py``);
- longest blocked spell: the longest run of consecutive days each with probes and none in A-D;
  a day without any probe (the robot absent) ends a run, it is not counted as blocked;
- coverage: days with probes, valid probes per day, and the hours when the robot itself was not
  running (between a run's last sign of life and the next run's start).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import StrEnum

from guichets.model import Category, Outcome
from guichets.stats.leadtime import LeadQuantile, lead_quantile, lead_quantiles
from guichets.stats.wilson import Share
from guichets.tally import Tally

__all__ = [
    "DayStatus",
    "barrier_rate",
    "barrier_rates_by_kind",
    "category_share",
    "day_status",
    "downtime_rate",
    "failure_rate",
    "lead_time",
    "lead_times",
    "longest_blocked_spell",
    "longest_spell",
    "opening_rate",
    "robot_gaps",
    "short_horizon_rate",
    "unrecognized_rate",
]


def category_share(t: Tally, category: Category | str) -> Share:
    """Valid probes of one category, over valid probes."""
    return Share(t.categories[str(category)], t.valid)


def failure_rate(t: Tally) -> Share:
    """E over valid probes: the share of attempts that found no date at all."""
    return category_share(t, Category.E)


def opening_rate(t: Tally) -> Share:
    """A to D over valid probes: "if each site were a real counter, how often would it be open"."""
    return failure_rate(t).complement()


def short_horizon_rate(t: Tally) -> Share:
    """A over valid probes: at least two dates within one month."""
    return category_share(t, Category.A)


def _over_all(t: Tally, outcome: Outcome) -> Share:
    return Share(t.outcomes[outcome], t.probes)


def downtime_rate(t: Tally) -> Share:
    """Site errors over all probes."""
    return _over_all(t, Outcome.SITE_ERROR)


def barrier_rate(t: Tally) -> Share:
    """Barriers over all probes."""
    return _over_all(t, Outcome.BARRIER)


def unrecognized_rate(t: Tally) -> Share:
    """Pages the robot could not read, over all probes."""
    return _over_all(t, Outcome.UNRECOGNIZED)


def barrier_rates_by_kind(t: Tally) -> dict[str, Share]:
    """Each kind of barrier (blocked, rate_limited, captcha...) over all probes."""
    return {kind: Share(n, t.probes) for kind, n in t.kinds(Outcome.BARRIER).items()}


def lead_time(t: Tally, q: float) -> LeadQuantile | None:
    """The ``q`` quantile of the lead time; None without valid probes."""
    return lead_quantile(t.leads, t.censored, q)


def lead_times(t: Tally, qs: Sequence[float]) -> dict[float, LeadQuantile | None]:
    """:func:`lead_time` of each of ``qs``, from one sort of the samples (``lead_quantiles``)."""
    return lead_quantiles(t.leads, t.censored, qs)


class DayStatus(StrEnum):
    """What a day of one service was, from its probes ("blocked is not closed")."""

    OPEN = "open"  # at least one probe found a date (A-D)
    CLOSED = "closed"  # valid probes, none found a date (E): closed, as a person found it
    BLIND = "blind"  # probes, none valid (errors, barriers, unreadable pages): nobody could read
    GAP = "gap"  # no probe at all: nobody looked


def day_status(probes: int, valid: int, found_a_date: int) -> DayStatus:
    """A service-day's status from its counts."""
    if found_a_date:
        return DayStatus.OPEN
    if valid:
        return DayStatus.CLOSED
    return DayStatus.BLIND if probes else DayStatus.GAP


def longest_spell(statuses: Iterable[DayStatus], *counted: DayStatus) -> int:
    """The longest run of consecutive days whose status is one of ``counted``."""
    best = run = 0
    for status in statuses:
        run = run + 1 if status in counted else 0
        best = max(best, run)
    return best


def longest_blocked_spell(statuses: Iterable[DayStatus]) -> int:
    """The longest run of days probed without a date found: closed or blind days, mixed (the
    figure published before closed and blind days were told apart)."""
    return longest_spell(statuses, DayStatus.CLOSED, DayStatus.BLIND)


def robot_gaps(
    alive: Sequence[tuple[datetime, datetime]], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The parts of [start, end) covered by no run: when the robot itself was not looking.

    ``alive``: each run's start and its last sign of life (heartbeat or end).
    """
    gaps: list[tuple[datetime, datetime]] = []
    cursor = start
    for begin, last in sorted(alive):
        if last <= cursor or begin >= end:
            continue
        if begin > cursor:
            gaps.append((cursor, begin))
        cursor = max(cursor, last)
        if cursor >= end:
            break
    if cursor < end:
        gaps.append((cursor, end))
    return gaps
