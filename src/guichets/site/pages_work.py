"""Which service and département pages a build renders, and rendering them in several processes.

They are most of a site (two per service and per département, in two languages), each with its
month-by-month charts and tables. A page is rendered again only when what it shows may have
changed: a digest of its inputs (the months' fingerprints, the last probe's instant, which every
page prints, the service's latest probes and their screenshots, the catalogue's names, the code
that renders) is kept in ``DATA/cache/site/pages.pickle``; a page whose digest and file are
unchanged is left alone. After a run every page shows a new last probe, so all are rendered: in
several processes (forked, each rendering a share of the pages, writing a file only when its
bytes change).
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import multiprocessing
import pickle
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final, Protocol

import guichets
from guichets import forks
from guichets.files import read_kept, write_kept
from guichets.site.figures import ServiceInfo, SiteFigures
from guichets.stats.method import METHOD_VERSION

__all__ = [
    "FEEDS_FILE",
    "KeptDigests",
    "PageJob",
    "PageKeys",
    "PagesUnderWay",
    "code_digest",
    "code_sources",
    "digest",
    "render_pages",
]

CACHE_FILE: Final = "pages.pickle"
FEEDS_FILE: Final = "feeds.pickle"  # the feeds' digests (``build.SiteBuilder.write_feeds``)
FORMAT: Final = 1
# Fewer pages than this a process: not worth forking. At 100 services x 365 days (400 pages):
# in equal shares, two processes were no faster than one (the build's own process ended its
# share, then the rest of the site alone); taken one at a time (``_Next``), with the build's
# process making the rest meanwhile, two are: the rebuild 0.77-0.93 s against 1.04-1.07 s in one,
# four alternated pairs, +0.06-0.3 CPU-s (docs/benchmarks.md, sixth session).
MIN_PER_WORKER: Final = 150


class SiteBuilder(Protocol):
    """What this module needs of ``build.SiteBuilder`` (which imports this module)."""

    figures: SiteFigures
    out: Path
    contact: str
    writer: Any  # build._Writer: its ``result`` counts pages and files written

    def service_page(self, lang: str, info: ServiceInfo) -> None: ...

    def departement_page(self, lang: str, code: str) -> None: ...

    def month_title(self, lang: str) -> str: ...


@dataclass(frozen=True)
class PageJob:
    kind: str  # "departement" | "service"
    lang: str
    ident: str  # the département's code or the service's id
    file: Path
    key: str | None  # digest of what the page shows; None: always rendered


def code_sources() -> list[str]:
    """The package's modules the code's digest covers, relative to the package: all of them.
    What a page, a kept piece (``site/fragments.py``), a feed or a figures' line shows is
    computed and formatted by many (``stats/`` for intervals, rates and lead times, ``tally``,
    ``periods``, the site's own): a narrower list would keep a closed month's pieces as an
    older code made them until its fingerprint moved, which a closed month's seldom does."""
    root = Path(guichets.__file__).parent
    return sorted(str(path.relative_to(root)) for path in root.rglob("*.py"))


@functools.lru_cache(maxsize=1)
def _code() -> str:
    """What makes the pages: the templates, the stylesheet and every module of the package
    (:func:`code_sources`; 1.4 MB read once a process: the package does not change under a
    running build)."""
    digest = hashlib.sha256(guichets.__version__.encode())
    package = resources.files("guichets.site")
    parts = [package / "templates", package / "static"]
    for folder in parts:
        for item in sorted(folder.iterdir(), key=lambda i: i.name):
            if item.is_file():
                digest.update(item.name.encode() + b"\0" + item.read_bytes())
    root = Path(guichets.__file__).parent
    for name in code_sources():
        digest.update(name.encode() + b"\0" + (root / name).read_bytes())
    return digest.hexdigest()


def _digest(*parts: Any) -> str:
    return hashlib.sha256(pickle.dumps(parts, protocol=pickle.HIGHEST_PROTOCOL)).hexdigest()


digest = _digest


@functools.lru_cache(maxsize=8)
def code_digest(*modules: str) -> str:
    """:func:`_code` and these modules of ``guichets.site`` besides: what makes a kind of file."""
    package = resources.files("guichets.site")
    return _digest(_code(), *((package / name).read_bytes() for name in modules))


class KeptDigests:
    """Digests of what each file of one kind was made from, kept in the cache between builds
    (``DATA/cache/site/<name>``): a file whose digest is unchanged, and which is still in the
    site, is left as it is instead of being made again. Without a cache, everything is made."""

    def __init__(self, cache: Path | None, name: str, out: Path) -> None:
        self.path = None if cache is None else cache / name
        self.out = out
        self.kept: dict[str, str] = {}
        self.now: dict[str, str] = {}
        if self.path is None:
            return
        kept = read_kept(self.path, FORMAT)
        if isinstance(kept, dict):
            self.kept = kept

    def fresh(self, file: Path, key: str) -> bool:
        """Whether ``file`` was made from ``key`` and is still there (``key`` is kept either
        way: the caller makes the file when it is not fresh)."""
        name = str(file.relative_to(self.out))
        self.now[name] = key
        return self.path is not None and self.kept.get(name) == key and file.exists()

    def save(self) -> None:
        if self.path is None or self.now == self.kept:
            return
        write_kept(self.path, FORMAT, self.now)


class PageKeys:
    """The digests of the last build's pages, and those of this one."""

    def __init__(self, builder: SiteBuilder) -> None:
        f = builder.figures
        self.out = builder.out
        self.path = None if f.cache is None else f.cache / CACHE_FILE
        self.kept: dict[str, str] = {}
        self.now: dict[str, str] = {}
        self.common: str | None = None
        # What a page says of the latest month hangs on the build's date too (« en cours » only
        # while the month is): it is part of each page's key, so that a rebuild with the same
        # probes after the month ended renders the pages again, as a fresh build would.
        self.month_title = builder.month_title
        if self.path is None or len(f.fingerprints) != len(f.months):
            return  # months not all fingerprinted: nothing to compare with, render every page
        kept = read_kept(self.path, FORMAT)
        if isinstance(kept, dict):
            self.kept = kept
        self.common = _digest(
            _code(),
            METHOD_VERSION,
            builder.contact,
            f.last_probe,
            [m.first for m in f.months],
            sorted(f.fingerprints.items()),
        )

    def job(self, kind: str, lang: str, ident: str, file: Path, *inputs: Any) -> PageJob:
        if self.common is None:
            key = None
        else:
            key = _digest(self.common, kind, lang, ident, self.month_title(lang), inputs)
        if key is not None:
            self.now[self._name(file)] = key
        return PageJob(kind, lang, ident, file, key)

    def _name(self, file: Path) -> str:
        """The page's path in the site: the folder a build works in changes every time."""
        return str(file.relative_to(self.out))

    def changed(self, job: PageJob) -> bool:
        kept = self.kept.get(self._name(job.file))
        return job.key is None or kept != job.key or not job.file.exists()

    def save(self) -> None:
        if self.path is None or self.common is None or self.now == self.kept:
            return
        write_kept(self.path, FORMAT, self.now)


# -- rendering ---------------------------------------------------------------------------------

_BUILDER: SiteBuilder | None = None  # the parent's builder, for the forked workers
_PAGES: tuple[Sequence[PageJob], _Next] | None = None  # the pages, and which is next, for them


def _render(builder: SiteBuilder, job: PageJob) -> None:
    if job.kind == "service":
        builder.service_page(job.lang, builder.figures.services[job.ident])
    else:
        builder.departement_page(job.lang, job.ident)


class _KernelLock:
    """A lock between this process and those it forks that the kernel lets go of when its
    holder ends, however it ends: a record lock (``lockf``) on an unlinked file, which is a
    process's own and never inherited by a fork. A multiprocessing lock held by a process
    that died (killed by the OOM killer, or by a Ctrl-C sent to the whole group, which the
    workers take at its default: ``forks.ours``) is held for ever, and every other process
    waiting for it waits for ever. Not re-entrant: a second acquire in the holder's process
    returns at once, and any release lets go of it."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 - open as long as the lock lives

    def acquire(self) -> bool:
        fcntl.lockf(self._file, fcntl.LOCK_EX)
        return True

    def release(self) -> None:
        fcntl.lockf(self._file, fcntl.LOCK_UN)

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *_: object) -> None:
        self.release()


class _Next:
    """Which page is the next to render, shared by the processes rendering them (a counter in
    memory they share): each takes the next page as soon as it is done with one, so that they
    all end together whatever each page costs and whatever else each has to do. The counter's
    lock is a :class:`_KernelLock`: a process killed while it takes a page stops no other."""

    def __init__(self, count: int, context: Any = None) -> None:
        self.count = count
        # A raw value beside its lock, not ``context.Value(lock=...)``: that wrapper takes its
        # lock again in each read and write of ``.value``, and a record lock is not counted (a
        # process takes it twice at once, and lets go of it at the first release): the read let
        # it go, and two processes took the same page (both renamed its partial file, and the
        # build failed).
        self.value = None if context is None else context.RawValue("q", 0)
        self.lock = _KernelLock() if context is not None else None
        self.taken = 0  # without a context: this process alone

    def __call__(self) -> int | None:
        if self.value is None or self.lock is None:
            at, self.taken = self.taken, self.taken + 1
        else:
            with self.lock:
                at = self.value.value
                self.value.value = at + 1
        return at if at < self.count else None

    def close(self) -> None:
        """No page is taken any more (the build failed): each process ends the one it renders."""
        if self.value is None or self.lock is None:
            self.taken = self.count
        else:
            with self.lock:
                self.value.value = self.count


def _share() -> tuple[int, int]:
    """In a worker: render pages until none is left; returns (files written, pages rendered).
    The closed months' pieces it drew are kept by the worker itself (``site/fragments.py``: a
    file a page), not sent back to the parent."""
    assert _BUILDER is not None and _PAGES is not None
    jobs, take = _PAGES
    result = _BUILDER.writer.result
    result.written = result.pages = 0
    while (at := take()) is not None:
        _render(_BUILDER, jobs[at])
    return result.written, result.pages


class PagesUnderWay:
    """The pages to render, by forked workers (:func:`render_pages`) and by this process when it
    has the time (:meth:`help`): meanwhile the build goes on with the rest of the site.
    :meth:`wait` renders what is left here and waits for the workers (before forking anything
    else too), :meth:`keep` once the whole site is written (``finished`` runs: the pages'
    digests are kept only then), :meth:`stop` when the build fails."""

    def __init__(
        self,
        builder: SiteBuilder,
        jobs: Sequence[PageJob],
        take: _Next,
        pool: ProcessPoolExecutor | None = None,
    ) -> None:
        self.builder = builder
        self.jobs = jobs
        self.take = take
        self.pool = pool
        self.futures: list[Future[tuple[int, int]]] = []
        self.finished: Callable[[], None] | None = None
        self.done = False

    def help(self) -> None:
        """Render, in this process, the pages no worker has taken yet, until none is left."""
        if self.done:
            return
        try:
            while (at := self.take()) is not None:
                _render(self.builder, self.jobs[at])
        except BaseException:
            self.stop()
            raise

    def wait(self) -> None:
        """Render what is left, wait for the workers' pages and count them, once (a worker's
        error is raised here)."""
        if self.done:
            return
        self.help()
        self.done = True
        result = self.builder.writer.result
        if self.pool is not None:
            try:
                for future in self.futures:
                    written, pages = future.result()
                    result.written += written
                    result.pages += pages
            finally:
                self.pool.shutdown(wait=True, cancel_futures=True)

    def keep(self) -> None:
        """The build wrote every other file: wait for the pages, then run ``finished`` (never
        at a mere :meth:`wait`, which the build's process may ask for halfway: a build failing
        after it would keep the digests of pages that the site left as it was never shows, and
        the next build would take that site's pages for them)."""
        self.wait()
        if self.finished is not None:
            self.finished()
            self.finished = None

    def stop(self) -> None:
        """The build failed: the workers' pages are neither counted nor their digests kept. No
        page is handed out any more, and a worker rendering one is waited for (a pool ends no
        running task; a Ctrl-C, sent to the whole group, ends them), into the staging folder
        that the failed build removes."""
        self.done = True
        self.take.close()
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


def render_pages(builder: SiteBuilder, jobs: Sequence[PageJob], workers: int) -> PagesUnderWay:
    """The pages ``jobs``, to render in up to ``workers`` processes, this one among them (each
    at least :data:`MIN_PER_WORKER` pages): the others are forked and start at once, taking
    the pages one after another; this one takes its own when it has the time (what it returns:
    :meth:`PagesUnderWay.help`, ``wait``)."""
    global _BUILDER, _PAGES
    workers = min(workers, len(jobs) // MIN_PER_WORKER)
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return PagesUnderWay(builder, jobs, _Next(len(jobs)))
    builder.writer.result.files.update(job.file for job in jobs)
    context = multiprocessing.get_context("fork")
    take = _Next(len(jobs), context)
    pool = ProcessPoolExecutor(workers - 1, context)
    under_way = PagesUnderWay(builder, jobs, take, pool)
    _BUILDER, _PAGES = builder, (jobs, take)
    try:
        # Every worker is forked at the first submission (``fork``): each has the builder,
        # and is a child of ours (``forks.ours``: signals at their default, ended with us).
        with forks.ours():
            under_way.futures = [pool.submit(_share) for _ in range(workers - 1)]
    except BaseException:
        under_way.stop()
        raise
    finally:
        _BUILDER = _PAGES = None
    return under_way
