"""The closed months' part of the service and département pages, rendered once and kept.

Every page of a service or a département shows its months: two charts (``site/charts.py``) and
three tables (failure rates and categories; first dates and lead times; what was not measured).
At 13 months that is most of what such a page costs, and after an hourly run every page is
rendered again (each prints the last probe's instant and its latest month). The closed months'
part of each chart and of each table never changes while their figures do not: it is kept in
``DATA/cache/site/fragments.pickle``, one entry per page, language and piece, under a key made of
what it was drawn from (the closed months' fingerprints, ``usecases/figures.py``, or the numbers
drawn) and stamped with the code's digest, so that a page renders only its current month.

A piece whose key moved is rendered again and replaces its entry; a piece of a page no longer
built stays until the code changes (a few kB each).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Final

from guichets.files import read_kept, write_kept

__all__ = ["FRAGMENTS_FILE", "Entry", "MonthFragments"]

FRAGMENTS_FILE: Final = "fragments.pickle"
FORMAT: Final = 2

Entry = tuple[str, tuple[str, ...]]  # (key: what it was drawn from, the rendered pieces)


class MonthFragments:
    """The kept pieces, by name (page, language and piece), and those made by this build."""

    def __init__(self, cache: Path | None, code: str) -> None:
        self.path = None if cache is None else cache / FRAGMENTS_FILE
        self.code = code
        self.kept: dict[str, Entry] = {}
        self.new: dict[str, Entry] = {}
        if self.path is None:
            return
        kept = read_kept(self.path, (FORMAT, code))
        if isinstance(kept, dict):  # else nothing kept: rendered again
            self.kept = kept

    @property
    def enabled(self) -> bool:
        return self.path is not None

    def get(self, name: str, key: str) -> tuple[str, ...] | None:
        """The pieces kept under ``name`` when they were drawn from ``key``."""
        found = self.kept.get(name)
        return None if found is None or found[0] != key else found[1]

    def put(self, name: str, key: str, pieces: tuple[str, ...]) -> None:
        if self.path is None:
            return
        self.kept[name] = self.new[name] = (key, pieces)

    def get_or_make(
        self, name: str, key: str, make: Callable[[], tuple[str, ...]]
    ) -> tuple[str, ...]:
        """The pieces kept under ``name`` when they were drawn from ``key``; else ``make()``'s,
        kept for the next build (a chart's closed periods: ``site/charts.py``)."""
        found = self.get(name, key)
        if found is None:
            found = make()
            self.put(name, key, found)
        return found

    def take_new(self) -> dict[str, Entry]:
        """What this process made since last asked (a page worker sends it to the parent)."""
        new, self.new = self.new, {}
        return new

    def add(self, entries: dict[str, Entry]) -> None:
        """Pieces made by a page worker."""
        self.kept.update(entries)
        self.new.update(entries)

    def save(self) -> None:
        if self.path is None or not self.new:
            return
        self.new = {}
        write_kept(self.path, (FORMAT, self.code), self.kept)
