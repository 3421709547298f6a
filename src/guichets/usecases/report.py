"""Report rows, assembled once for every caller: ``guichets report``, the site, the press summary
(and what comes next: the console, the alerts, the workers).

Reading the store and handing its rollups to the pure figures of :mod:`guichets.stats` happens
here and nowhere else, so that the robot's gaps (runs), the labels and the press summary are
taken into account the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from guichets.catalogue import Catalogue, Service
from guichets.model import Observation
from guichets.periods import DateRange, Grain, parse_month
from guichets.stats.press import ServiceName, press_summary
from guichets.stats.releases import release_rows
from guichets.stats.report import Level, ReportRow, build_report, rollups_of
from guichets.store import Store
from guichets.tally import facts_of

__all__ = [
    "Spans",
    "alive_spans",
    "press_markdown",
    "press_of",
    "report_rows",
    "service_label",
    "service_names",
    "summary_rows",
]

# When the robot was alive (run start, last sign of life), and its last sign of life overall.
Spans = tuple[Sequence[tuple[datetime, datetime]], datetime | None]


def alive_spans(store: Store) -> Spans:
    """The spans of time the robot ran, from the stored runs: a gap outside them is the robot's,
    not the site's."""
    alive = [(r.started_at, r.ended_at or r.heartbeat_at) for r in store.runs()]
    return alive, max((b for _, b in alive), default=None)


def service_label(service: Service) -> str:
    """How a service is named on every page and in every report."""
    return service.label or f"{service.site} — {service.procedure}"


def service_names(catalogue: Catalogue | None) -> dict[str, ServiceName]:
    """The catalogue's names of its services, for reports and the press summary."""
    if catalogue is None:
        return {}
    return {
        s.id: ServiceName(label=service_label(s), site=s.site, procedure=s.procedure)
        for s in catalogue.services
    }


def report_rows(
    store: Store,
    days: DateRange,
    *,
    level: Level = Level.SERVICE,
    grain: Grain = Grain.ALL,
    service: str | None = None,
    departement: str | None = None,
    labels: Mapping[str, str] | None = None,
    alive: Spans | None = None,
    assisted: bool = True,
) -> list[ReportRow]:
    """The rows of ``days`` from the stored rollups (refresh them first when in doubt:
    :meth:`~guichets.store.Store.refresh_rollups`); ``alive`` when the caller has read it.
    ``assisted=False``: the caller knows that ``days`` hold no assisted read (every probe
    stored in them is in a rollup), and their search, which reads every probe of ``days``
    (no index finds them), is skipped."""
    spans, until = alive_spans(store) if alive is None else alive
    # Assisted reads (a person answered the captcha): few, read from the probes, and counted in
    # each row's own assisted tally, never in the robot's (docs/method.md, section 10).
    helped = (
        store.observations(
            service=service, departement=departement, since=days.start, until=days.end,
            assisted=True,
        )
        if assisted
        else ()
    )  # fmt: skip
    return build_report(
        store.rollups(days, service=service, departement=departement),
        days,
        level=level,
        grain=grain,
        alive=spans,
        until=until,
        labels=labels,
        assisted=rollups_of(facts_of(o) for o in helped),
    )


def press_of(
    store: Store,
    month: DateRange,
    now: Sequence[ReportRow],
    before: Sequence[ReportRow],
    names: Mapping[str, ServiceName],
    *,
    service: str | None = None,
    departement: str | None = None,
) -> str:
    """The press summary of ``month`` from its service rows and the previous month's."""
    points = store.probe_points(month, service=service, departement=departement)
    return press_summary(now, before, release_rows(points), month, names)


def press_markdown(
    store: Store,
    month: DateRange,
    names: Mapping[str, ServiceName],
    *,
    service: str | None = None,
    departement: str | None = None,
) -> str:
    """The press summary of ``month``, its rows and the previous month's read here."""
    before = parse_month(f"{month.first - timedelta(days=1):%Y-%m}")
    alive = alive_spans(store)
    labels = {k: v.label for k, v in names.items()}
    current, earlier = (
        report_rows(store, days, service=service, departement=departement, labels=labels,
                    alive=alive)
        for days in (month, before)
    )  # fmt: skip
    return press_of(store, month, current, earlier, names, service=service, departement=departement)


def summary_rows(observations: Iterable[Observation]) -> tuple[list[ReportRow], DateRange] | None:
    """Per service, the headline figures of these probes, computed straight from them (no
    rollup read): what the demo prints at its end. None without probes."""
    rollups = rollups_of(facts_of(o) for o in observations)
    if not rollups:
        return None
    whole = DateRange(min(r.day for r in rollups), max(r.day for r in rollups))
    return build_report(rollups, whole), whole
