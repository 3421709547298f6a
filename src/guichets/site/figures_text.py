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
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from guichets.files import read_kept, write_kept
from guichets.site.opendata import figures_csv, figures_json
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
        if not rows:
            return figures_csv(rows), figures_json(rows)
        by_month: dict[str, list[ReportRow]] = defaultdict(list)
        for row in rows:
            by_month[row.period].append(row)
        printed = {period: self._month(period, found) for period, found in by_month.items()}
        csv_lines, json_lines = [], []
        for row in rows:
            csv_line, json_line = printed[row.period][(row.level.value, row.key)]
            csv_lines.append(csv_line)
            json_lines.append(json_line)
        return _HEADER + "".join(csv_lines), "[\n" + ",\n".join(json_lines) + "\n]\n"
