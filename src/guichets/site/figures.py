"""What the site shows: monthly rows at every level, the services as people name them, the
latest probes. ``guichets.usecases.figures`` reads them from the store (the same rows as
``guichets report``); the pages only read this.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Final

from guichets.departements import DEPARTEMENTS
from guichets.model import Observation, Outcome
from guichets.periods import DateRange
from guichets.stats.press import ServiceName
from guichets.stats.report import ReportRow
from guichets.stats.wilson import Share

__all__ = [
    "LATEST_PROBES",
    "LEAD_QUANTILES",
    "ServiceInfo",
    "SiteFigures",
    "month_rows",
    "period_of",
]

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
    # service -> (vantage points that only met a barrier, those that read the page) in the
    # latest month, when a barrier was not seen from all of them (several workers)
    vantages: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)
    # What each month's rows were computed from (period → fingerprint), and the folder they are
    # cached in: with them, what is derived from a month's rows can be cached too.
    fingerprints: dict[str, str] = field(default_factory=dict)
    cache: Path | None = None
    _names: dict[str, ServiceName] | None = field(default=None, repr=False)
    _by_code: tuple[tuple[int, int], dict[str | None, list[ServiceInfo]]] | None = field(
        default=None, repr=False
    )

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
        """The département's services, by site, procedure and id. Grouped once for all the
        départements (a build asks it several times of each: scanning every service each time
        cost as much as a tenth of a rebuild's pages), again if the services changed since."""
        stamp = (id(self.services), len(self.services))
        if self._by_code is None or self._by_code[0] != stamp:
            grouped: dict[str | None, list[ServiceInfo]] = {}
            for info in self.services.values():
                grouped.setdefault(info.departement, []).append(info)
            for found in grouped.values():
                found.sort(key=lambda s: (s.site, s.procedure, s.id))
            self._by_code = (stamp, grouped)
        return list(self._by_code[1].get(code, ()))

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


@functools.lru_cache(maxsize=1024)
def period_of(first: date) -> str:
    """The key (``YYYY-MM``) of the month starting on ``first``: formatted once, not at every
    page (a date's strftime was a tenth of a rebuild's page rendering)."""
    return f"{first:%Y-%m}"


def month_rows(
    rows: Mapping[str, ReportRow], months: Sequence[DateRange]
) -> list[ReportRow | None]:
    """The rows of ``months`` in order, None for a month without probes."""
    return [rows.get(period_of(m.first)) for m in months]


def unreadable_by_platform(figures: SiteFigures) -> list[tuple[str, Share]]:
    """For the latest month: each platform's share of probes whose page the robot could not
    read (``unrecognized``) — the first sign that a site changed its pages."""
    latest = figures.latest
    if latest is None:
        return []
    period = latest.first.strftime("%Y-%m")
    counts: dict[str, list[int]] = {}
    for service, months in figures.by_service.items():
        row = months.get(period)
        info = figures.services.get(service)
        if row is None or info is None:
            continue
        pair = counts.setdefault(info.platform or "?", [0, 0])
        pair[0] += row.tally.outcomes.get(Outcome.UNRECOGNIZED, 0)
        pair[1] += row.tally.probes
    return [(p, Share(n, total)) for p, (n, total) in sorted(counts.items()) if total]
