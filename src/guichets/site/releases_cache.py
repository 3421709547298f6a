"""The press summary's release analysis, computed once a day.

The analysis of batch releases (``stats/releases.py``) reads every probe of the month, service
by service: 360,000 probes at the end of a month of 500 services probed hourly, over a second of
a build that otherwise writes only what a run changed. Releases are patterns over weeks, so one
more hour of probes rarely moves them: the site computes them at the first build of each Paris
day and keeps them (``DATA/cache/site/releases-YYYY-MM.pickle``) until the day changes, the
method changes, or the month's earlier probes do (a late probe, a deletion: the probes of the
month up to the start of the day are counted to know).
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path
from typing import Final

from guichets.files import read_kept, write_kept
from guichets.periods import DateRange, day_start
from guichets.stats.method import METHOD_VERSION
from guichets.stats.releases import Release, release_rows
from guichets.store import Store
from guichets.store.export import export_extent

__all__ = ["releases_of_the_day"]

FORMAT: Final = 1  # bump when Release changes shape


def _key(store: Store, month: DateRange, day: date | None) -> str:
    """The day, and how many probes the month had before it started (the store's count is
    read off the ``started_at`` index)."""
    start = month.start if day is None else max(month.start, day_start(day))
    count, last = export_extent(store, month.start, start) if start > month.start else (0, None)
    ident = [FORMAT, METHOD_VERSION, f"{month.first}", str(day), count, None if last is None else
             [last[0].isoformat(), last[1]]]  # fmt: skip
    return hashlib.sha256(json.dumps(ident).encode()).hexdigest()


def releases_of_the_day(
    store: Store, month: DateRange, day: date | None, cache: Path | None
) -> list[Release]:
    """The month's batch releases, as of the first build of ``day`` (the last probe's Paris
    date); computed afresh without a cache."""
    if cache is None:
        return release_rows(store.iter_probe_points(month))
    path = cache / f"releases-{month.first:%Y-%m}.pickle"
    key = _key(store, month, day)
    kept = read_kept(path, key)
    if kept is not None:
        return list(kept)
    found = release_rows(store.iter_probe_points(month))
    write_kept(path, key, found)
    return found
