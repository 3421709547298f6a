"""The open data's monthly figures (``chiffres-mensuels.csv`` and ``.json``), with each month's
lines kept beside the month's cached rows.

Printing every row of every month as CSV and JSON took 8 s a build over three years of 500
services, though only the last month changes after a run. Each month's lines are kept in
``DATA/cache/site/figures-YYYY-MM.pickle`` with the fingerprint of the rows they print (see
``site/figures.py``) and the code's digest (``site/pages_work.py``: how they print): a build
prints only the rows of the months that moved, and of rows whose name in the catalogue changed
(or all of them after a code change), then puts the lines together in the order of the rows. The
lines are those of :func:`~guichets.site.opendata.figures_csv` and
:func:`~guichets.site.opendata.figures_json` for one row, so that the files are the same bytes
as printing all rows at once (``tests/test_site_build.py`` holds them equal).

After an hourly run only the latest month moves: the lines of all the months before it are also
kept together, in ``DATA/cache/site/closed-figures.pickle`` (two lists of lines, in the rows'
order), under the key of what they print (those months, their fingerprints, the rows' names and
départements, in order), so that a rebuild reads two lists of strings instead of unpickling every
month's lines (13 files at 13 months), and prints or reads only the latest month's.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final, TypeGuard

from guichets.files import read_kept, write_kept
from guichets.site.opendata import Text, figures_csv, figures_json
from guichets.site.pages_work import code_digest
from guichets.stats.report import ReportRow

__all__ = ["FiguresText"]

FORMAT: Final = 1
# A row's lines are kept with what they print that is not in the month's fingerprint.
_Lines = dict[tuple[str, str], tuple[str | None, str | None, str, str]]


def _lines(row: ReportRow) -> tuple[str, str]:
    """The row's CSV line(s) (a quoted cell may hold a line break) and its JSON line."""
    csv_text = figures_csv([row])
    json_text = figures_json([row])
    return csv_text[len(_HEADER) :], json_text.split("\n")[1]


_HEADER: Final = figures_csv([])
_CLOSED: Final = "closed-figures.pickle"


class FiguresText:
    """Call with the rows (France, départements, services; by month) to get the two files."""

    def __init__(self, cache: Path, fingerprints: Mapping[str, str]) -> None:
        self.cache = cache
        self.fingerprints = fingerprints
        self.code = code_digest()  # how the lines print: a code change prints them again
        self.printed = 0  # rows printed afresh, the rest came from the cache

    def _month(
        self, period: str, rows: Sequence[ReportRow]
    ) -> dict[tuple[str, str], tuple[str, str]]:
        fingerprint = self.fingerprints.get(period)
        path = self.cache / f"figures-{period}.pickle"
        kept: _Lines = {}
        if fingerprint is not None:
            kept = read_kept(path, (FORMAT, self.code, fingerprint)) or {}
        lines: _Lines = {}
        for row in rows:
            ident = (row.level.value, row.key)
            old = kept.get(ident)
            if old is not None and old[:2] == (row.label, row.departement):
                lines[ident] = old
            else:
                lines[ident] = (row.label, row.departement, *_lines(row))
                self.printed += 1
        if fingerprint is not None and lines != kept:
            write_kept(path, (FORMAT, self.code, fingerprint), lines)
        return {ident: (line[2], line[3]) for ident, line in lines.items()}

    def __call__(self, rows: Sequence[ReportRow]) -> tuple[str, str]:
        csv_text, json_text = self.texts(rows)
        return str(csv_text), str(json_text)

    def texts(self, rows: Sequence[ReportRow]) -> tuple[Text, Text]:
        """The two files' texts as their lines (``opendata.Text``), never joined whole."""
        if not rows:
            return Text(figures_csv(rows)), Text(figures_json(rows))
        last = max(row.period for row in rows)
        closed = [row for row in rows if row.period != last]
        key = self._closed_key(closed)
        kept = None if key is None else read_kept(self.cache / _CLOSED, key)
        if key is None:
            csv_lines, json_lines = self._lines_of(rows)
        else:
            if not _is_lines(kept, len(closed)):
                kept = self._lines_of(closed)
                write_kept(self.cache / _CLOSED, key, kept)
            latest = self._lines_of([row for row in rows if row.period == last])
            csv_lines, json_lines = _merged(rows, last, kept, latest)
        return Text(_HEADER, csv_lines), Text("[\n", json_lines, ",\n", "\n]\n")

    def _closed_key(self, rows: Sequence[ReportRow]) -> tuple[object, ...] | None:
        """What the lines of the months before the latest print, or None when one of those
        months has no fingerprint (its lines are then not kept)."""
        periods = sorted({row.period for row in rows})
        prints = [self.fingerprints.get(period) for period in periods]
        if None in prints:
            return None
        names = [(row.period, row.level.value, row.key, row.label, row.departement) for row in rows]
        made = hashlib.sha256(repr((periods, prints, names)).encode()).hexdigest()
        return (FORMAT, self.code, made)

    def _lines_of(self, rows: Sequence[ReportRow]) -> tuple[list[str], list[str]]:
        """The CSV lines (without header) and the JSON lines of ``rows``, in their order."""
        by_month: dict[str, list[ReportRow]] = defaultdict(list)
        for row in rows:
            by_month[row.period].append(row)
        printed = {period: self._month(period, found) for period, found in by_month.items()}
        csv_lines, json_lines = [], []
        for row in rows:
            csv_line, json_line = printed[row.period][(row.level.value, row.key)]
            csv_lines.append(csv_line)
            json_lines.append(json_line)
        return csv_lines, json_lines


_Printed = tuple[list[str], list[str]]


def _is_lines(kept: object, count: int) -> TypeGuard[_Printed]:
    """Whether ``kept`` is the lines of ``count`` rows (CSV lines, JSON lines)."""
    return (
        isinstance(kept, tuple)
        and len(kept) == 2
        and all(isinstance(lines, list) and len(lines) == count for lines in kept)
    )


def _merged(rows: Sequence[ReportRow], last: str, closed: _Printed, latest: _Printed) -> _Printed:
    """The lines of ``rows`` in their order, from those of the closed months' rows and of the
    latest month's, each in the rows' order."""
    csv_lines, json_lines = [], []
    sources = {False: (iter(closed[0]), iter(closed[1])), True: (iter(latest[0]), iter(latest[1]))}
    for row in rows:
        csv_of, json_of = sources[row.period == last]
        csv_lines.append(next(csv_of))
        json_lines.append(next(json_of))
    return csv_lines, json_lines
