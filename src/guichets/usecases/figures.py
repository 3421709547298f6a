"""The site's figures, read from the store once: monthly rows at every level, the latest probes.

The figures are those of ``guichets report`` (the same
:func:`~guichets.usecases.report.report_rows`), cut by month, so that a number on the site and the
same number in a report or the open data can never differ. The service rows are computed once
and added up to départements and France.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from guichets.catalogue import Catalogue
from guichets.collector import fewer_collections
from guichets.departements import DEPARTEMENTS
from guichets.files import read_kept, write_kept
from guichets.model import Observation
from guichets.periods import DateRange, Grain, local_day, month_range
from guichets.site.figures import LATEST_PROBES, LEAD_QUANTILES, ServiceInfo, SiteFigures
from guichets.site.releases_cache import releases_of_the_day
from guichets.stats.method import METHOD_VERSION
from guichets.stats.press import press_summary
from guichets.stats.report import Level, ReportRow, group_rows
from guichets.store import Store
from guichets.store.forked import forked_pool, forked_store, worth_forking
from guichets.usecases.report import alive_spans, report_rows, service_label
from guichets.workers.report import seen_from, split_vantages, vantage_barriers

__all__ = ["CACHE_FORMAT", "read_figures"]

# Bump when ReportRow changes shape *or when how a cached row is computed changes* (lead times,
# intervals, the rollups' reading): the months' fingerprints hold no digest of the code, so
# closed months are recomputed only by this bump (docs/site.md, "Rebuilds").
CACHE_FORMAT: Final = 7
CHECKED_FILE: Final = "rollups-checked.pickle"
MAX_WORKERS: Final = 4  # processes computing months, at most (as many as a site build's)


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
                label=service_label(s),
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
    workers: int | None = None,
) -> SiteFigures:
    """Everything the pages show, read from ``store``; ``catalogue`` names the services.

    With ``cache`` (a folder of the data directory, never of the published site), each month's
    service rows are kept with a fingerprint of what they were computed from, so that a rebuild
    recomputes only the months whose rollups or robot runs changed: after a run, the last one.
    The months to compute are shared among ``workers`` processes (default: one per CPU, at most
    :data:`MAX_WORKERS`) when there are several.
    """
    with fewer_collections():  # see guichets/collector.py
        return _read_figures(
            store, catalogue, generated_at=generated_at, press=press, cache=cache, workers=workers
        )


def _read_figures(
    store: Store,
    catalogue: Catalogue | None,
    *,
    generated_at: datetime,
    press: bool,
    cache: Path | None,
    workers: int | None,
) -> SiteFigures:
    span = store.probe_days()
    if span is None:
        return SiteFigures(generated_at, None, [], _services(catalogue, ()))
    months = _months(span)
    alive, until = alive_spans(store)
    named = _services(catalogue, ())
    labels = {k: v.label for k, v in named.items()}
    rows: list[ReportRow] = []
    departements: list[ReportRow] = []
    france: list[ReportRow] = []
    fingerprints: dict[str, str] = {}
    early = _Early(store, months[-1], named)
    computed = _months_of_rows(
        store, months, alive, until, cache, workers, named, meanwhile=early.read
    )
    for month, ((month_rows_, month_departements, month_france), fingerprint) in zip(
        months, computed, strict=True
    ):
        if fingerprint is not None:
            fingerprints[_label(month)] = fingerprint
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
    last_probe = early.last_probe
    figures = SiteFigures(
        generated_at=generated_at,
        last_probe=last_probe,
        months=months,
        services=services,
        by_service=_by_key(rows),
        by_departement=_by_key(departements),
        france=_by_key(france).get("FR", {}),
        fingerprints=fingerprints,
        cache=cache,
    )
    figures.latest_probes = early.latest_probes(stored)
    figures.vantages = early.vantages
    if press:
        figures.press_markdown = _press(store, figures, cache)
    return figures


class _Early:
    """What the site reads besides the months' rows, and which they do not change: read while
    the months that moved are computed in forked workers (:func:`_months_of_rows`' ``meanwhile``),
    instead of after them. After a run that is the latest month, whose worker this process
    otherwise waited for once it had checked and read the closed months, then read these (the
    latest probes of 100 services and the vantage points' split: 0.07 CPU-s, 0.1 s). The
    services with rows are only known once every month's rows are: the latest probes are read
    of those the catalogue names and of those with rows in the months found kept, and of any
    other afterwards."""

    def __init__(self, store: Store, latest: DateRange, named: Mapping[str, ServiceInfo]) -> None:
        self.store = store
        self.month = latest
        self.named = named
        self.last_probe: datetime | None = None
        self.vantages: dict[str, tuple[list[str], list[str]]] = {}
        self.probes: dict[str, list[Observation]] = {}

    def read(self, found: Iterable[MonthRows]) -> None:
        """The last probe's instant, the vantage points' split, and the latest probes of the
        services the catalogue names or ``found`` (months' rows) holds."""
        store = self.store
        self.last_probe = store.last_probe_at()
        known = {row.key for rows in found for row in rows[0]}
        self.probes = store.latest_observations_of(sorted(known | set(self.named)), LATEST_PROBES)
        for service_id, seen in vantage_barriers(store, self.month).items():
            split = split_vantages(seen_from(seen, self.month))
            if split is not None:
                self.vantages[service_id] = split

    def latest_probes(self, stored: Sequence[str]) -> dict[str, list[Observation]]:
        """The latest probes of the services with rows (``stored``), in their order."""
        missing = [service for service in stored if service not in self.probes]
        more = self.store.latest_observations_of(missing, LATEST_PROBES) if missing else {}
        return {
            service: self.probes[service] if service in self.probes else more[service]
            for service in stored
        }


class _CheckedTotals:
    """Each month's rollup totals (``Store.rollup_totals``), the rollups checked against the
    probes first, as cheaply as what moved allows, one month at a time (:meth:`of`), so that a
    month's rows can be computed as soon as its own rollups are known right.

    Checking a month (:meth:`~guichets.store.Store.refresh_rollups`) counts its probes: over
    years, seconds, in every build. So the totals of the last check are kept in the cache
    (period -> totals, the last of which counts every probe stored, from the running totals of
    its hours): a month is checked again only when its stored probes moved by a number other
    than its rollups' (a probe written by other means, one deleted, a replicate or an assisted
    read). Reading a month's totals costs a few hundred rows (``store/totals.py``).
    After a run of the robot, both moved by the probes it saved: nothing to count. Without a
    cache, the whole span is checked at once, as ``guichets report`` does."""

    def __init__(self, store: Store, months: Sequence[DateRange], cache: Path | None) -> None:
        self.store = store
        self.path = None if cache is None else cache / CHECKED_FILE
        self.kept: dict[str, list[int]] = {}
        self.totals: dict[str, list[int]] = {}
        if self.path is None:
            store.refresh_rollups(DateRange(months[0].first, months[-1].last))
            return
        # The totals are one database's: a data directory built with another (``--db``) checks
        # every month again (another store's counts can differ alike for other reasons).
        self.stamp = (CACHE_FORMAT, store.url)
        found = read_kept(self.path, self.stamp)
        if isinstance(found, dict):  # else nothing kept: every month is checked
            self.kept = found

    def of(self, month: DateRange) -> list[int] | None:
        """The month's totals, its rollups checked first when its probes moved unlike them
        (None without a cache: the whole span was checked at once)."""
        if self.path is None:
            return None
        period = _label(month)
        now = self.store.rollup_totals(month)
        before = self.kept.get(period)
        moved_alike = (
            before is not None
            and len(before) == len(now)
            and now[-1] - before[-1] == now[1] - before[1]  # stored probes, rolled-up probes
        )
        if not moved_alike and self.store.refresh_rollups(month):
            now = self.store.rollup_totals(month)  # rebuilt: counted again
        self.totals[period] = now
        return now

    def save(self) -> None:
        if self.path is not None and self.totals != self.kept:
            write_kept(self.path, self.stamp, self.totals)


def _fingerprint(
    store: Store,
    month: DateRange,
    alive: Sequence[tuple[datetime, datetime]],
    until: datetime | None,
    totals: list[int] | None = None,
) -> str:
    """What a month's rows are computed from: its rollups' totals (and every probe stored in
    it), the runs alive in it, and the last sign of life when it falls within it (later is the
    future, not a gap)."""
    if totals is None:
        totals = store.rollup_totals(month)
    spans = [(a.isoformat(), b.isoformat()) for a, b in alive if a < month.end and b > month.start]
    edge = None if until is None or until >= month.end else until.isoformat()
    key = json.dumps([CACHE_FORMAT, METHOD_VERSION, totals, spans, edge])
    return hashlib.sha256(key.encode()).hexdigest()


MonthRows = tuple[list[ReportRow], list[ReportRow], list[ReportRow]]


def _months_of_rows(
    store: Store,
    months: Sequence[DateRange],
    alive: Sequence[tuple[datetime, datetime]],
    until: datetime | None,
    cache: Path | None,
    workers: int | None,
    named: Mapping[str, ServiceInfo] | None = None,
    meanwhile: Callable[[Iterable[MonthRows]], None] | None = None,
) -> list[tuple[MonthRows, str | None]]:
    """Every month's rows (services, départements, France, their lead times computed) and
    fingerprint (with a cache), in order: those the cache still holds for what they come from
    read here, the others computed in forked processes when there are two or more and the store
    can be reached from a child (``Store.forkable``).

    The months are independent and computing one reads only the store and its own rollups (a
    first build at 500 services over three years: about 50 CPU-s here, one month after
    another). So each month is handed to a worker as soon as its rollups are checked and its
    cache found stale, the latest first (after a run of the robot, the one to compute): it is
    computed while this process checks and reads the others, instead of after. Each worker
    opens its own connections (``Store.forked``: SQLite in WAL lets readers share the file,
    PostgreSQL serves each its own session), computes a month, keeps it in the cache and sends
    the rows back pickled: a month's rows are a few hundred kB, and a worker holds one month
    at a time, so the build's memory grows by the workers' working sets, not by copies.
    ``meanwhile`` is given the months found kept once every month is checked, before the
    others are waited for (:class:`_Early`)."""
    checked = _CheckedTotals(store, months, cache)
    workers = min(MAX_WORKERS, os.cpu_count() or 1) if workers is None else workers
    beside = len(months) > 1 and worth_forking(store, workers, len(months))
    found: dict[int, MonthRows] = {}
    prints: dict[int, str | None] = {}
    helped: dict[int, bool] = {}
    todo: dict[int, Future[MonthRows] | None] = {}
    with contextlib.ExitStack() as stack:
        pool: ProcessPoolExecutor | None = None
        for i in [len(months) - 1, *range(len(months) - 1)]:  # the latest first
            month = months[i]
            prints[i], helped[i] = None, True
            if cache is not None:
                totals = checked.of(month)
                prints[i] = _fingerprint(store, month, alive, until, totals)
                helped[i] = _may_hold_assisted(totals)
                rows = read_kept(_month_file(cache, month), prints[i])
                if rows is not None:
                    found[i] = rows
                    continue
            if beside:
                if pool is None:
                    pool = stack.enter_context(forked_pool(store, workers))
                todo[i] = pool.submit(
                    _computed_rows, None, month, alive, until, cache, prints[i], named, helped[i]
                )
            else:
                todo[i] = None
        checked.save()
        if meanwhile is not None:  # given the months found kept, while the others are computed
            meanwhile(found.values())
        for i, future in todo.items():
            found[i] = (
                future.result()
                if future is not None
                else _computed_rows(
                    store, months[i], alive, until, cache, prints[i], named, helped[i]
                )
            )
    return [(found[i], prints[i]) for i in range(len(months))]


def _may_hold_assisted(totals: Sequence[int] | None) -> bool:
    """Whether a month whose checked rollups have these totals (``Store.rollup_totals``) may
    hold assisted reads. Its rollups count the robot's probes (neither replicates nor assisted
    reads), checked against the probes stored (``_CheckedTotals``); the last total counts every
    probe stored (the running totals of its hours): when the two are equal, the month has no
    assisted read, and computing its rows need not search them (a read of each of its probes:
    at 500 services, 0.15 CPU-s a month). A probe saved since the totals were read moves them,
    hence the month's fingerprint: the next build computes it again."""
    return totals is None or totals[-1] != totals[1]


def _label(month: DateRange) -> str:
    return f"{month.first:%Y-%m}"


def _month_file(cache: Path, month: DateRange) -> Path:
    return cache / f"{_label(month)}.pickle"


def _computed_rows(
    store: Store | None,
    month: DateRange,
    alive: Sequence[tuple[datetime, datetime]],
    until: datetime | None,
    cache: Path | None,
    fingerprint: str | None,
    named: Mapping[str, ServiceInfo] | None = None,
    assisted: bool = True,
) -> MonthRows:
    """One month's rows computed from the store (None: the parent's, in a forked worker), kept
    in the cache under ``fingerprint``, and their lines in the open data's monthly figures
    (:func:`_print_lines`, with the catalogue's services ``named``); ``assisted=False`` when
    the month holds no assisted read (:func:`_may_hold_assisted`)."""
    if store is None:
        store = forked_store()
    services = report_rows(store, month, grain=Grain.MONTH, alive=(alive, until), assisted=assisted)
    rows: MonthRows = (
        services,
        group_rows(services, Level.DEPARTEMENT),
        group_rows(services, Level.FRANCE),
    )
    ranges: dict[DateRange, DateRange] = {}
    for row in (r for level in rows for r in level):
        # The slow part of a page, kept with the rows; the samples are dropped (their memory),
        # and so are the probed days once counted (half of what is left).
        row.settle_leads(LEAD_QUANTILES)
        row.settle_days()
        # One range object for all the rows of the month: pickled once, loaded once.
        row.days = ranges.setdefault(row.days, row.days)
    if cache is not None:
        write_kept(_month_file(cache, month), fingerprint, rows)
        if fingerprint is not None and named is not None:
            _print_lines(cache, month, fingerprint, rows, named)
    return rows


def _print_lines(
    cache: Path,
    month: DateRange,
    fingerprint: str,
    rows: MonthRows,
    named: Mapping[str, ServiceInfo],
) -> None:
    """The month's lines of the open data's monthly figures (``site/figures_text.py``), printed
    and kept where the month's rows are computed: a forked worker, beside the build's own
    process, which then finds them kept (after a run, the latest month's 0.1 CPU-s at 100
    services, from the end of the build). Printed with the names and départements
    :func:`_read_figures` gives the service rows (the lines print them), on the rows it keeps
    and returns as they were computed."""
    from guichets.site.figures_text import FiguresText

    services = rows[0]
    derived = _services(None, [row.key for row in services])
    before = [(row.label, row.departement) for row in services]
    try:
        for row in services:
            info = named.get(row.key) or derived[row.key]
            row.label = info.label if row.key in named else None
            if row.departement is None:
                row.departement = info.departement
        FiguresText(cache, {_label(month): fingerprint}).keep_month(
            _label(month), [row for level in rows for row in level]
        )
    finally:
        for row, (label, departement) in zip(services, before, strict=True):
            row.label, row.departement = label, departement


def _press(store: Store, figures: SiteFigures, cache: Path | None = None) -> str | None:
    month = figures.latest
    if month is None:
        return None
    period = f"{month.first:%Y-%m}"
    now = [r[period] for r in figures.by_service.values() if period in r]
    before: list[ReportRow] = []
    if figures.previous is not None:
        earlier = f"{figures.previous.first:%Y-%m}"
        before = [r[earlier] for r in figures.by_service.values() if earlier in r]
    # The release analysis reads every probe of the month: done once a day with a cache.
    day = None if figures.last_probe is None else local_day(figures.last_probe)
    releases = releases_of_the_day(store, month, day, cache)
    return press_summary(now, before, releases, month, figures.names())
