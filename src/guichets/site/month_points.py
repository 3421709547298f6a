"""A closed month's batch releases from the month files' read of its probes, not a read of its
own.

A first build writes every month's open-data files (``site/opendata_files.py``) and renders
every closed month's archive page, whose press summary holds the month's release analysis
(``stats/releases.py``): both read every probe of the month, 0.2 CPU-s a month at 100 services
for the analysis's read alone. Here the pages the month files are written from also give the
analysis its points, so that the probes are read once.

The two reads differ, and what is taken here is what the analysis's own read
(``Store.iter_probe_points``) gives, so that the releases are the same:

- the export leaves out the replicates, the analysis counts them: when the month stores more
  probes than the export read (``stored_count``, from the running totals), its replicates are
  read too;
- the export has the assisted reads, the analysis does not: they are left out here;
- the analysis uses the stored ``category`` (a date found unless it is ``E``), the export
  prints one computed from the slots: the stored one is read beside the export's columns
  (ADBC's read of a SQLite file only: another read gives no analysis);
- the analysis reads by service then ``started_at`` as SQLite sorts them (text, byte by
  byte): sorted here so. Two points of a service at the same instant come in no defined order
  there; when they differ (one found a date, one did not), their order could change the
  analysis, and none is given here: the archive page reads the month itself, as before.

Only what the analysis keeps is held: the valid points' service, instant and whether they
found a date (about 30 bytes a point: 11 MB for a month of 500 services).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from itertools import pairwise
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from guichets.model import Category, Outcome
from guichets.periods import DateRange
from guichets.stats.releases import Release, releases_of
from guichets.store import Store, as_utc
from guichets.store.export import stored_count
from guichets.store.export_read import replicate_tables

__all__ = ["ALSO", "MonthPoints", "month_releases"]

ALSO: Final = ("category",)  # read beside the export's columns (``raw_tables(also=...)``)
_VALID: Final = pa.array([Outcome.AVAILABLE.value, Outcome.UNAVAILABLE.value], pa.string())
_KEYS: Final = [("service", "ascending"), ("started_at", "ascending")]


class MonthPoints:
    """The release analysis's points of a month, gathered from pages of raw probe rows."""

    def __init__(self) -> None:
        self.read = 0  # rows seen, the export's: compared with the month's stored probes
        self.complete = True  # every page had the stored category
        self._parts: list[pa.Table] = []

    def add(self, page: pa.Table) -> None:
        """Keep a page's valid, non-assisted points: (service, started_at as stored, dated)."""
        self.read += page.num_rows
        if not self.complete or "category" not in page.column_names:
            self.complete = False
            return
        assisted = page.column("assisted")
        kept = pc.and_(
            pc.equal(assisted, False if pa.types.is_boolean(assisted.type) else 0),
            pc.is_in(page.column("outcome"), value_set=_VALID),
        )
        dated = pc.fill_null(pc.not_equal(page.column("category"), Category.E.value), True)
        points = pa.table(
            {"service": page.column("service"), "started_at": page.column("started_at")}
        ).append_column("dated", dated)
        self._parts.append(points.filter(kept))

    def releases(self) -> list[Release] | None:
        """The month's releases, as ``release_rows(store.iter_probe_points(month))`` gives them;
        None when they cannot be told so (a page without the category, a tie that differs)."""
        if not self.complete:
            return None
        parts, self._parts = self._parts, []
        points = _sorted(parts)
        if _differing_ties(points):
            return None
        return releases_of(_services(points))


def _sorted(parts: list[pa.Table]) -> pa.Table:
    """The points by service, then instant as stored (text): SQLite's order for both."""
    if not parts:
        return pa.table(
            {"service": pa.array([], pa.string()), "started_at": pa.array([], pa.string())}
        ).append_column("dated", pa.array([], pa.bool_()))
    points = pa.concat_tables(parts)
    parts.clear()  # the pages' points live on in ``points`` only: freed once sorted
    return points.take(pc.sort_indices(points, sort_keys=_KEYS))


def _whole(column: pa.ChunkedArray) -> pa.Array:
    """A column as one array: its only chunk as it is (``combine_chunks`` copies even that one:
    14 MB for a month of 500 services, beside the sorted points)."""
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def _differing_ties(points: pa.Table) -> bool:
    """Whether two points of a service at the same instant differ in finding a date: SQLite
    orders such ties as it goes, and the analysis may depend on their order."""
    if points.num_rows < 2:
        return False
    columns = [_whole(points.column(name)) for name in ("service", "started_at", "dated")]
    head = [c.slice(0, len(c) - 1) for c in columns]
    tail = [c.slice(1) for c in columns]
    tie = pc.and_(pc.equal(head[0], tail[0]), pc.equal(head[1], tail[1]))
    return bool(pc.any(pc.and_(tie, pc.not_equal(head[2], tail[2]))).as_py())


def _services(points: pa.Table) -> Iterator[tuple[str, list[tuple[datetime, bool]]]]:
    """Each service's points (instant, dated), in order. A service whose points found a date at
    least half of the time has no release (``detect_release``'s first test, which it would
    pass): left out, its instants never parsed."""
    services = _whole(points.column("service"))
    if not len(services):
        return
    starts = pc.indices_nonzero(
        pc.not_equal(services.slice(1), services.slice(0, len(services) - 1))
    ).to_pylist()
    bounds = [0, *(i + 1 for i in starts), len(services)]
    texts, dated = points.column("started_at"), points.column("dated")
    for start, end in pairwise(bounds):
        length = end - start
        found = pc.sum(dated.slice(start, length)).as_py() or 0
        if 2 * found >= length:
            continue
        instants = map(as_utc, texts.slice(start, length).to_pylist())
        valid = list(zip(instants, dated.slice(start, length).to_pylist(), strict=True))
        yield services[start].as_py(), valid


def month_releases(store: Store, days: DateRange, points: MonthPoints) -> list[Release] | None:
    """The releases of a month whose export pages went through ``points``: its replicates read
    besides when it has some (the export leaves them out)."""
    if points.complete and stored_count(store, days) > points.read:
        pages = replicate_tables(store, days.start, days.end, also=ALSO)
        if pages is None:
            return None
        for page in pages:
            points.add(page)
    return points.releases()
