"""Report rows: the indicators of each service (or site, département, France) and period.

Rows are built from daily rollups, so that a month over hundreds of services reads thousands of
service-days, not hundreds of thousands of probes. Above the service level, probes are pooled:
a département's failure rate is its services' E probes over their valid probes; its longest
blocked spell is the longest of its services'.

:meth:`ReportRow.to_json` is the ``guichets report --format json`` contract.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from guichets.departements import DEPARTEMENTS
from guichets.model import PARIS, Category, Outcome
from guichets.periods import DateRange, Grain, local_day, period_days, period_label
from guichets.stats.indicators import (
    DayStatus,
    barrier_rate,
    barrier_rates_by_kind,
    category_share,
    day_status,
    downtime_rate,
    failure_rate,
    lead_time,
    lead_times,
    longest_blocked_spell,
    longest_spell,
    opening_rate,
    robot_gaps,
    short_horizon_rate,
    unrecognized_rate,
)
from guichets.stats.leadtime import LeadQuantile
from guichets.stats.wilson import Share
from guichets.tally import DayRollup, ProbeFacts, Tally

__all__ = ["Level", "ReportRow", "build_report", "group_rows", "rollups_of"]


class Level(StrEnum):
    SERVICE = "service"
    SITE = "site"
    DEPARTEMENT = "departement"
    FRANCE = "france"


_NO_DAYS: frozenset[date] = frozenset()  # a settled row's probed days (settle_days), shared


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _share(share: Share) -> tuple[float | None, list[float] | None]:
    interval = share.interval
    return share.value, None if interval is None else [interval[0], interval[1]]


def _lead(q: LeadQuantile | None) -> tuple[float | None, float | None]:
    if q is None:
        return None, None
    return _round(q.days), _round(q.beyond_days)


@dataclass(slots=True)  # no instance dict: the site holds 22 000 rows at 500 services x 3 years
class ReportRow:
    """One service (or site, département, France) over one period."""

    level: Level
    key: str  # the service id, site host, département code, or "FR"
    period: str
    days: DateRange
    tally: Tally = field(default_factory=Tally)
    service: str | None = None
    site: str | None = None
    departement: str | None = None
    services: set[str] = field(default_factory=set)
    probed_days: set[date] | frozenset[date] = field(default_factory=set)  # see settle_days
    longest_blocked_days: int = 0  # closed or blind days, mixed (kept for earlier readers)
    longest_closed_days: int = 0  # valid probes, none found a date
    longest_blind_days: int = 0  # probes, none valid: the robot could not read
    robot_down_hours: float | None = None
    label: str | None = None
    # Reads behind a captcha a person answered (guichets assist): not of the robot's random
    # sample, so never added to ``tally``; reported beside it (docs/method.md).
    assisted: Tally = field(default_factory=Tally)
    _leads: dict[float, LeadQuantile | None] = field(
        default_factory=dict, repr=False, compare=False
    )
    _settled: bool = field(default=False, repr=False, compare=False)  # see settle_leads
    _days_probed: int | None = field(default=None, repr=False)  # see settle_days

    # -- indicators ------------------------------------------------------------------------------

    @property
    def valid(self) -> int:
        return self.tally.valid

    @property
    def failure(self) -> Share:
        return failure_rate(self.tally)

    def lead(self, q: float) -> LeadQuantile | None:
        """Kept once computed: the site asks each row's median and P90 in two languages."""
        if q not in self._leads:
            if self._settled:
                raise ValueError(f"lead time quantile {q} asked after settle_leads dropped it")
            self._leads[q] = lead_time(self.tally, q)
        return self._leads[q]

    def settle_leads(self, quantiles: Iterable[float]) -> None:
        """Compute the lead-time quantiles that will be asked, then drop the samples they come
        from (a number per valid probe, in ``tally`` and ``assisted``): more than half of the
        memory of a month's rows (8.8 of 15.7 MB for 500 services), and the site keeps every
        month's rows (36 at three years) in memory and asks only these quantiles. Another
        quantile asked afterwards is an error, never a figure computed from nothing.

        The tallies are replaced by settled ones (:meth:`~guichets.tally.Tally.settled`: read
        only, their empty parts shared), and the row's names by interned strings, so that the
        rows of a month, pickled together, carry each name once."""
        missing = [q for q in quantiles if q not in self._leads]
        if missing and not self._settled:
            self._leads.update(lead_times(self.tally, missing))
        for q in quantiles:
            self.lead(q)  # asked after a first settle: an error, as the docstring says
        self.tally = self.tally.settled()
        self.assisted = self.assisted.settled()
        self.key, self.period = sys.intern(self.key), sys.intern(self.period)
        for name in ("service", "site", "departement", "label"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, sys.intern(value))
        self._settled = True

    @property
    def days_probed(self) -> int:
        """Days with at least one probe: counted from ``probed_days``, or kept by settle_days."""
        return len(self.probed_days) if self._days_probed is None else self._days_probed

    def settle_days(self) -> None:
        """Keep the number of probed days and drop the days themselves: a set of up to 31 dates
        per row is half of the memory of a month's rows once the lead samples are dropped
        (1.9 of 3.8 MB for 500 services), the site holds every month's rows (36 at three years),
        and only their number is read afterwards. Grouping a settled row is an error (its days
        could no longer be merged), never a count made from nothing."""
        self._days_probed = len(self.probed_days)
        self.probed_days = _NO_DAYS

    @property
    def first_slot(self) -> datetime | None:
        first = self.tally.first_slot
        return None if first is None else first.astimezone(PARIS)

    def to_json(self) -> dict[str, Any]:
        """The JSON contract of ``guichets report``; shares with their 95 % Wilson interval."""
        t = self.tally
        row: dict[str, Any] = {
            "level": str(self.level),
            "service": self.service,
            "label": self.label,
            "site": self.site,
            "departement": self.departement,
            "departement_name": DEPARTEMENTS.get(self.departement or ""),
            "period": self.period,
            "from": self.days.first.isoformat(),
            "to": self.days.last.isoformat(),
            "services": len(self.services),
            "probes": t.probes,
            "valid": t.valid,
            **{o.value: t.outcomes[o] for o in Outcome if not o.valid},
            "available": t.outcomes[Outcome.AVAILABLE],
            "unavailable": t.outcomes[Outcome.UNAVAILABLE],
            **{c.value: t.categories[c] for c in Category},
        }
        shares = {
            "failure_rate": failure_rate(t),
            "opening_rate": opening_rate(t),
            "short_horizon_rate": short_horizon_rate(t),
            **{f"{c.value}_rate": category_share(t, c) for c in Category},
            "site_error_rate": downtime_rate(t),
            "barrier_rate": barrier_rate(t),
            "unrecognized_rate": unrecognized_rate(t),
        }
        for name, share in shares.items():
            row[name], row[f"{name}_ci"] = _share(share)
        row["few_probes"] = failure_rate(t).few
        row["assisted_probes"] = self.assisted.probes
        row["assisted_valid"] = self.assisted.valid
        row["assisted_failure_rate"], row["assisted_failure_rate_ci"] = _share(
            failure_rate(self.assisted)
        )
        row["barrier_by_kind"] = {
            kind: {"count": s.count, "rate": s.value, "ci": _share(s)[1]}
            for kind, s in barrier_rates_by_kind(t).items()
        }
        row["site_error_by_kind"] = t.kinds(Outcome.SITE_ERROR)
        row["unrecognized_by_kind"] = t.kinds(Outcome.UNRECOGNIZED)
        first = self.first_slot
        row["first_slot"] = None if first is None else first.isoformat()
        row["median_lead_days"], row["median_lead_beyond_days"] = _lead(self.lead(0.5))
        row["p90_lead_days"], row["p90_lead_beyond_days"] = _lead(self.lead(0.9))
        row["slots_seen"] = t.slots_seen
        row["days"] = self.days.days
        row["days_probed"] = self.days_probed
        row["valid_per_day"] = _round(t.valid / self.days.days, 2)
        row["longest_blocked_days"] = self.longest_blocked_days
        row["longest_closed_days"] = self.longest_closed_days
        row["longest_blind_days"] = self.longest_blind_days
        row["robot_down_hours"] = _round(self.robot_down_hours, 2)
        return row


def rollups_of(facts: Iterable[ProbeFacts]) -> list[DayRollup]:
    """Daily rollups computed straight from probes: what the database holds, recomputed."""
    days: dict[tuple[str, date], DayRollup] = {}
    for probe in facts:
        key = (probe.service, local_day(probe.started_at))
        rollup = days.get(key)
        if rollup is None:
            rollup = days[key] = DayRollup(key[0], key[1], probe.departement, probe.site, Tally())
        rollup.tally.add(probe)
    return sorted(days.values(), key=lambda r: (r.service, r.day))


def _down_hours(
    alive: Sequence[tuple[datetime, datetime]] | None, days: DateRange, until: datetime | None
) -> float | None:
    """Hours of the period when no run of the robot was alive; None when nobody can tell."""
    if not alive or until is None:
        return None
    end = min(days.end, until)
    if end <= days.start:
        return None
    gaps = robot_gaps(alive, days.start, end)
    return sum((b - a).total_seconds() for a, b in gaps) / 3600


def _group_key(level: Level, row: ReportRow) -> tuple[str, str | None, str | None, str | None]:
    """(key, service, site, departement) of the row a service row adds up to at ``level``."""
    if level is Level.SITE:
        return row.site or "?", None, row.site, row.departement
    if level is Level.DEPARTEMENT:
        return row.departement or "?", None, None, row.departement
    return "FR", None, None, None


def build_report(
    rollups: Iterable[DayRollup],
    whole: DateRange,
    *,
    level: Level = Level.SERVICE,
    grain: Grain = Grain.ALL,
    alive: Sequence[tuple[datetime, datetime]] | None = None,
    until: datetime | None = None,
    labels: Mapping[str, str] | None = None,
    assisted: Iterable[DayRollup] = (),
) -> list[ReportRow]:
    """Rows of ``level`` for each period of ``grain`` within ``whole``.

    ``assisted``: the daily rollups of assisted reads (``rollups_of`` their facts), counted in
    each row's ``assisted`` tally and never in its own.

    ``alive``: each run's start and last sign of life, to show the robot's own gaps; ``until``:
    the last instant anything was recorded (later is the future, not a gap).
    """
    # Only what a day was (open, closed, blind) is kept per day: the tallies add up into the rows
    # and are let go, so that a year of hundreds of services streams through.
    opened: dict[tuple[str, str], dict[date, DayStatus]] = {}
    probed: dict[tuple[str, str], set[date]] = {}  # each row's probed_days
    rows: dict[tuple[str, str], ReportRow] = {}

    def row_of(r: DayRollup) -> ReportRow:
        period = period_label(r.day, grain, whole)
        key = (r.service, period)
        row = rows.get(key)
        if row is None:
            row = rows[key] = ReportRow(
                Level.SERVICE,
                r.service,
                period,
                period_days(period, grain, whole),
                service=r.service,
                site=r.site,
                departement=r.departement,
                services={r.service},
                probed_days=probed.setdefault(key, set()),
                label=(labels or {}).get(r.service),
            )
            opened[key] = {}
        return row

    for r in assisted:
        if r.day in whole:
            row_of(r).assisted += r.tally
    for r in rollups:
        if r.day not in whole:
            continue
        row = row_of(r)
        key = (r.service, row.period)
        row.tally += r.tally
        if r.tally.probes:
            probed[key].add(r.day)
        status = day_status(r.tally.probes, r.tally.valid, r.tally.found_a_date)
        if status is not DayStatus.GAP:
            opened[key][r.day] = status
    down: dict[str, float | None] = {}
    for key, row in rows.items():
        statuses = [opened[key].get(d, DayStatus.GAP) for d in row.days]
        row.longest_blocked_days = longest_blocked_spell(statuses)
        row.longest_closed_days = longest_spell(statuses, DayStatus.CLOSED)
        row.longest_blind_days = longest_spell(statuses, DayStatus.BLIND)
        if row.period not in down:
            down[row.period] = _down_hours(alive, row.days, until)
        row.robot_down_hours = down[row.period]
    services = sorted(rows.values(), key=lambda r: (r.days.first, r.key))
    return services if level is Level.SERVICE else group_rows(services, level)


def group_rows(services: Iterable[ReportRow], level: Level) -> list[ReportRow]:
    """Service rows added up to ``level`` (site, département, France), period by period: the
    site builder computes the service rows once and groups them at every level."""
    groups: dict[tuple[str, str], ReportRow] = {}
    for row in services:
        if row._days_probed is not None:
            raise ValueError(f"{row.key} {row.period}: a row whose days were settled is grouped")
        name, service, site, departement = _group_key(level, row)
        group = groups.get((name, row.period))
        if group is None:
            group = groups[(name, row.period)] = ReportRow(
                level,
                name,
                row.period,
                row.days,
                service=service,
                site=site,
                departement=departement,
                robot_down_hours=row.robot_down_hours,
            )
        group.tally += row.tally
        group.assisted += row.assisted
        group.services |= row.services
        group.probed_days |= row.probed_days
        group.longest_blocked_days = max(group.longest_blocked_days, row.longest_blocked_days)
        group.longest_closed_days = max(group.longest_closed_days, row.longest_closed_days)
        group.longest_blind_days = max(group.longest_blind_days, row.longest_blind_days)
    return sorted(groups.values(), key=lambda r: (r.days.first, r.key))
