"""The probes of a span as Arrow tables of the export's raw columns (:data:`RAW_COLUMNS`), a page
at a time: what ``store/export_table.py`` turns into the open data's CSV and Parquet.

Reading was the largest cost of writing the month files: the sqlite3 module makes a Python
object of every value (17 a row), and Arrow then reads them back one at a time, about 6 µs a row
together, 80 CPU-s for 13 million probes. A SQLite store is read here through ADBC's SQLite
driver (``adbc-driver-sqlite``), which steps through the rows in C and fills Arrow's columns
directly (three to four times less CPU; ``docs/architecture.md``, "Open data"). Any other
database (PostgreSQL), a SQLite store in memory or given by URI, or a machine without the driver
is read off the driver's cursor and converted, as before: the same tables, slower.

The driver guesses a column's type from the rows of its first batch (a column of nulls is taken
for integers, and a text later is an error), so each page is one query whose rows all fit in one
batch: the guess sees every row, and a column of nulls is cast to its type here. Pages are short
read transactions, each resuming after the last row read (``export.raw_pages``' order and keyset:
start, then id). SQLite walks the ``started_at`` index in that order but for probes started at
the same instant, which it sorts by id through a temporary B-tree, every row of every page (a
fifth of the read: 3.75 against 2.98 µs a row, a month of 500 services). So a page is read in
start order only, with one row more: when that row starts later than the page's last, the page
holds every probe of its instants, and its rare ties are put in id order here; when not (a
page would end among probes started at one instant), the page is read again, sorted by SQLite.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc

from guichets.store import Store, as_utc
from guichets.store.export import RAW_COLUMNS, adbc_readable, raw_pages

__all__ = [
    "EXTRA_TYPES",
    "RAW_TYPES",
    "adbc_readable",
    "raw_tables",
    "replicate_tables",
    "table_of_rows",
    "warm_up",
]

# The raw columns' types once read; the instants are kept as read (SQLite's text, or timestamps
# from PostgreSQL's datetimes) and parsed by ``export_table``.
_INSTANTS: Final = frozenset({"started_at", "finished_at", "horizon_end"})
RAW_TYPES: Final[Mapping[str, pa.DataType]] = {
    name: pa.int64() if name in ("requests", "http_status", "assisted") else pa.string()
    for name in RAW_COLUMNS
}
# Columns a caller may read besides (``also``): the stored category, which the release analysis
# uses (``site/month_points.py``) and the export recomputes from the slots.
EXTRA_TYPES: Final[Mapping[str, pa.DataType]] = {"category": pa.string()}
_TYPES: Final[Mapping[str, pa.DataType]] = {**RAW_TYPES, **EXTRA_TYPES}
_BATCH_OPTION: Final = "adbc.sqlite.query.batch_rows"
_BUSY_MS: Final = 30_000  # as the store's own connections wait for a lock


def _sqlite_instant(at: datetime) -> str:
    """An instant as the store's SQLite columns hold it (naive UTC, microseconds always)."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _select(also: Sequence[str], replicates: bool) -> str:
    """The page's query up to its bounds: the export's probes, or only their replicates."""
    which = "IS NOT NULL" if replicates else "IS NULL"
    return (
        f"SELECT {', '.join([*RAW_COLUMNS, *also])} FROM probes"
        f" WHERE replicate_of {which} AND started_at >= ? AND started_at < ?"
    )


# After the last row read (its start, its start, its id): spelt so that SQLite walks the
# started_at index from there, as ``readings.after_position``. A page is read in start order
# (one row more, to tell whether the next one starts at another instant), or, when a page would
# end among probes started at one instant, in start then id order.
_AFTER: Final = " AND started_at >= ? AND (started_at > ? OR probe_id > ?)"
_BY_START: Final = " ORDER BY started_at LIMIT ?"
_BY_START_AND_ID: Final = " ORDER BY started_at, probe_id LIMIT ?"
_ORDER: Final = [("started_at", "ascending"), ("probe_id", "ascending")]


def warm_up() -> None:
    """Load ADBC's driver now (with what its Python module imports, tens of MB): a process
    about to fork the workers that read months loads it once, and they share it."""
    with contextlib.suppress(ImportError):
        import adbc_driver_sqlite.dbapi  # noqa: F401 - loaded for the workers


def _adbc_connect(path: Path) -> Any | None:
    try:
        import adbc_driver_sqlite.dbapi as adbc  # here: the CLI starts without loading it
    except ImportError:
        return None
    uri = path.resolve().as_uri() + "?mode=ro"
    connection = adbc.connect(uri, autocommit=True)
    with contextlib.closing(connection.cursor()) as cursor:
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_MS}")
        cursor.fetchall()
    return connection


def _typed(table: pa.Table) -> pa.Table:
    """The driver's guesses brought to :data:`RAW_TYPES` (a column of nulls read as integers)."""
    columns = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        wanted = _TYPES[name]
        if column.type != wanted:
            if column.null_count != len(column) and not (
                pa.types.is_integer(column.type) and pa.types.is_integer(wanted)
            ):
                raise ValueError(f"column {name} read as {column.type}, not {wanted}")
            column = column.cast(wanted)
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def _in_order(table: pa.Table) -> pa.Table:
    """A page read in start order, its probes started at the same instant put in id order
    (none, mostly: the page as it is)."""
    if table.num_rows < 2:
        return table
    started = table.column("started_at")
    ties = pc.equal(started.slice(0, table.num_rows - 1), started.slice(1))
    if not pc.any(ties).as_py():
        return table
    return table.take(pc.sort_indices(table, sort_keys=_ORDER))


def _adbc_tables(
    connection: Any, since: datetime, until: datetime, rows: int, select: str
) -> Iterator[pa.Table]:
    bounds = [_sqlite_instant(since), _sqlite_instant(until)]
    after: list[Any] = []
    with contextlib.closing(connection.cursor()) as cursor:
        cursor.adbc_statement.set_options(**{_BATCH_OPTION: str(rows + 1)})

        def read(order: str, limit: int) -> pa.Table:
            cursor.execute(select + (_AFTER if after else "") + order, [*bounds, *after, limit])
            return _typed(cursor.fetch_arrow_table())

        while True:
            table = read(_BY_START, rows + 1)
            more = table.num_rows > rows
            started = table.column("started_at")
            if more and started[rows] == started[rows - 1]:  # the page ends within a tie
                table = read(_BY_START_AND_ID, rows)
            else:
                table = _in_order(table.slice(0, rows))
            if table.num_rows:
                yield table
            if not more:
                return
            last_at = table.column("started_at")[-1].as_py()
            after = [last_at, last_at, table.column("probe_id")[-1].as_py()]


def table_of_rows(rows: Sequence[Sequence[Any]]) -> pa.Table:
    """Raw rows as the driver's cursor gives them (``export.raw_pages``) as a table of
    :data:`RAW_TYPES`; instants as text (SQLite) or as UTC timestamps (datetimes)."""
    values = list(zip(*rows, strict=True)) if rows else [() for _ in RAW_COLUMNS]
    columns = []
    for name, column in zip(RAW_COLUMNS, values, strict=True):
        if name in _INSTANTS and any(isinstance(v, datetime) for v in column):
            instants = [None if v is None else as_utc(v) for v in column]
            columns.append(pa.array(instants, pa.timestamp("us", tz="UTC")))
        elif name == "assisted":
            columns.append(pa.array([int(bool(v)) for v in column], pa.int64()))
        else:
            columns.append(pa.array(column, RAW_TYPES[name]))
    return pa.table(columns, names=list(RAW_COLUMNS))


def raw_tables(
    store: Store,
    since: datetime,
    until: datetime,
    *,
    rows: int = 50_000,
    adbc: bool = True,
    also: Sequence[str] = (),
) -> Iterator[pa.Table]:
    """The probes started in [since, until), by start then id, ``rows`` at a time, as tables of
    :data:`RAW_COLUMNS`. ``adbc=False``: the driver's cursor even for a SQLite file (tests).

    ``also``: columns of :data:`EXTRA_TYPES` added after those, when read through ADBC only (the
    other way reads the export's columns alone: a caller tells by the tables' columns)."""
    connection = _connection(store, adbc)
    if connection is None:
        for page in raw_pages(store, since, until, rows=rows):
            yield table_of_rows(page)
        return
    yield from _closing_tables(connection, since, until, rows, _select(also, replicates=False))


def _connection(store: Store, adbc: bool) -> Any | None:
    """An ADBC connection to the store's SQLite file, or None (another database, no driver)."""
    path = store.sqlite_file() if adbc else None
    return None if path is None else _adbc_connect(path)


def replicate_tables(
    store: Store, since: datetime, until: datetime, *, rows: int = 50_000, also: Sequence[str] = ()
) -> Iterator[pa.Table] | None:
    """The replicates started in [since, until) (which the export leaves out), as
    :func:`raw_tables` gives the probes; None when the store is not read through ADBC. No index
    finds them: each row of the span is read, so ask only when there are some."""
    connection = _connection(store, adbc=True)
    if connection is None:
        return None
    return _closing_tables(connection, since, until, rows, _select(also, replicates=True))


def _closing_tables(
    connection: Any, since: datetime, until: datetime, rows: int, select: str
) -> Iterator[pa.Table]:
    with contextlib.closing(connection):
        yield from _adbc_tables(connection, since, until, rows, select)
