"""Days, weeks, months and years as people in France count them: on the Paris wall clock.

A probe belongs to the Paris date on which it started, so that "October" is the October of the
people who tried to book, and a probe at 23:30 UTC on 31 October is a probe of 1 November. Weeks are
ISO weeks (Monday to Sunday).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from guichets.model import PARIS

__all__ = [
    "DateRange",
    "Grain",
    "day_start",
    "local_day",
    "month_range",
    "parse_day",
    "parse_month",
    "period_days",
    "period_label",
]

_MONTH = re.compile(r"(\d{4})-(\d{2})")


class Grain(StrEnum):
    """How finely a report cuts time; ``all`` is the whole range asked, as one period."""

    ALL = "all"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


def local_day(instant: datetime) -> date:
    """The Paris date of an instant."""
    if instant.utcoffset() is None:
        raise ValueError(f"instant {instant.isoformat()} has no offset")
    return instant.astimezone(PARIS).date()


def day_start(day: date) -> datetime:
    """Midnight in Paris on ``day``, in UTC (23 or 25 hours apart across a clock change)."""
    return datetime.combine(day, time(0), tzinfo=PARIS).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class DateRange:
    """Paris dates from ``first`` to ``last``, both included."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(
                f"the range ends ({self.last.isoformat()}) before it starts "
                f"({self.first.isoformat()})"
            )

    def __reduce__(self) -> tuple[type[DateRange], tuple[date, date]]:
        """Pickled as its two dates: the site's month cache holds hundreds a month, and a frozen
        dataclass's default state (restored field by field through ``dataclasses.fields``) took
        a fifth of the time of loading one."""
        return (DateRange, (self.first, self.last))

    @property
    def start(self) -> datetime:
        """The first instant of the range (UTC)."""
        return day_start(self.first)

    @property
    def end(self) -> datetime:
        """The instant just after the range (UTC): ranges of instants are half-open."""
        return day_start(self.last + timedelta(days=1))

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def __iter__(self) -> Iterator[date]:
        day = self.first
        while day <= self.last:
            yield day
            day += timedelta(days=1)

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.first <= day <= self.last

    def label(self) -> str:
        """``2026-10`` for a whole month, ``2026`` for a whole year, else ``first/last``."""
        if self.first.day == 1 and self.last == month_range(self.first.year, self.first.month).last:
            return f"{self.first:%Y-%m}"
        whole_year = (self.first.month, self.first.day, self.last.month, self.last.day)
        if whole_year == (1, 1, 12, 31) and self.first.year == self.last.year:
            return f"{self.first.year}"
        if self.first == self.last:
            return self.first.isoformat()
        return f"{self.first.isoformat()}/{self.last.isoformat()}"


def month_range(year: int, month: int) -> DateRange:
    first = date(year, month, 1)
    following = date(year + (month == 12), month % 12 + 1, 1)
    return DateRange(first, following - timedelta(days=1))


def parse_month(text: str) -> DateRange:
    """``2026-10`` as the days of October 2026; a clear error otherwise."""
    match = _MONTH.fullmatch(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"{text!r} is not a month; write it YYYY-MM, e.g. 2026-10")
    return month_range(int(match.group(1)), int(match.group(2)))


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a date; write it YYYY-MM-DD, e.g. 2026-10-05") from None


def period_label(day: date, grain: Grain, whole: DateRange) -> str:
    """The name of the period of ``grain`` that holds ``day``."""
    if grain is Grain.DAY:
        return day.isoformat()
    if grain is Grain.WEEK:
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if grain is Grain.MONTH:
        return f"{day:%Y-%m}"
    if grain is Grain.YEAR:
        return f"{day.year}"
    return whole.label()


def period_days(label: str, grain: Grain, whole: DateRange) -> DateRange:
    """The days of the period named ``label``, cut to the range asked."""
    if grain is Grain.ALL:
        return whole
    if grain is Grain.DAY:
        span = DateRange(date.fromisoformat(label), date.fromisoformat(label))
    elif grain is Grain.WEEK:
        monday = date.fromisocalendar(int(label[:4]), int(label[6:]), 1)
        span = DateRange(monday, monday + timedelta(days=6))
    elif grain is Grain.MONTH:
        span = month_range(int(label[:4]), int(label[5:]))
    else:
        span = DateRange(date(int(label), 1, 1), date(int(label), 12, 31))
    return DateRange(max(span.first, whole.first), min(span.last, whole.last))
