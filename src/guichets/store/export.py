"""Observations as open data: one row per probe, the same columns in JSON Lines and CSV.

The columns are the probe's own JSON (``Observation.to_json``, the ``guichets probe --json``
contract) without the trail and the platform's extra findings (evidence, not data), plus the site
and the Paris date the probe counts for, so that anyone can recompute every share of a report.

``guichets export observations`` and the site's open data read the rows straight from the probes
table (:func:`export_rows`), one code for both: building an ``Observation`` per probe (its trail,
its findings) cost three times what writing it does, and the site exports millions of them.
:func:`export_row` says the same from an ``Observation``; the tests hold the two equal.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, Final, Protocol

from sqlalchemy import ColumnElement, Select, Text, func, select, type_coerce

from guichets.model import PARIS, Observation, Outcome, categorise
from guichets.periods import DateRange, local_day
from guichets.store import Store, as_utc
from guichets.store.readings import after_position
from guichets.store.rollups import stored
from guichets.store.schema import probes
from guichets.tally import site_of
from guichets.untrusted import csv_writer as untrusted_csv_writer
from guichets.untrusted import json_text

__all__ = [
    "EXPORT_COLUMNS",
    "RAW_COLUMNS",
    "Position",
    "Sink",
    "adbc_readable",
    "csv_writer",
    "export_count",
    "export_extent",
    "export_last",
    "export_row",
    "export_rows",
    "export_values",
    "jsonl_writer",
    "raw_pages",
    "stored_count",
    "write_csv",
    "write_jsonl",
    "write_rows",
]

EXPORT_COLUMNS: Final = (
    "probe_id",
    "service",
    "departement",
    "site",
    "platform",
    "counter",
    "url",
    "day",
    "started_at",
    "finished_at",
    "outcome",
    "detail",
    "category",
    "first_slot",
    "slots_count",
    "slots",
    "horizon_end",
    "requests",
    "http_status",
    "duration_seconds",
    "message",
    "assisted",
    "person",
)

PAGE: Final = 5000  # rows per read transaction: short ones, so the robot's writes never wait

# The instants are read as the driver gives them (see ``guichets.store.as_utc``): SQLAlchemy's
# own conversion of three instants a row took a fifth of the export's time.
_INSTANTS: Final = ("started_at", "finished_at", "horizon_end")
# What the rows are made of; the trail and the findings (large JSON) are never read.
_READ: Final = tuple(
    type_coerce(column, Text).label(column.name) if column.name in _INSTANTS else column
    for column in (
        probes.c.probe_id,
        probes.c.service,
        probes.c.departement,
        probes.c.platform,
        probes.c.counter,
        probes.c.url,
        probes.c.started_at,
        probes.c.finished_at,
        probes.c.outcome,
        probes.c.detail,
        probes.c.slots,
        probes.c.horizon_end,
        probes.c.requests,
        probes.c.http_status,
        probes.c.message,
        probes.c.assisted,
        probes.c.person,
    )
)

RAW_COLUMNS: Final = tuple(column.name for column in _READ)  # what export_values takes

_VALID: Final = frozenset(o.value for o in Outcome if o.valid)
# The C encoder, built once: json.dumps(..., ensure_ascii=False) builds one per call.
_JSON: Final = json.JSONEncoder(ensure_ascii=False)


class Sink(Protocol):
    """Where rows go: an open text file, ``sys.stdout``, a buffer."""

    def write(self, text: str, /) -> Any: ...


def export_row(observation: Observation) -> dict[str, Any]:
    """One probe as a row of :data:`EXPORT_COLUMNS`."""
    data = observation.to_json()
    data["site"] = site_of(observation.url)
    data["day"] = local_day(observation.started_at).isoformat()
    return {column: data[column] for column in EXPORT_COLUMNS}


def _values(row: Sequence[Any], sites: dict[str, str]) -> tuple[Any, ...]:
    """A probes row as the values of :data:`EXPORT_COLUMNS`, as :func:`export_row` gives them.

    Slots are parsed and printed again: a slot stored in any ISO 8601 spelling comes out as
    ``Observation`` prints it (same instant, same offset).
    """
    (probe_id, service, departement, platform, counter, url, started, finished, outcome, detail,
     slots_text, horizon, requests, http_status, message, assisted, person) = row  # fmt: skip
    site = sites.get(url)
    if site is None:
        site = sites[url] = site_of(url)
    started, finished = as_utc(started), as_utc(finished)
    parsed = (
        () if slots_text == "[]" else tuple(map(datetime.fromisoformat, json.loads(slots_text)))
    )
    slots = [slot.isoformat() for slot in parsed]
    if outcome not in _VALID:
        category = None
    elif not slots:
        category = "E"
    else:
        found = categorise(Outcome(outcome), parsed, started)
        category = None if found is None else found.value
    return (
        probe_id,
        service,
        departement,
        site,
        platform,
        counter,
        url,
        started.astimezone(PARIS).date().isoformat(),
        started.isoformat(),
        finished.isoformat(),
        outcome,
        detail,
        category,
        slots[0] if slots else None,
        len(slots),
        slots,
        None if horizon is None else as_utc(horizon).astimezone(PARIS).isoformat(),
        requests,
        http_status,
        round((finished - started).total_seconds(), 3),
        message,
        bool(assisted),
        person,
    )


export_values = _values  # for the columnar export (store/export_table.py): the same code

Position = tuple[datetime, str]  # (started_at, probe_id): where a probe sorts in the export


def _within(since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.utcoffset() is None:
            raise ValueError(f"{name}={value.isoformat()} is naive; give an aware datetime")
    where: list[ColumnElement[bool]] = [
        probes.c.replicate_of.is_(None)
    ]  # replicates are a check of the robot, not data
    if since is not None:
        where.append(probes.c.started_at >= since)
    if until is not None:
        where.append(probes.c.started_at < until)
    return where


def export_rows(
    store: Store,
    *,
    service: str | None = None,
    departement: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: Position | None = None,
) -> Iterator[tuple[Any, ...]]:
    """The probes started in [since, until) (and sorting after ``after``), by start then id, as
    rows of :data:`EXPORT_COLUMNS`: ``store.observations`` printed by :func:`export_row`.

    Read in pages of short transactions, each resuming after the last row read.
    """
    where = _within(since, until)
    if service is not None:
        where.append(probes.c.service == service)
    if departement is not None:
        where.append(probes.c.departement == departement)
    base = select(*_READ).where(*where).order_by(probes.c.started_at, probes.c.probe_id).limit(PAGE)
    return _pages(store, base, after)  # not a generator itself: bad arguments fail here


def _pages(store: Store, base: Select[Any], after: Position | None) -> Iterator[tuple[Any, ...]]:
    sites: dict[str, str] = {}
    for row in store.probe_pages(base, after):
        yield _values(row, sites)


def raw_pages(
    store: Store, since: datetime, until: datetime, *, rows: int = 50_000
) -> Iterator[list[tuple[Any, ...]]]:
    """The probes started in [since, until), by start then id, as raw rows of
    :data:`RAW_COLUMNS` (what :func:`export_values` takes), ``rows`` at a time: each page one
    short transaction, resuming after the last row read, read off the driver's cursor (building
    SQLAlchemy rows cost as much as reading them)."""
    base = (
        select(*_READ)
        .where(*_within(since, until))
        .order_by(probes.c.started_at, probes.c.probe_id)
        .limit(rows)
    )
    after: Position | None = None
    at, probe_id = RAW_COLUMNS.index("started_at"), RAW_COLUMNS.index("probe_id")
    while True:
        query = base if after is None else base.where(after_position(after))
        with store.reading("read probes") as conn:
            page = list(conn.execute(query).cursor.fetchall())
        if page:
            yield page
        if len(page) < rows:
            return
        after = (as_utc(page[-1][at]), page[-1][probe_id])


def export_extent(store: Store, since: datetime, until: datetime) -> tuple[int, Position | None]:
    """How many probes :func:`export_rows` gives over [since, until), and where the last of them
    sorts: from the ``started_at`` index, no row is read but the last."""
    where = _within(since, until)
    count = select(func.count()).select_from(probes).where(*where)
    with store.reading("count probes") as conn:
        total = int(conn.execute(count).scalar_one())
        found = conn.execute(_last(where)).first()
    return total, None if found is None else (found.started_at, found.probe_id)


def _last(where: list[ColumnElement[bool]]) -> Select[Any]:
    """The last probe's position among those ``where`` picks: the index walked back."""
    return (
        select(probes.c.started_at, probes.c.probe_id)
        .where(*where)
        .order_by(probes.c.started_at.desc(), probes.c.probe_id.desc())
        .limit(1)
    )


def export_last(store: Store, since: datetime, until: datetime) -> Position | None:
    """Where the last probe :func:`export_rows` gives over [since, until) sorts (the index
    walked back from ``until``: no count of every row, unlike :func:`export_extent`)."""
    with store.reading("find the last probe") as conn:
        found = conn.execute(_last(_within(since, until))).first()
    return None if found is None else (found.started_at, found.probe_id)


def stored_count(store: Store, days: DateRange) -> int:
    """Every probe stored in ``days``, replicates and assisted reads too, from the running
    totals of its hours (``store/totals.py``): more than :func:`export_extent` counts when it
    has replicates."""
    with store.reading("count probes") as conn:
        return stored(conn, days)


def export_count(store: Store, since: datetime, upto: Position) -> int:
    """How many probes from ``since`` sort at or before ``upto``: whether rows were added only
    after it. The tie at ``upto`` is counted apart, so that the rest is counted on the index."""
    at, probe_id = upto
    where = _within(since, None)
    base = select(func.count()).select_from(probes).where(*where)
    before = base.where(probes.c.started_at < at)
    tie = base.where(probes.c.started_at == at, probes.c.probe_id <= probe_id)
    with store.reading("count probes") as conn:
        return sum(int(conn.execute(count).scalar_one()) for count in (before, tie))


def csv_writer(out: Sink, *, header: bool = True) -> Callable[[Sequence[Any]], None]:
    """Writes the header now (unless rows are added to a file that has it), then one line per
    row: slots space-separated, nulls empty (what the csv module writes for None)."""
    writerow = untrusted_csv_writer(out)  # text cells made inert for spreadsheets (OWASP)
    if header:
        writerow(EXPORT_COLUMNS)
    slots = EXPORT_COLUMNS.index("slots")

    def write(row: Sequence[Any]) -> None:
        cells = list(row)
        cells[slots] = " ".join(cells[slots])
        writerow(cells)

    return write


def jsonl_writer(out: Sink) -> Callable[[Sequence[Any]], None]:
    """One JSON object per line, keys in :data:`EXPORT_COLUMNS` order."""

    def write(row: Sequence[Any]) -> None:
        out.write(json_text(_JSON.encode(dict(zip(EXPORT_COLUMNS, row, strict=True)))) + "\n")

    return write


def write_rows(rows: Iterable[Sequence[Any]], *writers: Callable[[Sequence[Any]], None]) -> int:
    """Each row to every writer (a CSV and a JSON Lines file in one read); returns the rows."""
    count = 0
    for row in rows:
        for write in writers:
            write(row)
        count += 1
    return count


def write_jsonl(rows: Iterable[Sequence[Any]], out: Sink) -> int:
    """One JSON object per line; returns the number of rows."""
    return write_rows(rows, jsonl_writer(out))


def write_csv(rows: Iterable[Sequence[Any]], out: Sink) -> int:
    """A header, then one row per probe; slots space-separated. Returns the number of rows."""
    return write_rows(rows, csv_writer(out))


ADBC_DRIVER: Final = "adbc_driver_sqlite"


def adbc_readable(store: Store) -> bool:
    """Whether ``export_read.raw_tables`` reads ``store`` through ADBC (a SQLite file, the
    driver installed), hence gives the ``also`` columns. Here, not in ``export_read``: the
    site build's own process asks (``site/opendata_files.months_to_analyse``) and never reads
    a month, so that it need not import pyarrow (0.3 s), which ``export_read`` does."""
    return store.sqlite_file() is not None and importlib.util.find_spec(ADBC_DRIVER) is not None
