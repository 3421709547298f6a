"""The closed months' part of the service and département pages, rendered once and kept.

Every page of a service or a département shows its months: two charts (``site/charts.py``) and
three tables (failure rates and categories; first dates and lead times; what was not measured).
At 13 months that is most of what such a page costs, and after an hourly run every page is
rendered again (each prints the last probe's instant and its latest month). The closed months'
part of each chart and of each table never changes while their figures do not: it is kept, one
file per page and language (``DATA/cache/site/fragments/<kind>/<lang>/<ident>.pickle``), each
piece under a key made of what it was drawn from (the closed months' fingerprints,
``usecases/figures.py``, or the numbers drawn), the file stamped with the code's digest, so that
a page renders only its current month.

One file a page, read when the page is rendered and written (by the process that rendered it,
a page worker or the build's own) only when one of its pieces was drawn again: at three years
of 500 services the pieces of the 1 202 pages are about 250 MB of text, which a single file
made every build hold in its main process (read whole at its start, and sent back by the page
workers to be written again). A piece whose key moved is rendered again and replaces its
entry; the file of a page no longer built stays until the code changes (a few kB each).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Final

from guichets.files import read_kept, write_kept

__all__ = ["FRAGMENTS_DIR", "Entry", "MonthFragments", "PageFragments"]

FRAGMENTS_DIR: Final = "fragments"
_OLD_FILE: Final = "fragments.pickle"  # every page's pieces in one file (before per page)
FORMAT: Final = 3
_SAFE: Final = re.compile(r"[A-Za-z0-9_.-]+")

Entry = tuple[str, tuple[str, ...]]  # (key: what it was drawn from, the rendered pieces)


class PageFragments:
    """The kept pieces of one page (a ``charts.Kept``): read when first asked, written back by
    :meth:`save` when a piece was drawn again."""

    def __init__(self, path: Path | None, code: str) -> None:
        self.path = path
        self.code = code
        self._kept: dict[str, Entry] | None = None
        self.changed = False

    @property
    def kept(self) -> dict[str, Entry]:
        if self._kept is None:
            found = None if self.path is None else read_kept(self.path, (FORMAT, self.code))
            self._kept = found if isinstance(found, dict) else {}
        return self._kept

    def get(self, name: str, key: str) -> tuple[str, ...] | None:
        """The pieces kept under ``name`` when they were drawn from ``key``."""
        found = self.kept.get(name)
        return None if found is None or found[0] != key else found[1]

    def put(self, name: str, key: str, pieces: tuple[str, ...]) -> None:
        if self.path is None:
            return
        self.kept[name] = (key, pieces)
        self.changed = True

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

    def save(self) -> None:
        if self.path is None or not self.changed or self._kept is None:
            return
        write_kept(self.path, (FORMAT, self.code), self._kept)
        self.changed = False


class MonthFragments:
    """Where the pages' kept pieces are (nothing kept without a cache folder)."""

    def __init__(self, cache: Path | None, code: str) -> None:
        self.folder = None if cache is None else cache / FRAGMENTS_DIR
        self.code = code
        if cache is not None:
            (cache / _OLD_FILE).unlink(missing_ok=True)  # hundreds of MB at full scale

    @property
    def enabled(self) -> bool:
        return self.folder is not None

    def page(self, kind: str, ident: str, lang: str) -> PageFragments:
        """The pieces of the page of this service or département in this language."""
        if self.folder is None:
            return PageFragments(None, self.code)
        parts = (kind, lang, ident)
        if not all(_SAFE.fullmatch(part) and part not in (".", "..") for part in parts):
            return PageFragments(None, self.code)  # not a file name: rendered every time
        return PageFragments(self.folder / kind / lang / f"{ident}.pickle", self.code)
