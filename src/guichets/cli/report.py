"""``guichets report``: the indicators of the stored probes, per service (or site, département,
France) and period, as a table, Markdown, CSV or JSON; ``--press`` writes the monthly summary.

What it shares with ``guichets export``: choosing the probes (dates, service, département) and
opening the data directory, with clear errors (exit code 2) for bad input.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from guichets import datadir
from guichets.catalogue import Catalogue
from guichets.cli.app import DbOption, HomeOption, app, console, errors, fail, home_and_db
from guichets.cli.unreadable import print_unreadable
from guichets.departements import closest_codes, is_departement
from guichets.model import Observation
from guichets.periods import DateRange, Grain, parse_day, parse_month
from guichets.stats.press import ServiceName
from guichets.stats.releases import release_rows, releases_markdown
from guichets.stats.render import FOOTNOTE, rows_csv, rows_json, rows_markdown, rows_table
from guichets.stats.report import Level, ReportRow
from guichets.store import Store, StoreError
from guichets.tomlconfig import ConfigError
from guichets.untrusted import json_dumps
from guichets.usecases.report import press_markdown, report_rows, service_names, summary_rows
from guichets.usecases.site import data_catalogue
from guichets.workers.report import (
    lost_periods,
    seen_from,
    vantage_barriers,
    vantage_sentence,
)

__all__ = ["Selection", "catalogue_of", "open_store", "print_summary", "select"]


class Format(StrEnum):
    TABLE = "table"
    MD = "md"
    CSV = "csv"
    JSON = "json"


MonthOption = Annotated[
    str | None,
    typer.Option("--month", help="One month, YYYY-MM (Paris dates).", show_default=False),
]
FromOption = Annotated[
    str | None,
    typer.Option(
        "--from",
        help="First day, YYYY-MM-DD (Paris date) [default: the first probe's].",
        show_default=False,
    ),
]
ToOption = Annotated[
    str | None,
    typer.Option(
        "--to",
        help="Last day, included, YYYY-MM-DD [default: the last probe's].",
        show_default=False,
    ),
]
ServiceOption = Annotated[
    str | None, typer.Option("--service", help="Only this service id.", show_default=False)
]
DepartementOption = Annotated[
    str | None,
    typer.Option(
        "--departement", help="Only this département code, e.g. 38 or 2A.", show_default=False
    ),
]


@dataclass(frozen=True)
class Selection:
    """Which probes a command reads: checked input, not yet the days (they may need the store)."""

    month: DateRange | None
    first: str | None
    last: str | None
    service: str | None
    departement: str | None

    def days(self, store: Store) -> DateRange | None:
        """The Paris days asked, the stored probes' own range filling what was not given; None
        when that leaves no day (no probes, or a start after the last probe)."""
        if self.month is not None:
            return self.month
        stored = store.probe_days()
        first = parse_day(self.first) if self.first else (stored.first if stored else None)
        last = parse_day(self.last) if self.last else (stored.last if stored else None)
        if first is None or last is None or last < first:
            return None
        return DateRange(first, last)


def _day(option: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return parse_day(value)
    except ValueError as exc:
        raise fail(f"{option}: {exc}") from exc


def select(
    month: str | None,
    first: str | None,
    last: str | None,
    service: str | None,
    departement: str | None,
) -> Selection:
    """Check the options that choose probes; exit 2 with what would be right."""
    if month is not None and (first is not None or last is not None):
        raise fail("give either --month or --from/--to, not both")
    span = None
    if month is not None:
        try:
            span = parse_month(month)
        except ValueError as exc:
            raise fail(f"--month: {exc}") from exc
    start, end = _day("--from", first), _day("--to", last)
    if start is not None and end is not None and end < start:
        raise fail(
            f"--to {end.isoformat()} comes before --from {start.isoformat()}; "
            "give a range whose end is on or after its start"
        )
    if departement is not None and not is_departement(departement):
        close = closest_codes(departement)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise fail(
            f"--departement {departement!r} is not a département code (01-95, 2A, 2B, 971-976, "
            f"...){hint}"
        )
    return Selection(span, first, last, service, departement)


@contextmanager
def open_store(home: Path | None, db: str | None) -> Iterator[tuple[Store, Path]]:
    """The data directory's store; a missing database is an error that says how to make one."""
    folder, url = home_and_db(home, db)
    if url is None and not datadir.database(folder).exists():
        raise fail(
            f"no database in {folder}/; run `guichets demo --out {folder}` or "
            "`guichets run --home …` first, or give --home/--db"
        )
    try:
        with Store.open(url, home=folder) as store:
            yield store, folder
    except StoreError as exc:
        raise fail(str(exc)) from exc


def check_service(store: Store, service: str | None) -> None:
    """An unknown service id is a typo until shown otherwise: exit 2 with the closest ids."""
    if service is None:
        return
    known = store.services()
    if service in known:
        return
    close = difflib.get_close_matches(service, known, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise fail(f"--service {service!r}: no probe of that service is stored{hint}")


def catalogue_of(path: Path | None, folder: Path) -> Catalogue | None:
    """The catalogue that names the services: the one given, or the data directory's own."""
    try:
        return data_catalogue(path, folder)
    except ConfigError as exc:
        raise fail(str(exc)) from exc


def _title(level: Level, days: DateRange) -> str:
    return f"Probes per {level if level is not Level.FRANCE else 'country'}, {days.label()}"


def print_summary(observations: Iterable[Observation]) -> None:
    """Per service, the headline figures of these probes, computed straight from them."""
    found = summary_rows(observations)
    if found is None:
        console.print("No probes.")
        return
    rows, whole = found
    console.print(rows_table(rows, _title(Level.SERVICE, whole), console.width))
    console.print(FOOTNOTE, highlight=False)


def _refresh(store: Store, chosen: Selection, days: DateRange) -> None:
    """Rollups that do not count the stored probes are rebuilt first, and that is said."""
    rebuilt = store.refresh_rollups(days, service=chosen.service, departement=chosen.departement)
    if rebuilt:
        errors.print(
            f"note: the daily rollups of {rebuilt} service-days did not count the stored probes; "
            "rebuilt from the probes",
            highlight=False,
        )


def _report_rows(
    store: Store,
    chosen: Selection,
    days: DateRange,
    level: Level,
    grain: Grain,
    names: dict[str, ServiceName],
) -> list[ReportRow]:
    _refresh(store, chosen, days)
    return report_rows(
        store,
        days,
        level=level,
        grain=grain,
        service=chosen.service,
        departement=chosen.departement,
        labels={k: v.label for k, v in names.items()},
    )


@app.command()
def report(
    month: MonthOption = None,
    first: FromOption = None,
    last: ToOption = None,
    service: ServiceOption = None,
    departement: DepartementOption = None,
    level: Annotated[
        Level, typer.Option(help="Rows per service, site (host), département, or all France.")
    ] = Level.SERVICE,
    by: Annotated[
        Grain, typer.Option(help="Cut the range into days, weeks, months or years.")
    ] = Grain.ALL,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.TABLE,
    press: Annotated[
        bool, typer.Option("--press", help="The month's press summary in French (Markdown).")
    ] = False,
    releases: Annotated[
        bool,
        typer.Option("--releases", help="When slots appear in batches, and how long they last."),
    ] = False,
    catalogue: Annotated[
        Path | None,
        typer.Option(
            help="Catalogue naming the services [default: DATA/catalogue.toml if any].",
            show_default=False,
        ),
    ] = None,
    unrecognized: Annotated[
        bool,
        typer.Option(
            "--unrecognized",
            help="The pages the robot could not read, by platform, reason and page shape.",
        ),
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help="With --unrecognized: from this day, YYYY-MM-DD.", show_default=False
        ),
    ] = None,
    home: HomeOption = None,
    db: DbOption = None,
) -> None:
    """Figures of the stored probes: shares A-E with their denominators and 95 % intervals.

    Examples:

      guichets report --month 2026-10 --format json

      guichets report --from 2026-10-01 --to 2026-12-31 --by month --level departement

      guichets report --press --month 2026-10 > press-2026-10.md

      guichets report --unrecognized --since 2026-10-01
    """
    chosen = select(month, first, last, service, departement)
    if since is not None and not unrecognized:
        raise fail("--since goes with --unrecognized; for figures use --from")
    if unrecognized:
        if press or releases:
            raise fail("--unrecognized lists unreadable pages; drop --press and --releases")
        day = _day("--since", since)
        with open_store(home, db) as (store, _folder):
            check_service(store, chosen.service)
            print_unreadable(
                store, since=day, service=chosen.service, departement=chosen.departement,
                as_json=fmt is Format.JSON,
            )  # fmt: skip
        return
    if press and chosen.month is None:
        raise fail("--press needs --month YYYY-MM: the summary is of one month")
    if press and releases:
        raise fail("--press already describes batch releases; drop --releases")
    with open_store(home, db) as (store, folder):
        check_service(store, chosen.service)
        names = service_names(catalogue_of(catalogue, folder))
        days = chosen.days(store)
        if press and chosen.month is not None:
            print(_press(store, chosen, chosen.month, names), end="")
            return
        if days is None:
            _empty(fmt)
            return
        if releases:
            _releases(store, chosen, days, fmt)
            return
        rows = _report_rows(store, chosen, days, level, by, names)
        seen, lost = {}, {}
        if fmt is Format.JSON and level is Level.SERVICE:
            seen = vantage_barriers(
                store, days, service=chosen.service, departement=chosen.departement
            )
            lost = lost_periods(store, days, service=chosen.service)
    if fmt is Format.JSON:
        print(rows_json(rows, lambda row: _vantages(row, seen) | _lost(row, lost)))
    elif fmt is Format.CSV:
        print(rows_csv(rows), end="")
    elif fmt is Format.MD:
        print(rows_markdown(rows, _title(level, days)))
    elif not rows:
        console.print(f"No probes from {days.first} to {days.last}.")
    else:
        console.print(rows_table(rows, _title(level, days), console.width))
        console.print(FOOTNOTE, highlight=False)


def _vantages(row: ReportRow, seen: dict[str, list[tuple[Any, str, str, int]]]) -> dict[str, Any]:
    """``vantages``: which vantage points met a barrier and which read the page, and the
    sentence « bloqué depuis A, lu depuis B » when a barrier was seen from some of them only.
    Absent when no probe of the row names its vantage point (a single robot)."""
    found = seen_from(seen.get(row.service or "", []), row.days)
    if found is None:
        return {}
    return {"vantages": {**found, "note": vantage_sentence(found)}}


def _lost(row: ReportRow, lost: dict[str, list[tuple[Any, str]]]) -> dict[str, Any]:
    """``lost_periods``: periods of the shared schedule nobody probed while they were open (the
    robot's own gaps, with several workers), counted apart from the probes; absent when none."""
    found = [note for day, note in lost.get(row.service or "", []) if day in row.days]
    if not found:
        return {}
    return {"lost_periods": len(found)}


def _empty(fmt: Format) -> None:
    """No day to report on: an empty list for programs, a sentence for people."""
    if fmt is Format.JSON:
        print("[]")
    elif fmt is not Format.CSV:
        print("No probes in the range asked.")


def _press(store: Store, chosen: Selection, month: DateRange, names: dict[str, ServiceName]) -> str:
    for days in (month, parse_month(f"{month.first - timedelta(days=1):%Y-%m}")):
        _refresh(store, chosen, days)
    return press_markdown(
        store, month, names, service=chosen.service, departement=chosen.departement
    )


def _releases(store: Store, chosen: Selection, days: DateRange, fmt: Format) -> None:
    points = store.probe_points(days, service=chosen.service, departement=chosen.departement)
    found = release_rows(points)
    if fmt is Format.JSON:
        print(json_dumps([r.to_json() for r in found], indent=1))
    else:
        print(releases_markdown(found, days))
