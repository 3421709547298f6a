"""The open data's monthly figures (``chiffres-mensuels.csv`` and ``.json``), with each month's
lines kept beside the month's cached rows.

Printing every row of every month as CSV and JSON took 8 s a build over three years of 500
services, though only the last month changes after a run. Each month's lines are kept in
``DATA/cache/site/figures-YYYY-MM.pickle`` with the fingerprint of the rows they print (see
``site/figures.py``) and the code's digest (``site/pages_work.py``: how they print): a build
prints only the rows of the months that moved, and of rows whose name in the catalogue changed
(or all of them after a code change), then puts the lines together in the order of the rows. The
lines are each row's of :func:`~guichets.site.opendata.figures_csv` and
:func:`~guichets.site.opendata.figures_json` (``figures_csv_lines``, ``figures_json_lines``, by
which those two print), so that the files are the same bytes as printing all rows at once
(``tests/test_site_build.py`` holds them equal).

After an hourly run only the latest month moves: the lines of all the months before it are also
kept together, in ``DATA/cache/site/closed-figures.bin``, under the key of what they print (those
months, their fingerprints, the rows' names and départements, in order), so that a rebuild prints
or reads only the latest month's. That file holds the closed rows' CSV and JSON lines as the
files' bytes, in the rows' order, after a small header (the key and where each row's lines
start): the two files are written from it a run of rows at a time, between the latest month's
lines, never loaded whole (about 110 MB of text at three years of 500 services).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import struct
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import accumulate
from pathlib import Path
from typing import IO, Final

from guichets.files import UNREADABLE, atomic_file, read_kept, write_kept
from guichets.site.opendata import (
    Text,
    figures_csv,
    figures_csv_lines,
    figures_json,
    figures_json_lines,
)
from guichets.site.pages_work import code_digest
from guichets.stats.report import ReportRow

__all__ = ["FiguresText"]

FORMAT: Final = 1
# A row's lines are kept with what they print that is not in the month's fingerprint.
_Lines = dict[tuple[str, str], tuple[str | None, str | None, str, str]]


def _lines(rows: Sequence[ReportRow]) -> list[tuple[str, str]]:
    """Each row's CSV line(s) (a quoted cell may hold a line break) and its JSON line, printed
    together (one row at a time cost half as much again: each printed the header anew)."""
    _, csv_lines = figures_csv_lines(rows)
    return list(zip(csv_lines, figures_json_lines(rows), strict=True))


_HEADER: Final = figures_csv([])
_CLOSED: Final = "closed-figures.bin"
_OLD_CLOSED: Final = "closed-figures.pickle"  # the closed lines as two lists (before the .bin)
_SIZE: Final = struct.Struct("<Q")  # the header's length, before it
_CHUNK: Final = 1 << 20
# The closed lines' file as its offsets were read or written: (device, inode, size, mtime).
_Identity = tuple[int, int, int, int]
_Offsets = tuple[int, list[int], list[int], _Identity]


def _identity(fd: int) -> _Identity:
    found = os.fstat(fd)
    return found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns


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
        todo: list[ReportRow] = []
        for row in rows:
            ident = (row.level.value, row.key)
            old = kept.get(ident)
            if old is not None and old[:2] == (row.label, row.departement):
                lines[ident] = old
            else:
                todo.append(row)
        if todo:  # printed together
            for row, printed in zip(todo, _lines(todo), strict=True):
                lines[(row.level.value, row.key)] = (row.label, row.departement, *printed)
            self.printed += len(todo)
        if fingerprint is not None and lines != kept:
            write_kept(path, (FORMAT, self.code, fingerprint), lines)
        return {ident: (line[2], line[3]) for ident, line in lines.items()}

    def keep_month(self, period: str, rows: Sequence[ReportRow]) -> None:
        """Print and keep the lines of one month's rows, as :meth:`texts` will look for them:
        where the month's rows are computed (``usecases/figures.py``), beside the build."""
        self._month(period, rows)

    def __call__(self, rows: Sequence[ReportRow]) -> tuple[str, str]:
        csv_text, json_text = self.texts(rows)
        return str(csv_text), str(json_text)

    def texts(self, rows: Sequence[ReportRow]) -> tuple[Text | Merged, Text | Merged]:
        """The two files' texts, never put together whole (``opendata.Text``, :class:`Merged`)."""
        if not rows:
            return Text(figures_csv(rows)), Text(figures_json(rows))
        last = max(row.period for row in rows)
        closed = [row for row in rows if row.period != last]
        key = self._closed_key(closed)
        if key is None:
            csv_lines, json_lines = self._lines_of(rows)
            return Text(_HEADER, csv_lines), Text("[\n", json_lines, ",\n", "\n]\n")
        (self.cache / _OLD_CLOSED).unlink(missing_ok=True)
        path = self.cache / _CLOSED
        offsets = _kept_offsets(path, key, len(closed))
        if offsets is None:
            offsets = self._keep_closed(path, key, closed)
        latest = self._lines_of([row for row in rows if row.period == last])
        where = [row.period == last for row in rows]
        return (
            Merged(path, offsets, 0, where, latest[0], _HEADER.encode(), b"", b""),
            Merged(path, offsets, 1, where, latest[1], b"[\n", b",\n", b"\n]\n"),
        )

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

    def _keep_closed(
        self, path: Path, key: tuple[object, ...], rows: Sequence[ReportRow]
    ) -> _Offsets:
        """:func:`_keep_closed` of ``rows``, their lines printed (or read from the cache) one
        month at a time, never every closed month's at once."""
        rows_of: dict[str, list[ReportRow]] = defaultdict(list)  # each month's, in rows' order
        for row in rows:
            rows_of[row.period].append(row)

        def months() -> Iterator[tuple[str, list[tuple[str, str]]]]:
            for period, found in rows_of.items():
                printed = self._month(period, found)
                yield period, [printed[(row.level.value, row.key)] for row in found]

        return _keep_closed(path, key, [row.period for row in rows], months())


class Merged:
    """A file's bytes: its head, the kept closed rows' lines (``closed-figures.bin``, read a
    run of rows at a time) and the latest month's lines, in the rows' order, each line followed
    by ``sep`` but the last, then ``tail``."""

    def __init__(
        self,
        path: Path,
        offsets: _Offsets,
        which: int,
        latest_of: Sequence[bool],
        latest: Sequence[str],
        head: bytes,
        sep: bytes,
        tail: bytes,
    ) -> None:
        self.path, self.which = path, which
        self.start = offsets[0]
        self.offsets = offsets[2] if which else offsets[1]
        self.identity = offsets[3]
        self.latest_of, self.latest = latest_of, latest
        self.head, self.sep, self.tail = head, sep, tail

    def chunks(self) -> Iterator[bytes]:
        yield self.head
        latest = iter(self.latest)
        count = len(self.latest_of)
        closed = 0  # the next closed row's index
        at = 0
        fd = os.open(self.path, os.O_RDONLY)
        try:
            if _identity(fd) != self.identity:
                # Another build of this data directory put its own lines there meanwhile: these
                # offsets are not theirs. Failing leaves the published site as it was.
                raise OSError(
                    f"{self.path} was replaced during this build (another build of the same data "
                    "directory?): build again"
                )
            while at < count:
                if self.latest_of[at]:
                    line = next(latest).encode("utf-8")
                    yield line + (self.sep if at + 1 < count else b"")
                    at += 1
                    continue
                run = closed
                while at < count and not self.latest_of[at]:
                    at, closed = at + 1, closed + 1
                # The kept lines are each followed by ``sep`` (``_keep_closed``).
                first, end = self.offsets[run], self.offsets[closed]
                if at == count:
                    end -= len(self.sep)
                yield from _read(fd, self.start + first, end - first)
        finally:
            os.close(fd)
        yield self.tail

    def __str__(self) -> str:
        return b"".join(self.chunks()).decode("utf-8")


def _read(fd: int, at: int, size: int) -> Iterator[bytes]:
    while size > 0:
        data = os.pread(fd, min(size, _CHUNK), at)
        if not data:
            raise OSError(f"the kept figures' lines end early (at byte {at})")
        yield data
        at, size = at + len(data), size - len(data)


def _keep_closed(
    path: Path,
    key: tuple[object, ...],
    periods: Sequence[str],
    months: Iterable[tuple[str, Sequence[tuple[str, str]]]],
) -> _Offsets:
    """Write the closed rows' lines (CSV as printed; JSON each followed by ``,\n``), in the
    rows' order, after a header of the key and each row's start in both (with the end); returns
    where they are. ``periods``: each row's month, in the rows' order; ``months``: each month's
    (CSV, JSON) lines in the order of its rows, a month at a time.

    The rows come service by service, each with its months, and the lines month by month: each
    month's are spilled to files of their own as they come, then the two sections are copied
    from those files in the rows' order. Holding every closed month's lines at once instead was
    the largest part of a first build's main process at three years of 500 services (about 110
    MB of text)."""
    rows_of: dict[str, list[int]] = defaultdict(list)  # each month's rows, in rows' order
    for at, period in enumerate(periods):
        rows_of[period].append(at)
    sizes = {"csv": [0] * len(periods), "json": [0] * len(periods)}
    path.parent.mkdir(parents=True, exist_ok=True)
    # The spill files have no name (``TemporaryFile``: O_TMPFILE, or unlinked at once): a build
    # killed meanwhile (no ``finally`` runs) leaves nothing behind in the cache.
    with contextlib.ExitStack() as files:
        spill: dict[str, dict[str, IO[bytes]]] = {}
        for period, lines in months:
            csv_file, json_file = (
                files.enter_context(tempfile.TemporaryFile(dir=path.parent)) for _ in range(2)
            )
            spill[period] = {"csv": csv_file, "json": json_file}
            for at, (csv_line, json_line) in zip(rows_of[period], lines, strict=True):
                sizes["csv"][at] = csv_file.write(csv_line.encode("utf-8"))
                sizes["json"][at] = json_file.write(f"{json_line},\n".encode())
        for part in spill.values():
            for file in part.values():
                file.seek(0)
        csv_at = list(accumulate(sizes["csv"], initial=0))
        json_at = list(accumulate(sizes["json"], initial=0))
        header = pickle.dumps((key, csv_at, json_at), protocol=pickle.HIGHEST_PROTOCOL)
        with atomic_file(path) as out:
            out.write(_SIZE.pack(len(header)) + header)
            for kind, kind_sizes in sizes.items():
                for period, size in zip(periods, kind_sizes, strict=True):
                    out.write(spill[period][kind].read(size))
            out.flush()
            identity = _identity(out.fileno())  # a rename keeps it
    return _SIZE.size + len(header), csv_at, [csv_at[-1] + at for at in json_at], identity


def _kept_offsets(path: Path, key: tuple[object, ...], count: int) -> _Offsets | None:
    """Where the kept closed lines of ``count`` rows drawn from ``key`` are, or None."""
    try:
        with path.open("rb") as file:
            (size,) = _SIZE.unpack(file.read(_SIZE.size))
            kept, csv_at, json_at = pickle.loads(file.read(size))
            identity = _identity(file.fileno())
            length = identity[2]
    except (OSError, struct.error, *UNREADABLE):
        return None
    start = _SIZE.size + size
    if (
        kept != key
        or not (isinstance(csv_at, list) and isinstance(json_at, list))
        or len(csv_at) != count + 1
        or len(json_at) != count + 1
        or length != start + csv_at[-1] + json_at[-1]
    ):
        return None
    json_at = [csv_at[-1] + at for at in json_at]  # the JSON lines follow the CSV's
    return start, csv_at, json_at, identity
