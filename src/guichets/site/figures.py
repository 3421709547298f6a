"""What the site shows, read from the store once: monthly rows at every level, the latest probes.

The figures are those of ``guichets report`` (same rollups, same :func:`build_report`), cut by
month, so that a number on the site and the same number in a report or the open data can never
differ. The service rows are computed once and added up to départements and France.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from sqlalchemy import func, select

from guichets.catalogue import Catalogue
from guichets.departements import DEPARTEMENTS
from guichets.model import Observation
from guichets.stats.method import METHOD_VERSION
from guichets.stats.periods import DateRange, Grain, month_range
from guichets.stats.press import ServiceName, press_summary
from guichets.stats.releases import release_rows
from guichets.stats.report import Level, ReportRow, build_report, group_rows
from guichets.stats.rollups import COUNT_COLUMNS
from guichets.store import Store, as_utc
from guichets.store.schema import daily_rollups, probes
from guichets.workers.report import seen_from, split_vantages, vantage_barriers

__all__ = ["LATEST_PROBES", "ServiceInfo", "SiteFigures", "read_figures"]

CACHE_FORMAT: Final = 2  # bump when ReportRow changes shape: older cached months are recomputed
LEAD_QUANTILES: Final = (0.5, 0.9)  # the lead times the pages show: median and P90
LATEST_PROBES = 12  # probes listed on a service page


@dataclass(frozen=True)
class ServiceInfo:
    """A service as people name it: from the catalogue, or only its id when it left it."""

    id: str
    departement: str | None
    site: str
    procedure: str
    label: str
    platform: str
    url: str | None


@dataclass
class SiteFigures:
    generated_at: datetime
    last_probe: datetime | None
    months: list[DateRange]  # every month from the first probe's to the last's, in order
    services: dict[str, ServiceInfo]
    by_service: dict[str, dict[str, ReportRow]] = field(default_factory=dict)  # id → month → row
    by_departement: dict[str, dict[str, ReportRow]] = field(default_factory=dict)
    france: dict[str, ReportRow] = field(default_factory=dict)
    latest_probes: dict[str, list[Observation]] = field(default_factory=dict)
    press_markdown: str | None = None
    # service -> (vantage points that met a barrier only, those that read the page) in the
    # latest month, when the barrier was not seen from all of them (guichets.workers.report)
    vantages: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)
    _names: dict[str, ServiceName] | None = field(default=None, repr=False)

    @property
    def latest(self) -> DateRange | None:
        return self.months[-1] if self.months else None

    @property
    def previous(self) -> DateRange | None:
        return self.months[-2] if len(self.months) > 1 else None

    @property
    def monthly_rows(self) -> list[ReportRow]:
        """Every row, France first, then départements, then services: the open data's figures."""
        rows = list(self.france.values())
        for code in sorted(self.by_departement):
            rows += self.by_departement[code].values()
        for service in sorted(self.by_service):
            rows += self.by_service[service].values()
        return rows

    def departements(self) -> list[str]:
        """Codes of the départements with a service, catalogue's or stored, in code order."""
        codes = {s.departement for s in self.services.values() if s.departement}
        return sorted(codes, key=_code_order)

    def services_of(self, code: str) -> list[ServiceInfo]:
        found = [s for s in self.services.values() if s.departement == code]
        return sorted(found, key=lambda s: (s.site, s.procedure, s.id))

    def names(self) -> dict[str, ServiceName]:
        """How the press sentences name each service (made once: every page asks)."""
        if self._names is None:
            self._names = {
                s.id: ServiceName(label=s.label, site=s.site, procedure=s.procedure)
                for s in self.services.values()
            }
        return self._names


_ORDER: Final = {code: i for i, code in enumerate(DEPARTEMENTS)}  # the official list's order


def _code_order(code: str) -> tuple[int, str]:
    """01…19, 2A, 2B, 21…95, then overseas: the order of ``DEPARTEMENTS``, unknown codes last."""
    return (_ORDER.get(code, len(_ORDER)), code)


def _months(days: DateRange) -> list[DateRange]:
    months: list[DateRange] = []
    day = days.first.replace(day=1)
    while day <= days.last:
        months.append(month_range(day.year, day.month))
        day = (day + timedelta(days=32)).replace(day=1)
    return months


def _services(catalogue: Catalogue | None, stored: Iterable[str]) -> dict[str, ServiceInfo]:
    found: dict[str, ServiceInfo] = {}
    if catalogue is not None:
        for s in catalogue.services:
            found[s.id] = ServiceInfo(
                id=s.id,
                departement=s.departement,
                site=s.site,
                procedure=s.procedure,
                label=s.label or f"{s.site} — {s.procedure}",
                platform=s.platform,
                url=s.url,
            )
    for service in stored:
        if service not in found:  # probed once, since gone from the catalogue: still published
            code = service.split("-", 1)[0].upper()
            found[service] = ServiceInfo(
                id=service,
                departement=code if code in DEPARTEMENTS else None,
                site=service,
                procedure="",
                label=service,
                platform="",
                url=None,
            )
    return found


def _by_key(rows: Sequence[ReportRow]) -> dict[str, dict[str, ReportRow]]:
    keyed: dict[str, dict[str, ReportRow]] = defaultdict(dict)
    for row in rows:
        keyed[row.key][row.period] = row
    return dict(keyed)


def read_figures(
    store: Store,
    catalogue: Catalogue | None,
    *,
    generated_at: datetime,
    press: bool = True,
    cache: Path | None = None,
) -> SiteFigures:
    """Everything the pages show, read from ``store``; ``catalogue`` names the services.

    With ``cache`` (a folder of the data directory, never of the published site), each month's
    service rows are kept with a fingerprint of what they were computed from, so that a rebuild
    recomputes only the months whose rollups or robot runs changed: after a run, the last one.
    """
    span = store.probe_days()
    if span is None:
        return SiteFigures(generated_at, None, [], _services(catalogue, ()))
    months = _months(span)
    whole = DateRange(months[0].first, months[-1].last)
    store.refresh_rollups(whole)
    runs = store.runs()
    alive = [(r.started_at, r.ended_at or r.heartbeat_at) for r in runs]
    until = max((b for _, b in alive), default=None)
    named = _services(catalogue, ())
    labels = {k: v.label for k, v in named.items()}
    rows: list[ReportRow] = []
    departements: list[ReportRow] = []
    france: list[ReportRow] = []
    for month in months:
        month_rows_, month_departements, month_france = _month_of_rows(
            store, month, alive, until, cache
        )
        rows += month_rows_
        departements += month_departements
        france += month_france
    for row in rows:
        row.label = labels.get(row.key)
    # The services with probes, from their rows (rollups are refreshed above): reading them off
    # the probes table would scan millions of rows.
    stored = sorted({row.key for row in rows})
    services = _services(catalogue, stored)
    for row in rows:  # the département of a service the catalogue knows better than the probes
        info = services.get(row.key)
        if info is not None and row.departement is None:
            row.departement = info.departement
    last_probe = _last_probe(store)
    figures = SiteFigures(
        generated_at=generated_at,
        last_probe=last_probe,
        months=months,
        services=services,
        by_service=_by_key(rows),
        by_departement=_by_key(departements),
        france=_by_key(france).get("FR", {}),
    )
    figures.latest_probes = {s: store.latest_observations(s, LATEST_PROBES) for s in stored}
    latest = months[-1]
    for service_id, found in vantage_barriers(store, latest).items():
        split = split_vantages(seen_from(found, latest))
        if split is not None:
            figures.vantages[service_id] = split
    if press:
        figures.press_markdown = _press(store, figures)
    return figures


def _fingerprint(
    store: Store,
    month: DateRange,
    alive: Sequence[tuple[datetime, datetime]],
    until: datetime | None,
) -> str:
    """What a month's rows are computed from: its rollups' totals, the runs alive in it, and
    the last sign of life when it falls within it (later is the future, not a gap)."""
    columns = [daily_rollups.c[name] for name in COUNT_COLUMNS]
    query = select(func.count(), *(func.coalesce(func.sum(c), 0) for c in columns)).where(
        daily_rollups.c.day >= month.first, daily_rollups.c.day <= month.last
    )
    with store.reading("read the rollups' totals") as conn:
        totals = [int(v) for v in conn.execute(query).one()]
    spans = [(a.isoformat(), b.isoformat()) for a, b in alive if a < month.end and b > month.start]
    edge = None if until is None or until >= month.end else until.isoformat()
    key = json.dumps([CACHE_FORMAT, METHOD_VERSION, totals, spans, edge])
    return hashlib.sha256(key.encode()).hexdigest()


MonthRows = tuple[list[ReportRow], list[ReportRow], list[ReportRow]]


def _month_of_rows(
    store: Store,
    month: DateRange,
    alive: Sequence[tuple[datetime, datetime]],
    until: datetime | None,
    cache: Path | None,
) -> MonthRows:
    """One month's rows (services, départements, France), with their lead times computed, from
    the cache when it still holds what they come from."""
    path = fingerprint = None
    if cache is not None:
        fingerprint = _fingerprint(store, month, alive, until)
        path = cache / f"{month.first:%Y-%m}.pickle"
        try:
            kept, found = pickle.loads(path.read_bytes())
            if kept == fingerprint:
                return found  # type: ignore[no-any-return]
        except (FileNotFoundError, pickle.UnpicklingError, EOFError, ValueError, TypeError):
            pass  # a cache is only a cache: anything unreadable is computed again
    services = build_report(
        store.rollups(month), month, grain=Grain.MONTH, alive=alive, until=until
    )
    rows: MonthRows = (
        services,
        group_rows(services, Level.DEPARTEMENT),
        group_rows(services, Level.FRANCE),
    )
    for row in (r for level in rows for r in level):
        for q in LEAD_QUANTILES:  # the slow part of a page, kept with the rows
            row.lead(q)
    if path is not None and cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(pickle.dumps((fingerprint, rows), protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(partial, path)
    return rows


def _last_probe(store: Store) -> datetime | None:
    with store.reading("read the last probe's time") as conn:
        last = conn.execute(select(func.max(probes.c.started_at))).scalar_one()
    return None if last is None else as_utc(last)


def _press(store: Store, figures: SiteFigures) -> str | None:
    month = figures.latest
    if month is None:
        return None
    period = f"{month.first:%Y-%m}"
    now = [r[period] for r in figures.by_service.values() if period in r]
    before: list[ReportRow] = []
    if figures.previous is not None:
        earlier = f"{figures.previous.first:%Y-%m}"
        before = [r[earlier] for r in figures.by_service.values() if earlier in r]
    points = store.probe_points(month)
    return press_summary(now, before, release_rows(points), month, figures.names())


def month_rows(
    rows: Mapping[str, ReportRow], months: Sequence[DateRange]
) -> list[ReportRow | None]:
    """The rows of ``months`` in order, None for a month without probes."""
    return [rows.get(f"{m.first:%Y-%m}") for m in months]
