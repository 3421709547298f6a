"""The monthly archive: each closed month's page (figures, map, press summary) at a stable address,
``archives/YYYY-MM.html``, written once and never rewritten.

A month is closed once the build's day is past its last day. Its page is then frozen: later
builds copy it back byte for byte, whatever probes arrive (late ones of that month included),
so that a link given to a court or quoted in a newspaper keeps showing what was published. Only
a new method version re-renders it, and the page then says so. Each frozen page is also kept in
the data directory (``DATA/archive/``), so that a site built into a new folder keeps it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final

from guichets.periods import DateRange
from guichets.stats.method import METHOD_VERSION

__all__ = [
    "ARCHIVE_DIR",
    "ArchivedMonth",
    "closed_months",
    "frozen_method",
    "kept_copy",
    "month_path",
    "save_copy",
]

ARCHIVE_DIR: Final = "archives"
_METHOD: Final = re.compile(rb'<meta name="guichets-method" content="([^"]{1,40})">')


def month_path(month: DateRange) -> str:
    return f"{ARCHIVE_DIR}/{month.first:%Y-%m}.html"


def closed_months(months: list[DateRange], today: date) -> list[DateRange]:
    """The months over before ``today`` (Paris date of the build)."""
    return [m for m in months if m.last < today]


def frozen_method(page: bytes) -> str | None:
    """The method version a frozen page was computed under (its ``guichets-method`` meta)."""
    found = _METHOD.search(page)
    return None if found is None else found.group(1).decode("ascii", "replace")


@dataclass(frozen=True)
class ArchivedMonth:
    """What a month's page holds already, if anything: its bytes and their method version."""

    data: bytes | None
    method: str | None

    @property
    def current(self) -> bool:
        return self.data is not None and self.method == METHOD_VERSION


def _copy_path(home: Path, relative: Path) -> Path:
    return home / "archive" / relative


def kept_copy(published: Path, home: Path | None, relative: Path) -> ArchivedMonth:
    """The frozen page: in the published folder, else in the data directory's copy."""
    for candidate in (published, None if home is None else _copy_path(home, relative)):
        if candidate is not None and candidate.is_file():
            data = candidate.read_bytes()
            return ArchivedMonth(data, frozen_method(data))
    return ArchivedMonth(None, None)


def save_copy(home: Path | None, relative: Path, data: bytes) -> None:
    """Keep the frozen page in the data directory too (never in the cache: it is evidence)."""
    if home is None:
        return
    path = _copy_path(home, relative)
    if path.is_file() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    partial.replace(path)
