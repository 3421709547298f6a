"""The open data's observation files, month by month: written once into the data directory,
linked into the site.

Each month's probes are published as gzip-compressed CSV (``observations-YYYY-MM.csv.gz``: once
decompressed, exactly what ``guichets export observations --month YYYY-MM`` writes) and as
Parquet (the same columns, typed as ``datapackage.json`` describes them); the current month also
as plain CSV, for whoever follows it hour by hour. Three years of hourly probes of all France are
millions of rows: the files are made from columns (``store/export_table.py``), a month per
process, and kept in ``DATA/opendata/v<version>/observations/`` with a manifest of what each
month's files hold (how many probes, the last one, each file's size and SHA-256). A build
writes a month again only when its probes changed (after a run, the current month; a late probe
in a closed month, that month), and the site's files are hard links to the kept ones (a copy
when the site is on another file system), so that publishing a new site costs no copy.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import importlib
import json
import multiprocessing
import os
import re
import signal
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from isal import igzip

import guichets
from guichets import forks
from guichets.files import link_atomic, partial_path, remove_stale_partials, write_atomic
from guichets.periods import DateRange, month_range
from guichets.runlock import HeldLock, held_lock
from guichets.stats.releases import Release
from guichets.store import Store, as_utc
from guichets.store.export import (
    EXPORT_COLUMNS,
    adbc_readable,
    export_extent,
    export_last,
    stored_count,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from guichets.site.month_points import MonthPoints

# pyarrow (0.3 s to import, with what it imports) and the modules that need it are imported by
# the functions that write a month, not here: the site build's own process imports this module
# and only starts the month files' process (``InBackground``), which imports them once, before
# it forks its workers (``_preload``).

__all__ = [
    "KINDS",
    "LOCK",
    "InBackground",
    "MonthFiles",
    "MonthsBusy",
    "hold_months",
    "link_into",
    "month_file",
    "months_to_analyse",
    "observation_files",
    "preload",
]

OBSERVATIONS: Final = "observations"
MANIFEST: Final = ".manifest.json"
KINDS: Final = ("csv.gz", "parquet", "csv")  # "csv": the current month only
GZIP_LEVEL: Final = 1  # ISA-L's igzip, level 1 of 0-3 (docs/architecture.md: 4.9 times smaller,
# at about 700 MB/s a core where zlib's level 1 makes 4.6 times at 180 MB/s)
GZIP_WITH: Final = "isal"  # what compressed the kept files: another one, and they are remade
PARQUET_COMPRESSION: Final = "zstd"
PAGE_ROWS: Final = 20_000  # rows read and written at a time: bounded memory per process
# What the kept files depend on besides the probes: another layout or another version of the
# code, and every month is written again.
_LAYOUT: Final = {
    "format": 2,
    "guichets": guichets.__version__,
    "columns": list(EXPORT_COLUMNS),
    "gzip": [GZIP_WITH, GZIP_LEVEL],
    "parquet": PARQUET_COMPRESSION,
}
_FILE: Final = re.compile(r"observations-(\d{4}-\d{2})\.(csv\.gz|parquet|csv|jsonl)")
_CHUNK: Final = 1 << 20
LOCK: Final = ".lock"  # DATA/opendata/.lock: see hold_months
_WRITER: Final = "guichets site build"  # the lock's holder, as the lock file names it


def month_file(label: str, kind: str) -> str:
    """The file's name, e.g. ``observations-2026-10.csv.gz``."""
    return f"observations-{label}.{kind}"


@dataclass(frozen=True)
class MonthFiles:
    """What a month's kept files hold, as the manifest says; and, for a closed month this
    build was asked to analyse and wrote, its batch releases from the same read
    (``site/month_points.py``; None when not, or when they could not be told so)."""

    label: str
    probes: int
    files: Mapping[str, Mapping[str, Any]]  # kind → {"bytes", "sha256"}
    # Not what the files are: the same files listed by two builds are equal.
    releases: tuple[Release, ...] | None = field(default=None, compare=False)


class MonthsBusy(Exception):
    """Another build writes the data directory's month files; the message names it and the
    lock."""


def hold_months(
    keep: Path, *, wait: float = 0.0, waiting: Callable[[str], None] | None = None
) -> HeldLock:
    """The lock of the month files kept in ``keep`` (``DATA/opendata/v<version>``) and of every
    folder beside it: ``DATA/opendata/.lock``, held by the build that writes them and by the
    processes it forks to write them (its month files' process and their workers), each to its
    end (``runlock.held_lock``): one writer of a data directory's month files at a time, even
    when two builds of it into two sites run at once, or a killed build's writers have not yet
    ended. When another build holds it, ``waiting`` is told once and it is waited for up to
    ``wait`` seconds, then MonthsBusy. Once held, the partial files killed writers left under
    ``DATA/opendata`` are removed, whatever their age: no writer of theirs is at work. The
    caller takes it after the site's lock, never before: one order, no deadlock."""
    root = keep.parent
    path = root / LOCK

    def busy(who: str) -> Exception:
        return MonthsBusy(
            f"the open data's month files of {root} are being written by another build ({who}); "
            "one writer of a data directory's month files at a time. Build again when it ends, "
            f"or wait for it longer (guichets site build --wait); the lock is {path}, released "
            "when that build and the processes writing its month files end"
        )

    def told(who: str) -> None:
        if waiting is not None:
            waiting(
                f"waiting up to {wait:.0f} s for another build writing the open data's month "
                f"files of {root} ({who})"
            )

    root.mkdir(parents=True, exist_ok=True)
    lock = held_lock(path, _WRITER, busy, wait=wait, waiting=told)
    remove_stale_partials(root, older_than=None)
    return lock


# -- one month ---------------------------------------------------------------------------------


class _Aside:
    """A binary file written under a hidden name, hashed as written, renamed by ``commit``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = partial_path(path)
        self._file = self.partial.open("wb")
        self._hash = hashlib.sha256()
        self.bytes = 0

    def write(self, data: bytes | memoryview) -> int:
        self._hash.update(data)
        self._file.write(data)
        size = data.nbytes if isinstance(data, memoryview) else len(data)
        self.bytes += size
        return size

    def flush(self) -> None:
        self._file.flush()

    def commit(self) -> dict[str, Any]:
        self._file.close()
        os.replace(self.partial, self.path)
        return {"bytes": self.bytes, "sha256": self._hash.hexdigest()}

    def close(self) -> None:
        self._file.close()
        self.partial.unlink(missing_ok=True)


def _hashed(path: Path) -> dict[str, Any]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as file:
        while data := file.read(_CHUNK):
            digest.update(data)
            size += len(data)
    return {"bytes": size, "sha256": digest.hexdigest()}


def write_month(
    store: Store,
    folder: Path,
    label: str,
    days: DateRange,
    current: bool,
    schema: pa.Schema,
    points: MonthPoints | None = None,
) -> dict[str, Any]:
    """Write one month's files into ``folder`` (aside, then renamed); returns its manifest
    entry: the files, and the probes written (``probes``: how many; ``last``: where the last
    sorts, as :func:`~guichets.store.export.export_extent` tells it, None without probes).
    ``points``: given each page read, with the stored category besides (the month's release
    analysis)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from guichets.site.month_points import ALSO
    from guichets.store.export_read import raw_tables
    from guichets.store.export_table import columns_of, csv_header

    types = _table_types(schema)
    kinds = KINDS if current else KINDS[:2]
    plain = _Aside(folder / month_file(label, "csv")) if current else None
    packed = _Aside(folder / month_file(label, "csv.gz"))
    parquet = partial_path(folder / month_file(label, "parquet"))
    try:
        with (
            igzip.GzipFile(
                filename="", mode="wb", compresslevel=GZIP_LEVEL, fileobj=packed, mtime=0
            ) as zipped,
            pq.ParquetWriter(parquet, schema, compression=PARQUET_COMPRESSION) as table,
        ):
            for out in (zipped, plain):
                if out is not None:
                    out.write(csv_header())
            written = False
            also = () if points is None else ALSO
            count, last = 0, None
            for page in raw_tables(store, days.start, days.end, rows=PAGE_ROWS, also=also):
                if points is not None:
                    points.add(page)
                if page.num_rows:
                    count += page.num_rows
                    last = [
                        as_utc(page.column("started_at")[-1].as_py()).isoformat(),
                        page.column("probe_id")[-1].as_py(),
                    ]
                columns = columns_of(page, types)
                zipped.write(columns.data)
                if plain is not None:
                    plain.write(columns.data)
                table.write_table(columns.table)
                written = True
                del columns
                pa.default_memory_pool().release_unused()  # see _in_child
            if not written:  # a Parquet file has at least its schema
                table.write_table(schema.empty_table())
        files = {"csv.gz": packed.commit()}
        if plain is not None:
            files["csv"] = plain.commit()
        os.replace(parquet, folder / month_file(label, "parquet"))
        files["parquet"] = _hashed(folder / month_file(label, "parquet"))
    finally:
        packed.close()
        if plain is not None:
            plain.close()
        parquet.unlink(missing_ok=True)
    return {"probes": count, "last": last, "files": {kind: files[kind] for kind in kinds}}


def _table_types(schema: pa.Schema) -> dict[str, str]:
    """Back from the Arrow schema to the Table Schema's types (see ``export_table``)."""
    import pyarrow as pa

    names = {
        pa.string(): "string",
        pa.int64(): "integer",
        pa.float64(): "number",
        pa.bool_(): "boolean",
        pa.date32(): "date",
    }
    return {
        field.name: "datetime" if pa.types.is_timestamp(field.type) else names[field.type]
        for field in schema
    }


# -- every month, in several processes --------------------------------------------------------

# What writing a month imports (pyarrow and its Parquet and compute modules, the export's
# columns, the release points): imported before the workers are forked, so that they share it.
_WRITERS: Final = (
    "pyarrow.parquet",
    "guichets.site.month_points",
    "guichets.store.export_read",
    "guichets.store.export_table",
)


def preload() -> None:
    """Import what writing a month needs (:data:`_WRITERS`) into this process. A process that
    builds the site more than once (the long-running ``guichets run --site``) calls it once:
    the month files' processes it forks then share it, rather than each importing it again
    (0.4 CPU-s); a fresh ``guichets site build`` leaves it to its month files' process."""
    for module in _WRITERS:
        importlib.import_module(module)


def _schema(types: Mapping[str, str]) -> pa.Schema:
    """The month files' Arrow schema from the columns' Table Schema types, once the modules
    that write a month are imported (:func:`preload`)."""
    preload()
    from guichets.store.export_table import arrow_schema

    return arrow_schema(types)


_STORE: Store | None = None  # the store of the parent, for the forked workers


def _forked() -> None:
    if _STORE is not None:
        _STORE.forked()


def _work(
    folder: Path, label: str, days: DateRange, current: bool, schema: pa.Schema, analyse: bool
) -> tuple[dict[str, Any], list[Release] | None]:
    """A month's files, and its releases when asked (a closed month whose archive page waits
    for them; never the current month's, which has none): from the same read of its probes.
    The entry says how many probes the month stores besides (``stored``, all of them, from the
    ``started_at`` index), when that number did not move while they were read: what
    :func:`stamp_fingerprints` compares, rather than counting the month's probes again."""
    from guichets.site.month_points import MonthPoints, month_releases

    assert _STORE is not None
    before = stored_count(_STORE, days)
    points = MonthPoints() if analyse and not current else None
    entry = write_month(_STORE, folder, label, days, current, schema, points)
    if stored_count(_STORE, days) == before:  # no probe came or went while it was read
        entry["stored"] = before
    return entry, None if points is None else month_releases(_STORE, days, points)


class _Serial(Executor):
    """The same interface in this process: a month or two are not worth a process."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        from concurrent.futures import Future

        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed over, as a pool would
            future.set_exception(exc)
        return future


@contextmanager
def _executor(store: Store, tasks: int, workers: int) -> Iterator[Executor]:
    global _STORE
    _STORE = store
    try:
        if tasks < 2 or workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
            yield _Serial()
            return
        context = multiprocessing.get_context("fork")
        with (
            forks.ours(),
            ProcessPoolExecutor(min(workers, tasks), context, initializer=_forked) as pool,
        ):
            yield pool
    finally:
        _STORE = None


def _months(store: Store) -> Iterator[tuple[str, DateRange]]:
    """The Paris months from the first stored probe's to the last's."""
    days = store.probe_days()
    if days is None:
        return
    year, month = days.first.year, days.first.month
    while (year, month) <= (days.last.year, days.last.month):
        yield f"{year:04d}-{month:02d}", month_range(year, month)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _load(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict) or data.get("layout") != _LAYOUT:
        return {}
    months = data.get("months")
    return months if isinstance(months, dict) else {}


def has_kept_months(folder: Path) -> bool:
    """Whether ``folder`` holds month files of this layout (its manifest names some)."""
    return bool(_load(folder))


def _save(folder: Path, months: Mapping[str, Any]) -> None:
    text = json.dumps({"layout": _LAYOUT, "months": months}, indent=1, sort_keys=True) + "\n"
    path = folder / MANIFEST
    try:
        if path.read_text("utf-8") == text:
            return
    except OSError:
        pass
    write_atomic(path, text.encode("utf-8"))


def _intact(folder: Path, entry: Any, label: str, current: bool) -> bool:
    """The entry is well formed and its files are there with their sizes (hashes are not read
    again: that would cost what writing them does)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("files"), dict):
        return False
    kinds = KINDS if current else KINDS[:2]
    for kind in kinds:
        file = entry["files"].get(kind)
        path = folder / month_file(label, kind)
        if not isinstance(file, dict) or not path.is_file():
            return False
        if path.stat().st_size != file.get("bytes"):
            return False
    return True


def _as_closed(entry: dict[str, Any]) -> dict[str, Any]:
    """A month that is over has no plain CSV any more."""
    files = {k: v for k, v in entry["files"].items() if k != "csv"}
    return {**entry, "files": files}


def observation_files(
    store: Store,
    folder: Path,
    types: Mapping[str, str],
    *,
    workers: int = 1,
    fingerprints: Mapping[str, str] | None = None,
    later: Callable[[], Mapping[str, str] | None] | None = None,
    analyse: Collection[str] = frozenset(),
    ready: Callable[[], None] | None = None,
) -> tuple[list[MonthFiles], int]:
    """Bring the month files in ``folder`` up to date with the store; returns every month with
    probes, in order, and how many files were written. ``types``: the observations' columns'
    Table Schema types (``site/opendata.observation_types``), made the files' Arrow schema here.

    ``fingerprints``: what each month's figures were computed from (``usecases/figures.py``:
    its rollups' totals, which a new probe changes): a month whose fingerprint is the one its
    files were written with is not counted again (counting a month's probes reads each row).
    ``later``: instead, the fingerprints are not known yet (the files were started before the
    figures were read, beside them): the latest month is brought up to date first, by its count
    (after a run of the robot, the month to write), then ``later()`` gives them (it waits for
    the figures) for the months before it, and the latest month's is stamped on its entry when
    its probes did not move meanwhile (:func:`stamp_fingerprints`).
    ``analyse``: the closed months (labels) whose batch releases to compute from the read that
    writes them (:func:`months_to_analyse`), given in their ``MonthFiles``. ``ready``: called
    once before months are written, when some are, after the modules that write them are
    imported (see ``_in_child``)."""
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(folder, older_than=None)  # the caller holds every writer's lock
    kept = _load(folder)
    months = list(_months(store))
    latest = months[-1][0] if months else None  # the last probe's month: it has probes
    entries: dict[str, Any] = {}
    written = 0
    releases: dict[str, tuple[Release, ...]] = {}
    readied = False

    def bring(chosen: list[tuple[str, DateRange]], prints: Mapping[str, str] | None) -> None:
        """The months ``chosen`` brought up to date, by ``prints`` (None: counted)."""
        nonlocal written, readied
        todo = []
        for label, days in chosen:
            current = label == latest
            entry = kept.get(label)
            fingerprint = None if prints is None else prints.get(label)
            if (
                fingerprint is not None
                and isinstance(entry, dict)
                and entry.get("fingerprint") == fingerprint
                and _intact(folder, entry, label, current)
            ):
                entries[label] = _as_closed(entry) if not current else entry
                continue
            if not isinstance(entry, dict):  # never written: written, and counted as it is read
                todo.append((label, days, current, fingerprint))
                continue
            count, last = export_extent(store, days.start, days.end)
            if not count or last is None:
                continue
            position = [last[0].isoformat(), last[1]]
            if (
                entry.get("probes") == count
                and entry.get("last") == position
                and _intact(folder, entry, label, current)
            ):
                entry = {**entry, "fingerprint": fingerprint}
                entries[label] = _as_closed(entry) if not current else entry
            else:
                todo.append((label, days, current, fingerprint))
        if not todo:
            return
        schema = _schema(types)
        if ready is not None and not readied:
            ready()
            readied = True
        # Months being written are forgotten until they are done; those not looked at yet (the
        # closed months while the latest is written first) are listed as they were.
        undecided = {label: kept[label] for label, _ in months if label in kept}
        for label, _ in chosen:
            undecided.pop(label, None)
        _save(folder, dict(sorted({**undecided, **entries}.items())))
        with _executor(store, len(todo), workers) as pool:
            futures = [
                (
                    label,
                    fingerprint,
                    pool.submit(_work, folder, label, days, current, schema, label in analyse),
                )
                for label, days, current, fingerprint in todo
            ]
            for label, fingerprint, future in futures:
                files, analysed = future.result()
                if not files["probes"]:  # none to publish (its files go below)
                    continue
                if analysed is not None:
                    releases[label] = tuple(analysed)
                entry = {**files, "fingerprint": fingerprint}
                entries[label] = entry
                written += len(entry["files"])
                _save(folder, dict(sorted({**undecided, **entries}.items())))

    if later is None:
        bring(months, fingerprints)
    else:
        bring(months[-1:], None)
        fingerprints = later()
        bring(months[:-1], fingerprints)
        _stamp_latest(store, entries, months[-1:], fingerprints)
    entries = dict(sorted(entries.items()))
    _save(folder, entries)
    keep = {month_file(label, kind) for label, entry in entries.items() for kind in entry["files"]}
    for file in folder.iterdir():
        if _FILE.fullmatch(file.name) and file.name not in keep:
            file.unlink()
    found = [
        MonthFiles(
            label,
            entry["probes"],
            {k: entry["files"][k] for k in KINDS if k in entry["files"]},
            releases.get(label),
        )
        for label, entry in entries.items()
    ]
    return found, written


def _stamp_latest(
    store: Store,
    entries: dict[str, Any],
    latest: list[tuple[str, DateRange]],
    fingerprints: Mapping[str, str] | None,
) -> None:
    """The latest month's entry, brought up to date by its count before its fingerprint was
    known, given it when its probes are still those counted (see :func:`stamp_fingerprints`)."""
    for label, days in latest:
        entry, fingerprint = entries.get(label), (fingerprints or {}).get(label)
        if entry is None or fingerprint is None or entry.get("fingerprint") == fingerprint:
            continue
        if _unmoved(store, days, entry):
            entries[label] = {**entry, "fingerprint": fingerprint}


def months_to_analyse(store: Store, folder: Path) -> frozenset[str]:
    """The months whose batch releases :func:`observation_files` should compute as it writes
    them: at a first build (no month kept in ``folder``: every month is written), every month
    but the latest, whose archive pages are rendered from these; none otherwise (a rebuild
    writes the current month, and a late probe's closed month, whose page is frozen), nor when
    the store is not read through ADBC (no stored category: ``site/month_points.py``)."""
    if not adbc_readable(store) or has_kept_months(folder):
        return frozenset()
    return frozenset(label for label, _ in list(_months(store))[:-1])


class InBackground:
    """:func:`observation_files` in a child process (forked), while this one goes on (the
    figures are read and the site's pages rendered meanwhile); :meth:`result` waits for it.
    Failures in the child are raised here.

    The child leads a process group of its own (its month workers are in it), so that
    :meth:`stop` ends them all when the build fails before it asks for the result. Started
    before the figures are read (``site/build.py``, ``start_open_data``), the months cannot
    know their fingerprints: :meth:`remember` gives them afterwards. At a first build (no month
    kept: every month is written) :meth:`result` stamps the months whose probes did not change
    meanwhile (``stamp_fingerprints``); with months kept (``later``: a rebuild), the child
    brings the latest month up to date by its count while the figures are read, and waits for
    the fingerprints (sent by :meth:`remember`) to tell the closed months it may skip."""

    def __init__(
        self,
        store: Store,
        folder: Path,
        types: Mapping[str, str],
        *,
        workers: int,
        fingerprints: Mapping[str, str] | None = None,
        later: bool = False,
        analyse: Collection[str] = frozenset(),
        lock: HeldLock | None = None,
    ) -> None:
        context = multiprocessing.get_context("fork")
        self._store, self._folder = store, folder
        self._lock = lock  # the month files' (hold_months), the child's too, let go when done
        self.analysing = frozenset(analyse)
        self._every_month = not has_kept_months(folder)  # a first build: all to write
        self._later: Mapping[str, str] | None = None
        self._found: tuple[list[MonthFiles], int] | None = None
        self._receive, send = context.Pipe(duplex=False)
        # The fingerprints, to the child (``later``): None once sent, or without ``later``.
        self._prints: Any = None
        prints_in = None
        self._sends = later  # the fingerprints go to the child, which stamps the months
        if later:
            prints_in, self._prints = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_in_child,
            args=(
                store,
                folder,
                types,
                workers,
                fingerprints,
                analyse,
                send,
                prints_in,
                self._prints,
            ),
        )
        gc.freeze()  # the parent's objects stay shared: the child's collections never touch them
        try:
            with forks.ours():  # the signals at their default, ended with this thread
                self._process.start()
        finally:
            gc.unfreeze()
            if lock is not None:  # held by the child and its workers; not by what forks next
                lock.keep_from_children()
        send.close()
        if prints_in is not None:
            prints_in.close()

    def remember(self, fingerprints: Mapping[str, str] | None) -> None:
        """The months' fingerprints, known once the figures are read (see the class); with
        ``later``, sent to the child the first time (it stamps the months itself)."""
        if self._prints is not None:
            self._tell(fingerprints)
        elif self._found is None and not self._sends:
            self._later = fingerprints

    def _tell(self, fingerprints: Mapping[str, str] | None) -> None:
        """Send the child the fingerprints it waits for (once)."""
        prints, self._prints = self._prints, None
        try:
            prints.send(None if fingerprints is None else dict(fingerprints))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the child ended: its result says why
        finally:
            prints.close()

    def result(self) -> tuple[list[MonthFiles], int]:
        """The months (waited for the first time; the same again after)."""
        if self._found is None:
            if self._prints is not None:  # never told: the child counts every month
                self._tell(None)
            self._found = self._wait()
        return self._found

    def busy(self) -> bool:
        """Whether the child is still writing every month (a first build: no month was kept),
        on every core it has; after a run it writes the latest month, soon done."""
        return self._every_month and self._found is None and not self._receive.poll()

    def _wait(self) -> tuple[list[MonthFiles], int]:
        try:
            ok, payload = self._receive.recv()
        except EOFError:
            ok, payload = False, "the process writing the month files ended without a word"
        finally:
            self._receive.close()
            self._process.join()
        try:
            if not ok:
                raise RuntimeError(f"writing the open data's month files failed: {payload}")
            months, written = payload
            if self._later:
                stamp_fingerprints(self._store, self._folder, self._later)
        finally:
            self._let_go()
        return months, written

    def _let_go(self) -> None:
        if self._lock is not None:
            self._lock.close()

    def stop(self) -> None:
        """End the child and its workers (the build failed before it needed the months)."""
        if self._process.pid is not None and self._process.exitcode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._process.pid, signal.SIGTERM)
            self._process.terminate()  # in case it had no group yet
        self._process.join()
        self._receive.close()
        if self._prints is not None:
            self._prints.close()
            self._prints = None
        self._let_go()


def _unmoved(store: Store, days: DateRange, entry: Mapping[str, Any]) -> bool:
    """Whether the month's probes are those its files were written from: the month stores as
    many probes as it did while they were read (``stored``, from the running totals) and its last
    probe is the same; without ``stored``, the probes are counted again (each row read)."""
    if isinstance(entry.get("stored"), int):
        if stored_count(store, days) != entry["stored"]:
            return False
        last = export_last(store, days.start, days.end)
        return entry.get("last") == (None if last is None else [last[0].isoformat(), last[1]])
    count, last = export_extent(store, days.start, days.end)
    position = None if last is None else [last[0].isoformat(), last[1]]
    return bool(entry.get("probes") == count and entry.get("last") == position)


def stamp_fingerprints(store: Store, folder: Path, fingerprints: Mapping[str, str]) -> int:
    """Give the kept months written without their figures' fingerprint the one computed since,
    when their probes are still those the files were written from (count and last probe, read
    off the index): the next build then skips them without counting. Returns how many."""
    kept = _load(folder)
    stamped = 0
    for label, days in _months(store):
        entry, fingerprint = kept.get(label), fingerprints.get(label)
        if not isinstance(entry, dict) or fingerprint is None:
            continue
        if entry.get("fingerprint") == fingerprint:
            continue
        if _unmoved(store, days, entry):
            kept[label] = {**entry, "fingerprint": fingerprint}
            stamped += 1
    if stamped:
        _save(folder, dict(sorted(kept.items())))
    return stamped


def _in_child(
    store: Store,
    folder: Path,
    types: Mapping[str, str],
    workers: int,
    fingerprints: Mapping[str, str] | None,
    analyse: Collection[str],
    send: Any,
    prints: Any,
    parents: Any,
) -> None:
    """``prints``: where the fingerprints come from (``InBackground``'s ``later``), else None;
    ``parents``: the parent's end of that pipe, closed here so that the parent's end alone
    holds it open (the parent gone, the child reads its end)."""
    # Forked as a child of ours (``forks.ours``): SIGINT and SIGTERM at their default (the
    # SIGTERM of ``stop`` ends it, not the handler of ``guichets run --site``'s event loop), and
    # it ends when the build's thread does, as its workers (children of ours too) end with it.
    os.setpgid(0, 0)  # a group of its own, with its workers: see InBackground.stop
    if parents is not None:
        parents.close()
    store.forked()

    def later() -> Mapping[str, str] | None:
        """The fingerprints the parent sends once it has read the figures."""
        try:
            found: Mapping[str, str] | None = prints.recv()
        except EOFError:  # the parent ended, or stopped before it knew them
            raise RuntimeError("no fingerprints came from the build") from None
        finally:
            prints.close()
        return found

    try:
        found = observation_files(
            store,
            folder,
            types,
            workers=workers,
            fingerprints=fingerprints,
            later=None if prints is None else later,
            analyse=analyse,
            ready=_ready,
        )
        send.send((True, found))
    except BaseException as exc:  # told to the parent, which raises it
        send.send((False, f"{type(exc).__name__}: {exc}"))
    finally:
        send.close()


def _ready() -> None:
    """The month files' process, about to write months (a rebuild with nothing new writes
    none, and imports none of this): what its workers need, loaded before they are forked so
    that they share it."""
    import pyarrow as pa

    from guichets.store.export_read import warm_up

    # The C library's allocator, given back what a page freed (write_month): a worker's peak
    # is then about 35 MB lower than with Arrow's default (mimalloc), for the same CPU.
    pa.set_memory_pool(pa.system_memory_pool())
    warm_up()  # ADBC's driver
    gc.freeze()  # and its objects: no collection in a worker copies their pages


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


# -- into the site ------------------------------------------------------------------------------


def _same(source: Path, target: Path) -> bool:
    try:
        if os.path.samefile(source, target):
            return True
        a, b = source.stat(), target.stat()
    except FileNotFoundError:
        return False
    return (a.st_size, a.st_mtime_ns) == (b.st_size, b.st_mtime_ns)  # a copy of it (copy2)


def link_into(source: Path, target: Path, names: Iterable[str]) -> int:
    """Make ``target/name`` the file ``source/name`` for each name (a hard link, or a copy with
    its times when linking fails, e.g. across file systems); other month files in ``target``
    go. Returns how many were linked or copied anew."""
    target.mkdir(parents=True, exist_ok=True)
    wanted = set(names)
    done = 0
    for name in sorted(wanted):
        src, dst = source / name, target / name
        if _same(src, dst):
            continue
        link_atomic(src, dst)
        done += 1
    for file in target.iterdir():
        if _FILE.fullmatch(file.name) and file.name not in wanted:
            file.unlink()
    return done
