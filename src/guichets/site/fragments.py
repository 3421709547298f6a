"""Closed months' rows of the service and département pages' tables, rendered once and kept.

Every page of a service or a département prints, month by month, three tables (failure rates and
categories; first dates and lead times; what was not measured): at 13 months, most of what such a
page costs to render, and after an hourly run every page is rendered again (each prints the last
probe's instant and its latest month). A closed month's rows never change while its figures do
not: they are kept in ``DATA/cache/site/fragments.pickle`` under the month's fingerprint (what its
rows were computed from, ``usecases/figures.py``) and the code's digest, so that a page renders
only its current month's rows. A month whose fingerprint moved is rendered again; entries of
months whose fingerprint moved, or that the site no longer shows, are dropped when saved.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from guichets.files import write_atomic

__all__ = ["FRAGMENTS_FILE", "Key", "MonthFragments", "Rows"]

FRAGMENTS_FILE: Final = "fragments.pickle"
FORMAT: Final = 1

Rows = tuple[str, str, str]  # one month's row in each of the three tables (HTML, escaped)
Key = tuple[str, str, str, str]  # (kind, ident, lang, period)


class MonthFragments:
    """The kept rows, and those rendered by this build (to be kept)."""

    def __init__(self, cache: Path | None, fingerprints: Mapping[str, str], code: str) -> None:
        self.path = None if cache is None else cache / FRAGMENTS_FILE
        self.fingerprints = fingerprints
        self.code = code
        self.kept: dict[Key, tuple[str, Rows]] = {}
        self.new: dict[Key, tuple[str, Rows]] = {}
        if self.path is None or not fingerprints:
            return
        try:
            stamp, kept = pickle.loads(self.path.read_bytes())
            if stamp == (FORMAT, code) and isinstance(kept, dict):
                self.kept = kept
        except (FileNotFoundError, pickle.UnpicklingError, EOFError, ValueError, TypeError):
            pass  # a cache is only a cache: rendered again

    def get(self, kind: str, ident: str, lang: str, period: str) -> Rows | None:
        fingerprint = self.fingerprints.get(period)
        found = self.kept.get((kind, ident, lang, period))
        if fingerprint is None or found is None or found[0] != fingerprint:
            return None
        return found[1]

    def put(self, kind: str, ident: str, lang: str, period: str, rows: Rows) -> None:
        fingerprint = self.fingerprints.get(period)
        if self.path is None or fingerprint is None:
            return
        entry = (fingerprint, rows)
        self.kept[(kind, ident, lang, period)] = entry
        self.new[(kind, ident, lang, period)] = entry

    def take_new(self) -> dict[Key, tuple[str, Rows]]:
        """What this process rendered since last asked (a page worker sends it to the parent)."""
        new, self.new = self.new, {}
        return new

    def add(self, entries: Mapping[Key, tuple[str, Rows]]) -> None:
        """Rows rendered by a page worker."""
        self.kept.update(entries)
        self.new.update(entries)

    def save(self) -> None:
        """Keep the rows of the months still shown with their current fingerprint."""
        if self.path is None or not self.fingerprints:
            return
        current = {
            key: entry
            for key, entry in self.kept.items()
            if self.fingerprints.get(key[3]) == entry[0]
        }
        if not self.new and len(current) == len(self.kept):
            return
        self.kept, self.new = current, {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = pickle.dumps(((FORMAT, self.code), current), protocol=pickle.HIGHEST_PROTOCOL)
        write_atomic(self.path, data)
