"""``guichets site build``: the store's figures as a static site, in French and in English.

Every page is rendered from :class:`~guichets.site.figures.SiteFigures` through Jinja2 with
autoescape on (catalogue labels and scraped text are untrusted), and written only when its bytes
changed, so that a rebuild after one run touches only what moved and a mirror (rsync) copies
little. Links are relative: the site works from any folder of any web server, and from a disk.
Stored pages are never published as HTML: a probe is shown by its screenshot (a PNG).
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Final

import jinja2
from markdown_it import MarkdownIt
from markupsafe import Markup

from guichets.collector import fewer_collections
from guichets.departements import DEPARTEMENTS
from guichets.evidence.layout import screenshots_dir
from guichets.evidence.screenshot import ProbeTimeScreenshots, Renderer, screenshot_name
from guichets.files import UNREADABLE, copy_atomic, write_atomic
from guichets.model import PARIS, Category, Observation, Outcome
from guichets.periods import DateRange
from guichets.site import alerttext, charts, feeds, francemap, i18n
from guichets.site.archive import ArchivedMonth, closed_months, kept_copy, month_path, save_copy
from guichets.site.figures import (
    ServiceInfo,
    SiteFigures,
    month_rows,
    period_of,
    unreadable_by_platform,
)
from guichets.site.figures_text import FiguresText
from guichets.site.fragments import MonthFragments, PageFragments
from guichets.site.opendata import (
    Chunked,
    MonthWriter,
    OpenData,
    start_months,
    write_open_data,
)
from guichets.site.opendata_files import can_fork, hold_months
from guichets.site.pages_work import (
    FEEDS_FILE,
    KeptDigests,
    PageKeys,
    PagesUnderWay,
    code_digest,
    digest,
    render_pages,
)
from guichets.site.publish import SiteLock, staged_site
from guichets.site.serve import CSP
from guichets.stats.indicators import barrier_rate, downtime_rate, failure_rate, unrecognized_rate
from guichets.stats.method import METHOD_VERSION
from guichets.stats.press import change_text, changes, month_fr, press_summary
from guichets.stats.releases import Release, release_rows
from guichets.stats.report import ReportRow
from guichets.stats.wilson import Share
from guichets.store import Store
from guichets.store.alerts import AlertRecord, read_alerts
from guichets.store.forked import forked_pool, forked_store, worth_forking
from guichets.tally import Tally

__all__ = ["BuildResult", "build_site", "data_folder", "render_screenshots"]

log = logging.getLogger(__name__)

NOT_MEASURED: Final = (Outcome.BARRIER, Outcome.SITE_ERROR, Outcome.UNRECOGNIZED)
TREND_MONTHS: Final = 12  # months in a table's sparkline
MAX_WORKERS: Final = 4  # processes of a build, at most
MAP_SHAPES_FILE: Final = "francemap-shapes.pickle"  # in the figures' cache (francemap.keep_shapes)


@dataclass
class BuildResult:
    out: Path
    pages: int = 0
    rendered: int = 0  # of the départements' and services' pages (the others always are)
    written: int = 0  # files whose bytes changed (pages, data, screenshots)
    removed: int = 0
    screenshots: int = 0
    seconds: float = 0.0
    open_data: OpenData | None = None
    missing_shapes: tuple[str, ...] = ()
    files: set[Path] = field(default_factory=set)


def data_folder(out: Path) -> Path:
    """Where the open data of this method's version lives in the site."""
    return out / "donnees" / f"v{METHOD_VERSION}"


def kept_data(home: Path | None) -> Path | None:
    """Where the month files of the open data are kept in the data directory (linked into the
    site from there): written once, whatever becomes of the published folder."""
    return None if home is None else home / "opendata" / f"v{METHOD_VERSION}"


class _KeptTemplates(jinja2.FileSystemBytecodeCache):
    """Jinja2's bytecode cache, only a cache (as ``files.read_kept``, ``write_kept``): a
    compiled template that cannot be read is compiled again, one that cannot be kept (its folder
    cannot be made: a file in its place, a full disk, a read-only folder) is said once in the
    log, and the templates are compiled at every build; never a failure of the build."""

    def __init__(self, folder: Path) -> None:
        self._broken: str | None = None
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._say(exc)
        super().__init__(str(folder))

    def _say(self, exc: OSError) -> None:
        if self._broken is None:
            self._broken = str(exc)
            log.warning("not kept in the cache (done again next time): %s", exc)

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if self._broken is not None:
            return
        try:
            super().load_bytecode(bucket)
        except UNREADABLE:
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if self._broken is not None:
            return
        try:
            super().dump_bytecode(bucket)
        except OSError as exc:
            self._say(exc)


def _environment(cache: Path | None = None) -> jinja2.Environment:
    """The templates; with ``cache`` (the data directory's), compiled once and kept there
    (Jinja2's bytecode cache, keyed by each template's source): compiling them was a tenth of
    a rebuild that renders few pages."""
    bytecode = None
    if cache is not None:
        bytecode = _KeptTemplates(cache / "templates")
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("guichets.site", "templates"),
        autoescape=True,  # every page is HTML; nothing is ever trusted unescaped
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        bytecode_cache=bytecode,
        # A build reads its templates once: no stat of each template file at every page's
        # get_template (two per call: thousands a build).
        auto_reload=False,
    )
    return env


_MARKDOWN = MarkdownIt("commonmark", {"html": False, "typographer": False}).enable("table")


def markdown(text: str, *, shift: int = 0) -> Markup:
    """Markdown to HTML with raw HTML off: any ``<script>`` in the text comes out as text.

    ``shift`` moves headings down (or up) so that the text fits the page's outline: the press
    summary's title is a section of the home page, not a second ``h1``. The same text is
    rendered once (the press summary is on the home page of each language)."""
    return _markdown(text, shift)


@functools.lru_cache(maxsize=32)
def _markdown(text: str, shift: int) -> Markup:
    tokens = _MARKDOWN.parse(text)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(6, max(2, int(token.tag[1]) + shift))}"
    return Markup(_MARKDOWN.renderer.render(tokens, _MARKDOWN.options, {}))


def method_section(lang: str) -> str:
    """The French or the English half of docs/method.md (shipped in the package)."""
    text = (resources.files("guichets.site") / "content" / "method.md").read_text("utf-8")
    french, _, english = text.partition("\n## English\n")
    _, _, french = french.partition("\n## Français\n")
    return french if lang == "fr" else english


# -- page writing ---


class _Writer:
    """Writes a file only when its bytes change; remembers every file that belongs to the site."""

    def __init__(self, result: BuildResult) -> None:
        self.result = result

    def write(self, path: Path, data: bytes) -> None:
        self.result.files.add(path)
        try:
            if path.stat().st_size == len(data) and path.read_bytes() == data:
                return
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
        self.result.written += 1

    def copy(self, source: Path, path: Path) -> None:
        self.result.files.add(path)
        if path.exists() and path.stat().st_size == source.stat().st_size:
            return  # screenshots never change once taken
        path.parent.mkdir(parents=True, exist_ok=True)
        copy_atomic(source, path)  # a new file: never through a hard link of the live site
        self.result.written += 1


@dataclass(frozen=True)
class Page:
    """One page in one language: where it goes and how it links to the rest."""

    lang: str
    path: str  # relative to the language's root: "index.html", "departements/38.html"

    @property
    def depth(self) -> int:
        return self.path.count("/") + (1 if self.lang == "en" else 0)

    @property
    def root(self) -> str:
        """Relative path to the site's root (shared files: static/, donnees/, captures/)."""
        return "../" * self.depth

    def link(self, path: str) -> str:
        """A page of the same language."""
        return self.root + ("en/" if self.lang == "en" else "") + path

    def other(self) -> str:
        """This page in the other language."""
        return self.root + ("" if self.lang == "en" else "en/") + self.path

    def file(self, out: Path) -> Path:
        return out / ("en" if self.lang == "en" else "") / self.path


# -- what the templates are given ---


def _period(month: DateRange) -> str:
    return period_of(month.first)


@dataclass(frozen=True)
class Figure:
    """A row's headline figures, formatted for one language."""

    failure: str
    interval: str
    valid: str
    probes: str
    few: bool
    value: float | None
    downtime: str
    barrier: str
    unrecognized: str
    first_slot: str
    median_lead: str
    p90_lead: str
    closed_days: int
    blind_days: int


def _lead(row: ReportRow, q: float, lang: str) -> str:
    lead = row.lead(q)
    if lead is None:
        return "–"
    days = i18n.message("days", lang)
    if lead.days is not None:
        return f"{lead.days:.0f} {days}" if lead.days >= 2 else f"{lead.days:.1f} {days}"
    if lead.beyond_days is not None:
        return f"{i18n.message('beyond', lang)} {lead.beyond_days:.0f} {days}"
    return "–"


def figure(row: ReportRow | None, lang: str) -> Figure | None:
    if row is None:
        return None
    t = row.tally
    share = failure_rate(t)
    first = row.first_slot
    return Figure(
        failure=i18n.fmt_pct(share.value, lang)
        if share.value is not None
        else i18n.message("no_valid", lang),
        interval=i18n.fmt_interval(share, lang),
        valid=i18n.fmt_int(t.valid, lang),
        probes=i18n.fmt_int(t.probes, lang),
        few=share.few,
        value=share.value,
        downtime=_share_text(downtime_rate(t), lang),
        barrier=_share_text(barrier_rate(t), lang),
        unrecognized=_share_text(unrecognized_rate(t), lang),
        first_slot="–" if first is None else i18n.fmt_instant(first, lang),
        median_lead=_lead(row, 0.5, lang),
        p90_lead=_lead(row, 0.9, lang),
        closed_days=row.longest_closed_days,
        blind_days=row.longest_blind_days,
    )


def _share_text(share: Share, lang: str) -> str:
    return i18n.fmt_pct(share.value, lang) if share.value is not None else "–"


# The tallies' keys as plain strings, once: an enum member's ``.value`` is a descriptor call, and
# every page reads these for each of its months (some 10,000 times a rebuild at 100 services).
_CATEGORY_KEYS: Final = tuple(c.value for c in Category)
_NOT_MEASURED_KEYS: Final = tuple(o.value for o in NOT_MEASURED)


def _category_counts(t: Tally | None) -> dict[str, int]:
    return {c: (t.categories[c] if t else 0) for c in _CATEGORY_KEYS}


def _not_measured_counts(t: Tally | None) -> dict[str, int]:
    return {o: (t.outcomes[o] if t else 0) for o in _NOT_MEASURED_KEYS}


def _bars(rows: Sequence[ReportRow | None], labels: Sequence[str]) -> list[charts.MonthBar]:
    """Each month's bar; ``labels``: the months' short names (:meth:`SiteBuilder.labels`)."""
    bars = []
    for row, label in zip(rows, labels, strict=True):
        t = row.tally if row is not None else None
        bars.append(charts.MonthBar(label, _category_counts(t), _not_measured_counts(t)))
    return bars


def _points(rows: Sequence[ReportRow | None], labels: Sequence[str]) -> list[charts.RatePoint]:
    """Each month's failure rate; ``labels``: the months' short names."""
    points = []
    for row, label in zip(rows, labels, strict=True):
        share = failure_rate(row.tally) if row is not None else Share(0, 0)
        interval = share.interval
        points.append(
            charts.RatePoint(
                label=label,
                value=share.value,
                low=None if interval is None else interval[0],
                high=None if interval is None else interval[1],
                probes=share.total,
            )
        )
    return points


# What the templates print of the pages rendered after every run is given them as dataclasses,
# not dicts: Jinja reads ``{{ p.time }}`` as an attribute first, and on a dict that raises an
# AttributeError before it looks the key up, which doubled the cost of a table's cells.


@dataclass(frozen=True, slots=True)
class ProbeLine:
    """One of a service's latest probes, in its page's table."""

    time: str
    outcome: str
    outcome_text: str
    detail: str
    first_slot: str
    category: str
    screenshot: str | None  # relative to the page
    probe_id: str


@dataclass(frozen=True, slots=True)
class ServiceLine:
    """One service in its département's table."""

    info: ServiceInfo
    href: str
    figure: Figure | None
    trend: Markup


@dataclass(frozen=True)
class MonthLine:
    label: str
    figure: Figure | None
    categories: Mapping[str, int]
    not_measured: Mapping[str, int]


def _month_line(row: ReportRow | None, label: str, fig: Figure | None) -> MonthLine:
    """A month's rows in the tables: ``fig`` is ``figure(row, lang)`` (the latest month's kept by
    ``SiteBuilder.figure_of``, a closed month's made for its table)."""
    t = row.tally if row is not None else None
    return MonthLine(label, fig, _category_counts(t), _not_measured_counts(t))


def _trend(rows: Mapping[str, ReportRow], months: Sequence[DateRange], label: str) -> Markup:
    recent = months[-TREND_MONTHS:]
    values = [
        None if row is None else failure_rate(row.tally).value for row in month_rows(rows, recent)
    ]
    return charts.sparkline(values, label=label)


# -- the builder ---


class SiteBuilder:
    def __init__(
        self,
        store: Store,
        figures: SiteFigures,
        out: Path,
        *,
        home: Path | None,
        contact: str,
        writer: _Writer,
        site_url: str | None = None,
        workers: int = 1,
    ) -> None:
        self.workers = workers
        self.store = store
        self.figures = figures
        self.out = out
        self.home = home
        self.contact = contact
        self.writer = writer
        self.env = _environment(figures.cache)
        if figures.cache is not None:  # the map's shapes, compacted once for every build
            francemap.keep_shapes(figures.cache / MAP_SHAPES_FILE)
        self.missing_shapes: tuple[str, ...] = ()
        self.presses: dict[str, Markup | None] = {}  # a past month's press summary, by month
        # Closed months' release analyses under way in forked workers (month_releases).
        self.releases: dict[str, Future[list[Release]]] = {}
        # And those computed by the month files' writer from its read (MonthFiles.releases).
        self.analysed: dict[str, list[Release]] = {}
        self._kept: dict[Path, ArchivedMonth] = {}  # the frozen pages read (kept_page)
        self.months: MonthWriter | None = None  # the month files, when started before
        self.open_data: OpenData | None = None
        self.screenshots: dict[str, str] = {}  # probe id → path relative to the site's root
        self.alerts: list[AlertRecord] = read_alerts(store)  # docs/alerts.md
        self._alerts_by_service: dict[str | None, list[AlertRecord]] | None = None
        self.site_url = site_url
        self.archived: list[DateRange] = []  # closed months, each with its frozen page
        self.fragments = MonthFragments(figures.cache, code_digest())
        self._closed_key: tuple[str] | None = None  # see closed_key()
        self._changes: dict[tuple[str, ...], list[Markup]] = {}  # see changes_of()
        # What every page of a language formats alike, made once a build (see figure_of,
        # labels, month_title): the same arguments thousands of times at 100 services.
        self._figures: dict[tuple[int, str], tuple[ReportRow, Figure | None]] = {}
        self._labels: dict[tuple[str, bool], tuple[str, ...]] = {}
        self._titles: dict[str, str] = {}

    # -- shared ---

    def render(self, template: str, page: Page, title: str, **context: Any) -> None:
        f = self.figures
        lang = page.lang
        html = self.env.get_template(template).render(
            page=page,
            lang=lang,
            title=title,
            t=i18n.words(lang),
            csp=CSP,
            method_version=METHOD_VERSION,
            last_probe=None if f.last_probe is None else i18n.fmt_instant(f.last_probe, lang),
            **context,
        )
        self.writer.write(page.file(self.out), html.encode("utf-8"))
        self.writer.result.pages += 1

    def latest_period(self) -> str | None:
        latest = self.figures.latest
        return None if latest is None else _period(latest)

    def latest_row(
        self, rows: Mapping[str, ReportRow], period: str | None = None
    ) -> ReportRow | None:
        """The row of ``period`` (default: the latest month)."""
        period = period or self.latest_period()
        return None if period is None else rows.get(period)

    def month_title(self, lang: str) -> str:
        """The latest month's name, « en cours » while it is: printed by every page, made once
        a language."""
        if lang not in self._titles:
            self._titles[lang] = self._month_title(lang)
        return self._titles[lang]

    def _month_title(self, lang: str) -> str:
        latest = self.figures.latest
        if latest is None:
            return ""
        name = i18n.fmt_month(latest.first, lang)
        last = self.figures.last_probe
        day = None if last is None else last.astimezone(PARIS).date()  # the Paris day
        if day is not None and day < latest.last:
            # "En cours" only while the month is: once it is over at the build's date (as the
            # archive, which then lists it as closed, says), its probes simply ended early.
            today = self.figures.generated_at.astimezone(PARIS).date()
            key = "month_so_far" if today <= latest.last else "month_probed_until"
            return f"{name} ({i18n.message(key, lang)} {i18n.fmt_day(day, lang)})"
        return name

    def figure_of(self, row: ReportRow | None, lang: str) -> Figure | None:
        """:func:`figure`, once a row and language: a service's latest month is on its page's
        headline and table, and on its département's page. Keyed by the row's identity; the
        row is kept beside its figure, so that the key cannot name another row later."""
        if row is None:
            return None
        found = self._figures.get((id(row), lang))
        if found is None or found[0] is not row:
            found = (row, figure(row, lang))
            self._figures[(id(row), lang)] = found
        return found[1]

    def labels(self, lang: str, *, short: bool = False) -> tuple[str, ...]:
        """The months' names in ``lang`` (short: the charts'), oldest first: the same on every
        page of a build."""
        key = (lang, short)
        if key not in self._labels:
            self._labels[key] = tuple(
                i18n.fmt_month(m.first, lang, short=short) for m in self.figures.months
            )
        return self._labels[key]

    # -- pages ---

    def build(self, langs: Iterable[str] = i18n.LANGS) -> None:
        self.copy_static()
        self.copy_screenshots()
        # The month files are written by another process while the pages are rendered here.
        folder, keep = data_folder(self.out), kept_data(self.home)
        months = self.months or start_months(
            self.store, folder, keep=keep, workers=self.workers, background=self.workers > 1,
            fingerprints=self.figures.fingerprints or None,
        )  # fmt: skip
        months.remember(self.figures.fingerprints or None)
        # While every month's files are still being written (a first build, on every core), the
        # pages are rendered here: forked page workers would only share the same cores with
        # them, and each would hold its own copy of the figures it touches (at three years of
        # 500 services, two workers were 200 MB of a first build's 600).
        langs = list(langs)
        pages = self.many_pages(langs, workers=1 if months.busy() else self.workers)
        try:
            self._rest(langs, folder, keep, months, pages)
            pages.keep()  # the pages' forked workers, if any, rendered theirs meanwhile
        except BaseException:
            pages.stop()
            raise

    def _rest(
        self,
        langs: list[str],
        folder: Path,
        keep: Path | None,
        months: MonthWriter,
        pages: PagesUnderWay,
    ) -> None:
        """Every page but the départements' and services', and the open data."""
        today = self.figures.generated_at.astimezone(PARIS).date()
        self.archived = closed_months(self.figures.months, today)
        # No process is forked while the pages' workers are at work (their pool's threads
        # live here): the release analyses' workers wait for them.
        with self.month_releases(langs, months.analysing, before=pages.wait):
            # What needs neither the month files nor the closed months' release analyses,
            # before waiting for them: at a first build this process would otherwise wait, then
            # do it alone while the other cores idle.
            for lang in langs:
                self.home_page(lang)
                self.method_page(lang)
                self.robot_page(lang)
            self.write_feeds()
            # The pages no worker took yet, before waiting for the month files.
            pages.help()
            self.open_data = write_open_data(
                self.store, folder, self.figures.monthly_rows, created=self.figures.generated_at,
                keep=keep, figures_text=self.figures_texts(), months=months,
            )  # fmt: skip
            self.analysed = {
                m.label: list(m.releases) for m in months.result()[0] if m.releases is not None
            }
            for lang in langs:
                for month in self.archived:
                    self.archive_page(lang, month)
                self.archive_index(lang)
                self.data_page(lang)

    def many_pages(self, langs: Iterable[str], workers: int) -> PagesUnderWay:
        """The départements' and services' pages: those whose inputs changed, to render in up
        to ``workers`` processes (``site/pages_work.py``): the forked ones start at once, this
        one renders those left when what it returns is helped or waited for."""
        f = self.figures
        keys = PageKeys(self)
        # A service's page lists its alerts, which ``guichets alerts check`` (stalled) stores
        # without a probe: they are among its inputs, or a rebuild would keep the page as it was.
        alerts = self.alerts_by_service()
        jobs = []
        for lang in langs:
            for code in f.departements():
                file = Page(lang, f"departements/{code}.html").file(self.out)
                jobs.append(keys.job("departement", lang, code, file, f.services_of(code)))
            for info in f.services.values():
                file = Page(lang, f"services/{info.id}.html").file(self.out)
                shown = [
                    (o.probe_id, self.screenshots.get(o.probe_id))
                    for o in f.latest_probes.get(info.id, [])
                ]
                vantages = f.vantages.get(info.id)
                jobs.append(
                    keys.job(
                        "service", lang, info.id, file, info, shown, vantages, alerts.get(info.id)
                    )
                )
        todo = [job for job in jobs if keys.changed(job)]
        result = self.writer.result
        result.files.update(job.file for job in jobs)
        result.pages += len(jobs) - len(todo)
        under_way = render_pages(self, todo, workers)
        result.rendered += len(todo)
        under_way.finished = keys.save  # once every page is written
        return under_way

    def figures_texts(self) -> Callable[[Sequence[ReportRow]], tuple[Chunked, Chunked]] | None:
        """The monthly figures' files from the months' cached lines, when months are cached."""
        f = self.figures
        return None if f.cache is None else FiguresText(f.cache, f.fingerprints).texts

    def copy_static(self) -> None:
        static = resources.files("guichets.site") / "static"
        for item in static.iterdir():
            if item.is_file():
                self.writer.write(self.out / "static" / item.name, item.read_bytes())

    def copy_screenshots(self) -> None:
        """The latest probes' screenshots taken at probe time (``run --screenshots``), if any."""
        if self.home is None:
            return
        folder = screenshots_dir(self.home)
        for service, probes in self.figures.latest_probes.items():
            # A service never screenshot has no folder: one look, not one for each of its
            # probes (1 200 at 100 services, 0.015 s of every build's own process).
            if not probes or not (folder / service).is_dir():
                continue
            for obs in probes:
                name = screenshot_name(obs)
                source = folder / service / name
                if source.is_file():
                    relative = f"captures/{service}/{name}"
                    self.writer.copy(source, self.out / relative)
                    self.screenshots[obs.probe_id] = relative
                    self.writer.result.screenshots += 1

    def map_areas(
        self, lang: str, page: Page, period: str | None = None
    ) -> tuple[list[francemap.MapArea], list[dict[str, Any]]]:
        areas, table = [], []
        for code in self.figures.departements():
            name = DEPARTEMENTS.get(code, code)
            row = self.latest_row(self.figures.by_departement.get(code, {}), period)
            # The latest month's figure is also its département page's (figure_of: made once);
            # a closed month's (an archive page) is shown here only.
            fig = self.figure_of(row, lang) if period is None else figure(row, lang)
            value = None if fig is None else fig.value
            if fig is None or value is None:
                label = f"{name} ({code}) : {i18n.message('no_valid', lang)}"
                if fig is not None:  # probes there were, and none measured: say what stopped them
                    label += (
                        f" ({i18n.message('col_barrier', lang).lower()} {fig.barrier}, "
                        f"{i18n.message('col_downtime', lang).lower()} {fig.downtime})"
                    )
            else:
                label = (
                    f"{name} ({code}) : {fig.failure} — {i18n.message('col_interval', lang)} "
                    f"{fig.interval}, {fig.valid} {i18n.message('headline_valid', lang)}"
                )
            href = page.link(f"departements/{code}.html")
            areas.append(francemap.MapArea(code, name, value, label, href))
            table.append(
                {
                    "code": code,
                    "name": name,
                    "href": href,
                    "figure": fig,
                    "colour": francemap.colour_of(value),
                    "services": len(self.figures.services_of(code)),
                    "trend": _trend(
                        self.figures.by_departement.get(code, {}),
                        self.figures.months,
                        f"{name} — {i18n.message('col_trend', lang)}",
                    ),
                }
            )
        return areas, table

    def home_page(self, lang: str) -> None:
        page = Page(lang, "index.html")
        f = self.figures
        areas, table = self.map_areas(lang, page)
        drawn = francemap.france_map(
            areas,
            title=i18n.message("map_title", lang),
            description=i18n.message("map_desc", lang),
            lang=lang,
        )
        self.missing_shapes = drawn.missing
        france = self.latest_row(f.france)
        self.render(
            "home.html",
            page,
            i18n.message("home_title", lang),
            map_svg=drawn.svg,
            legend=francemap.legend(lang),
            nodata=francemap.NO_DATA_COLOUR,
            hatch=francemap.HATCH_CSS,
            table=table,
            france=figure(france, lang),
            france_row=france,
            month_title=self.month_title(lang),
            departement_count=len(f.departements()),
            service_count=len(f.services),
            press=None if f.press_markdown is None else markdown(f.press_markdown, shift=2),
            feed=page.root + feeds.feed_path("france"),
            archive_href=page.link("archives/index.html") if self.archived else None,
        )

    def departement_page(self, lang: str, code: str) -> None:
        page = Page(lang, f"departements/{code}.html")
        f = self.figures
        name = DEPARTEMENTS.get(code, code)
        rows = f.by_departement.get(code, {})
        services = []
        for info in f.services_of(code):
            service_rows = f.by_service.get(info.id, {})
            services.append(
                ServiceLine(
                    info=info,
                    href=page.link(f"services/{info.id}.html"),
                    figure=self.figure_of(self.latest_row(service_rows), lang),
                    trend=_trend(
                        service_rows, f.months, f"{info.label} — {i18n.message('col_trend', lang)}"
                    ),
                )
            )
        self.render(
            "departement.html",
            page,
            f"{name} ({code})",
            code=code,
            name=name,
            services=services,
            latest=self.figure_of(self.latest_row(rows), lang),
            month_title=self.month_title(lang),
            **self.history(rows, "departement", code, lang),
            changes=self.changes_of([info.id for info in f.services_of(code)]),
            feed=page.root + feeds.feed_path(code),
        )

    def history(
        self, rows: Mapping[str, ReportRow], kind: str, ident: str, lang: str
    ) -> dict[str, Any]:
        """The month-by-month part of a département's or a service's page: charts and tables."""
        months = self.figures.months
        monthly = month_rows(rows, months)
        page = self.fragments.page(kind, ident, lang)
        kept = page if self.fragments.enabled else None
        closed = len(months) - 1  # every month but the latest: drawn once, then kept
        key = self.closed_key()
        parts = {
            "bars": charts.category_bars(
                _bars(monthly, self.labels(lang, short=True)),
                id=f"categories-{ident}",
                title=i18n.message("categories_title", lang),
                description=i18n.message("categories_desc", lang),
                lang=lang,
                kept=kept,
                closed=closed,
                closed_key=key,
            ),
            "band": charts.rate_band(
                _points(monthly, self.labels(lang, short=True)),
                id=f"rate-{ident}",
                title=i18n.message("rate_title", lang),
                description=i18n.message("rate_desc", lang),
                lang=lang,
                kept=kept,
                closed=closed,
                closed_key=key,
            ),
            "months": self.month_rows(monthly, kind, ident, lang, page),
        }
        page.save()  # by the process that rendered the page (``site/fragments.py``)
        return parts

    def closed_key(self) -> str | None:
        """What every page's closed months are drawn from: those months and their figures'
        fingerprints (None when one has none: its pieces are then keyed by their numbers)."""
        if self._closed_key is None:
            f = self.figures
            closed = [_period(m) for m in f.months[:-1]]
            prints = [f.fingerprints.get(period) for period in closed]
            self._closed_key = ("",) if None in prints else (digest(closed, prints),)
        return self._closed_key[0] or None

    def month_rows(
        self,
        monthly: Sequence[ReportRow | None],
        kind: str,
        ident: str,
        lang: str,
        page: PageFragments,
    ) -> list[tuple[Markup, Markup, Markup]]:
        """The months' rows in the three tables of months (``macros.html``), latest first: the
        latest month's, then the closed months' together, kept from an earlier build when none
        of their figures moved (``site/fragments.py``: their fingerprints are the key)."""
        closed = self.figures.months[:-1]
        labels = self.labels(lang)
        macros = self.env.get_template("macros.html").module
        t = i18n.words(lang)

        def rows(row: ReportRow | None, label: str, fig: Figure | None) -> tuple[str, str, str]:
            line = _month_line(row, label, fig)
            if line.figure is None:
                return str(macros.category_row(line, t)), "", ""  # type: ignore[attr-defined]
            return (
                str(macros.category_row(line, t)),  # type: ignore[attr-defined]
                str(macros.dates_row(line, t)),  # type: ignore[attr-defined]
                str(macros.measured_row(line, t)),  # type: ignore[attr-defined]
            )

        name = f"rows|{kind}|{ident}|{lang}"
        key = self.closed_key()
        kept = None if key is None else page.get(name, key)
        if kept is None:
            # A closed month's figure is shown once a page (its service's, or its
            # département's): not kept by ``figure_of``, whose 44,000 figures held 50 MB of the
            # build's process at a first build of three years of 500 services, for nothing.
            made = [
                rows(row, label, figure(row, lang))
                for row, label in zip(monthly, labels[:-1], strict=False)
            ]
            kept = tuple("".join(r[i] for r in reversed(made)) for i in range(3))
            if key is not None and closed:
                page.put(name, key, kept)
        latest = rows(monthly[-1], labels[-1], self.figure_of(monthly[-1], lang))
        return [
            (Markup(latest[0]), Markup(latest[1]), Markup(latest[2])),
            (Markup(kept[0]), Markup(kept[1]), Markup(kept[2])),
        ]

    def changes_of(self, services: Sequence[str]) -> list[Markup]:
        """What changed since the previous month for these services, as French sentences: the
        same on a page's French and English copies, so made once for both."""
        key = tuple(services)
        if key not in self._changes:
            self._changes[key] = self._changes_of(key)
        return self._changes[key]

    def _changes_of(self, services: Sequence[str]) -> list[Markup]:
        f = self.figures
        if f.latest is None or f.previous is None:
            return []
        now_p, before_p = _period(f.latest), _period(f.previous)
        now = [f.by_service[s][now_p] for s in services if now_p in f.by_service.get(s, {})]
        before = [
            f.by_service[s][before_p] for s in services if before_p in f.by_service.get(s, {})
        ]
        names = f.names()
        previous = month_fr(f.previous)
        return [
            Markup(_MARKDOWN.renderInline(change_text(c, previous, names)))
            for c in changes(now, before)
        ]

    def service_page(self, lang: str, info: ServiceInfo) -> None:
        page = Page(lang, f"services/{info.id}.html")
        f = self.figures
        rows = f.by_service.get(info.id, {})
        latest = self.latest_row(rows)
        probes = [self.probe_line(obs, lang, page) for obs in f.latest_probes.get(info.id, [])]
        dossier = None
        if latest is not None:
            dossier = (
                f"guichets evidence dossier --service {info.id} --from {latest.days.first} "
                f"--to {latest.days.last} --out dossier-{info.id}-{latest.period}.zip"
            )
        code = info.departement or ""
        self.render(
            "service.html",
            page,
            info.label,
            info=info,
            departement_name=DEPARTEMENTS.get(code, code),
            departement_href=page.link(f"departements/{code}.html") if code else None,
            latest=self.figure_of(latest, lang),
            month_title=self.month_title(lang),
            **self.history(rows, "service", info.id, lang),
            probes=probes,
            dossier=dossier,
            changes=self.changes_of([info.id]),
            assisted=self.assisted_lines(rows, lang),
            alert_lines=[
                alerttext.history_line(a, lang)
                for a in reversed(self.alerts_by_service().get(info.id, []))
            ],
            feed=page.root + feeds.feed_path(code) if code else None,
            vantage_note=self.vantage_note(info.id, lang),
        )

    def alerts_by_service(self) -> dict[str | None, list[AlertRecord]]:
        """The alerts of each service, oldest first (None: a platform's), grouped once a build:
        every service page lists its own, which a scan of every alert for each page made cost
        pages × alerts."""
        if self._alerts_by_service is None:
            self._alerts_by_service = {}
            for alert in self.alerts:
                self._alerts_by_service.setdefault(alert.service, []).append(alert)
        return self._alerts_by_service

    def vantage_note(self, service: str, lang: str) -> str | None:
        """« bloqué depuis A, lu depuis B »: a barrier the robot met from some vantage points
        while others read the page (several workers, ``docs/deploy.md``)."""
        split = self.figures.vantages.get(service)
        if split is None:
            return None
        return i18n.message("vantage_note", lang).format(
            blocked=", ".join(split[0]), read=", ".join(split[1])
        )

    @staticmethod
    def assisted_lines(rows: Mapping[str, ReportRow], lang: str) -> list[dict[str, str]]:
        """The assisted series of a service, month by month: its own line, never the robot's."""
        lines = []
        for period, row in sorted(rows.items()):
            if not row.assisted.probes:
                continue
            rate = failure_rate(row.assisted)
            lines.append(
                {
                    "month": i18n.fmt_month(row.days.first, lang),
                    "probes": i18n.fmt_int(row.assisted.probes, lang),
                    "valid": i18n.fmt_int(row.assisted.valid, lang),
                    "rate": i18n.fmt_pct(rate.value, lang),
                    "interval": i18n.fmt_interval(rate, lang),
                    "period": period,
                }
            )
        return lines

    def probe_line(self, obs: Observation, lang: str, page: Page) -> ProbeLine:
        shot = self.screenshots.get(obs.probe_id)
        return ProbeLine(
            time=i18n.fmt_instant(obs.started_at, lang),
            outcome=obs.outcome.value,
            outcome_text=i18n.message(f"outcome_{obs.outcome.value}", lang),
            detail=obs.detail,
            first_slot="–" if not obs.slots else i18n.fmt_instant(obs.slots[0], lang),
            category=obs.category.value if obs.category is not None else "",
            screenshot=None if shot is None else page.root + shot,
            probe_id=obs.probe_id,
        )

    # -- the monthly archive (site/archive.py) ---

    def kept_page(self, lang: str, month: DateRange) -> ArchivedMonth:
        """A closed month's frozen page, if any (read once a build)."""
        path = Page(lang, month_path(month)).file(self.out)
        if path not in self._kept:
            self._kept[path] = kept_copy(path, self.home, path.relative_to(self.out))
        return self._kept[path]

    @contextmanager
    def month_releases(
        self,
        langs: Sequence[str],
        analysing: frozenset[str],
        before: Callable[[], None] | None = None,
    ) -> Iterator[None]:
        """The release analyses of the closed months whose pages are to be rendered, started in
        forked workers (``store/forked.py``) while the open data is finished and the pages are
        rendered here; :meth:`_month_press` takes their results.

        Each reads every probe of its month (0.23 CPU-s a month at 100 services, a third of it
        SQLite sorting them): at a first build, every closed month, one after another in this
        process once the month files were written, while the other CPU had nothing to do. Later
        builds copy the frozen pages back and compute none; with fewer than two, or a store a
        child cannot reach, they are computed here as before. The months in ``analysing`` are
        not: the month files' writer gives theirs, from the read that writes them
        (``site/month_points.py``; a month it could not tell is then computed here). ``before``
        is called before any is forked."""
        f = self.figures
        todo = [
            month
            for month in self.archived
            if any(_period(month) in rows for rows in f.by_service.values())  # else no summary
            and not all(self.kept_page(lang, month).current for lang in langs)
            and _period(month) not in analysing
        ]
        workers = min(self.workers, len(todo))
        if not worth_forking(self.store, workers, len(todo)):
            yield
            return
        if before is not None:
            before()
        with forked_pool(self.store, workers) as pool:
            self.releases = {_period(m): pool.submit(_releases_of, m) for m in todo}
            try:
                yield
            finally:
                self.releases = {}

    def archive_page(self, lang: str, month: DateRange) -> None:
        """A closed month's page: rendered once, then copied back byte for byte."""
        page = Page(lang, month_path(month))
        path = page.file(self.out)
        relative = path.relative_to(self.out)
        kept = self.kept_page(lang, month)
        if kept.current and kept.data is not None:
            self.writer.write(path, kept.data)
            self.writer.result.pages += 1
            return
        period = _period(month)
        areas, table = self.map_areas(lang, page, period)
        drawn = francemap.france_map(
            areas,
            title=i18n.message("map_title", lang),
            description=i18n.message("map_desc", lang),
            lang=lang,
        )
        france = self.latest_row(self.figures.france, period)
        name = i18n.fmt_month(month.first, lang)
        self.render(
            "archive_month.html",
            page,
            f"{i18n.message('archive_title', lang)} — {name}",
            month_name=name,
            frozen_on=i18n.fmt_day(self.figures.generated_at.astimezone(PARIS).date(), lang),
            previous_method=kept.method if kept.data is not None else None,
            map_svg=drawn.svg,
            legend=francemap.legend(lang),
            nodata=francemap.NO_DATA_COLOUR,
            hatch=francemap.HATCH_CSS,
            table=table,
            france=figure(france, lang),
            france_row=france,
            month_title=name,
            press=self.month_press(month),
            feed=page.root + feeds.feed_path("france"),
        )
        save_copy(self.home, relative, path.read_bytes())

    def month_press(self, month: DateRange) -> Markup | None:
        """The press summary of a past month, as ``guichets report --press --month`` gives it;
        the same in every language (it is English Markdown), so computed once a month: its
        release analysis reads every probe of the month."""
        period = _period(month)
        if period not in self.presses:
            self.presses[period] = self._month_press(month, period)
        return self.presses[period]

    def _month_press(self, month: DateRange, period: str) -> Markup | None:
        f = self.figures
        now = [rows[period] for rows in f.by_service.values() if period in rows]
        if not now:
            return None
        index = f.months.index(month)
        before: list[ReportRow] = []
        if index > 0:
            earlier = _period(f.months[index - 1])
            before = [rows[earlier] for rows in f.by_service.values() if earlier in rows]
        text = press_summary(now, before, self.releases_of(month, period), month, f.names())
        return markdown(text, shift=2)

    def releases_of(self, month: DateRange, period: str) -> list[Release]:
        """A closed month's batch releases: from the month files' read, or from a worker
        (:meth:`month_releases`), or read here."""
        if period in self.analysed:
            return self.analysed[period]
        found = self.releases.get(period)
        if found is not None:
            return found.result()
        return release_rows(self.store.iter_probe_points(month))

    def archive_index(self, lang: str) -> None:
        page = Page(lang, "archives/index.html")
        months = []
        for month in reversed(self.archived):
            fig = figure(self.latest_row(self.figures.france, _period(month)), lang)
            months.append(
                {
                    "label": i18n.fmt_month(month.first, lang),
                    "href": page.link(month_path(month)),
                    "figure": fig,
                }
            )
        self.render(
            "archive_index.html",
            page,
            i18n.message("archive_title", lang),
            months=months,
            feed=page.root + feeds.feed_path("france"),
        )

    # -- feeds (site/feeds.py) ---

    def write_feeds(self) -> None:
        """France's feed and each département's: alerts opened and closed, monthly summaries.

        A feed is made again only when what it says may have changed (``pages_work.KeptDigests``):
        its alerts and their services' names, the closed months' figures (their fingerprints),
        the site's address, the code. After an hourly run without a new alert, none is."""
        f = self.figures
        labels = {s.id: s.label for s in f.services.values()}
        kept = KeptDigests(f.cache, FEEDS_FILE, self.out)
        months = [(_period(m), f.fingerprints.get(_period(m))) for m in self.archived]
        common = None
        if all(fingerprint is not None for _, fingerprint in months):
            common = digest(
                code_digest("feeds.py", "alerttext.py"), METHOD_VERSION, self.site_url, months
            )

        def label(alert: AlertRecord) -> str:
            if alert.service is None:
                return f"plateforme {alert.platform}"
            return labels.get(alert.service, alert.service)

        def link(alert: AlertRecord) -> str:
            if alert.service is None:
                return "index.html"
            return f"services/{alert.service}.html"

        def describe(alert: AlertRecord, change: str) -> str:
            return alerttext.feed_text(alert, change, label(alert))

        scopes = [("france", None), *((code, code) for code in f.departements())]
        for scope, code in scopes:
            chosen = [a for a in self.alerts if code is None or a.departement == code]
            file = self.out / feeds.feed_path(scope)
            if common is not None:
                names = [labels.get(a.service) for a in chosen if a.service is not None]
                if kept.fresh(file, digest(common, scope, code, chosen, names)):
                    self.writer.result.files.add(file)
                    continue
            entries = feeds.alert_entries(chosen, label, link, describe)
            entries += self.month_entries(code)
            if code is None:
                title = f"{i18n.message('site_name', 'fr')} — France"
                page = "index.html"
            else:
                where = f"{DEPARTEMENTS.get(code, code)} ({code})"
                title = f"{i18n.message('site_name', 'fr')} — {where}"
                page = f"departements/{code}.html"
            data = feeds.atom(
                scope=scope,
                title=title,
                subtitle=i18n.message("feed_subtitle", "fr"),
                page=page,
                entries=entries,
                site_url=self.site_url,
            )
            self.writer.write(file, data)
        kept.save()

    def month_entries(self, code: str | None) -> list[feeds.FeedEntry]:
        """One entry per closed month: France's or the département's headline figures."""
        entries = []
        for month in self.archived:
            rows = (
                self.figures.france if code is None else self.figures.by_departement.get(code, {})
            )
            fig = figure(self.latest_row(rows, _period(month)), "fr")
            if fig is None:
                continue
            where = "France" if code is None else f"{DEPARTEMENTS.get(code, code)} ({code})"
            name = i18n.fmt_month(month.first, "fr")
            if fig.value is None:
                text = f"{where}, {name} : aucun sondage valide ({fig.probes} sondages)."
            else:
                text = (
                    f"{where}, {name} : {fig.failure} des tentatives n'ont trouvé aucune date "
                    f"(intervalle de confiance à 95 % : {fig.interval}), sur {fig.valid} "
                    f"sondages valides ; site en panne : {fig.downtime} des sondages, robot "
                    f"bloqué : {fig.barrier}."
                )
            entries.append(
                feeds.FeedEntry(
                    key=f"month:{code or 'FR'}:{_period(month)}",
                    title=f"Bilan mensuel, {name} — {where}",
                    text=text,
                    link=month_path(month) if code is None else f"departements/{code}.html",
                    at=month.end,
                )
            )
        return entries

    def method_page(self, lang: str) -> None:
        page = Page(lang, "methode.html")
        self.render(
            "text.html",
            page,
            i18n.message("method_title", lang),
            body=markdown(method_section(lang), shift=-1),
        )

    def robot_page(self, lang: str) -> None:
        page = Page(lang, "robot.html")
        unreadable = [
            (platform, i18n.fmt_pct(share.value, lang), i18n.fmt_int(share.count, lang),
             i18n.fmt_int(share.total, lang))
            for platform, share in unreadable_by_platform(self.figures)
        ]  # fmt: skip
        self.render(
            "robot.html", page, i18n.message("robot_title", lang), contact=self.contact,
            unreadable=unreadable, month=self.month_title(lang),
        )  # fmt: skip

    def data_page(self, lang: str) -> None:
        page = Page(lang, "donnees.html")
        data = self.open_data
        folder = f"donnees/v{METHOD_VERSION}/"
        files = []
        if data is not None:
            for r in data.resources:
                files.append(
                    {
                        "href": page.root + folder + r.path,
                        "title": r.title if lang == "fr" else r.title_en,
                        "rows": i18n.fmt_int(r.rows, lang),
                        "size": _size(r.bytes, lang),
                        "path": r.path,
                    }
                )
        self.render(
            "data.html",
            page,
            i18n.message("data_title", lang),
            files=files,
            datapackage=page.root + folder + "datapackage.json",
        )


def _releases_of(month: DateRange) -> list[Release]:
    """A month's batch releases, in a worker of ``forked_pool`` (``SiteBuilder.month_releases``)."""
    return release_rows(forked_store().iter_probe_points(month))


def _size(n: int, lang: str) -> str:
    for unit, scale in (
        ("Go" if lang == "fr" else "GB", 1e9),
        ("Mo" if lang == "fr" else "MB", 1e6),
        ("ko" if lang == "fr" else "kB", 1e3),
    ):
        if n >= scale:
            text = f"{n / scale:.1f}"
            return (text.replace(".", ",") if lang == "fr" else text) + f"\u00a0{unit}"
    return f"{n}\u00a0{'o' if lang == 'fr' else 'B'}"


async def render_screenshots(
    home: Path, store: Store, figures: SiteFigures, per_service: int
) -> tuple[int, list[str]]:
    """Render the archived pages of each service's latest probes that have no screenshot yet,
    into the evidence's screenshots folder (where ``run --screenshots`` puts them), so that the
    service pages can link to them. Returns (taken, failures); a probe without archive fails."""
    folder = screenshots_dir(home)
    todo = [
        obs
        for service, probes in figures.latest_probes.items()
        for obs in probes[:per_service]
        if not (folder / service / screenshot_name(obs)).is_file()
    ]
    if not todo:
        return 0, []
    async with Renderer() as renderer:
        taker = ProbeTimeScreenshots(home, store, renderer)
        for obs in todo:
            await taker(obs)
    return taker.taken, taker.failed


def _remove_stale(out: Path, keep: set[Path], result: BuildResult) -> None:
    """Pages of services or départements that are gone; never touches the open data's folder."""
    for folder in ("departements", "services", "en/departements", "en/services", "captures"):
        base = out / folder
        if not base.is_dir():
            continue
        for path in base.rglob("*"):
            if path.is_file() and path not in keep:
                path.unlink()
                result.removed += 1


def build_site(
    store: Store,
    figures: SiteFigures,
    out: Path,
    *,
    home: Path | None = None,
    contact: str,
    progress: Callable[[str], None] | None = None,
    site_url: str | None = None,
    workers: int | None = None,
    months: MonthWriter | None = None,
    held: SiteLock | None = None,
) -> BuildResult:
    """Write the site for ``figures`` into ``out``; returns what was written.

    The site is built beside ``out`` and swapped in at once (``publish.staged_site``): a build
    killed halfway leaves the previous site whole, and links inside ``out`` are never followed.
    ``workers``: processes that write the open data's months and render pages (default: one per
    CPU, at most :data:`MAX_WORKERS`). ``months``: the open data's month files, started before
    the figures were read (:func:`start_open_data`); stopped if the build fails. ``held``: the
    site's lock, when the caller took it (``publish.site_lock``); else taken here."""
    if workers is None:
        workers = default_workers()
    try:
        if months is not None:  # as soon as known: a rebuild's month files wait for them
            months.remember(figures.fingerprints or None)
        with fewer_collections():
            return _build_site(
                store, figures, out, home, contact, progress, site_url, workers, months, held
            )
    except BaseException:
        if months is not None:
            months.stop()
        raise


def default_workers() -> int:
    """Processes that write the month files and render pages: one per CPU, at most
    :data:`MAX_WORKERS`."""
    return min(MAX_WORKERS, os.cpu_count() or 1)


def start_open_data(
    store: Store,
    home: Path | None,
    *,
    workers: int | None = None,
    wait: float = 0.0,
    waiting: Callable[[str], None] | None = None,
) -> MonthWriter | None:
    """Start writing the open data's month files (kept in ``home``), in a child process, before
    the figures are read, so that they are written beside reading them, on another CPU: at a
    first build every month (the longest part of it: 13 million probes over three years of 500
    services), at a rebuild the latest month, whose probes a run of the robot moved (the closed
    months wait for the figures' fingerprints, which :func:`build_site` gives, to be skipped
    without counting their probes). With one worker or no ``fork``, they are written in this
    process when :func:`build_site` asks for them. None when there is no data directory.

    The data directory's month files are written by one build at a time (``hold_months``,
    taken after the site's lock, held by the month files' process and its workers to their
    end): when another build writes them (of the same data into another site), ``waiting`` is
    told and that build waited for up to ``wait`` seconds, then MonthsBusy; the months it
    wrote are then found written, and linked."""
    workers = default_workers() if workers is None else workers
    keep = kept_data(home)
    if keep is None:
        return None
    held = hold_months(keep, wait=wait, waiting=waiting)
    background = workers >= 2 and can_fork()
    return start_months(
        store, keep, keep=keep, workers=workers, background=background, later=None, held=held,
        defer=not background,
    )  # fmt: skip


def _build_site(
    store: Store,
    figures: SiteFigures,
    out: Path,
    home: Path | None,
    contact: str,
    progress: Callable[[str], None] | None,
    site_url: str | None,
    workers: int,
    months: MonthWriter | None,
    held: SiteLock | None,
) -> BuildResult:
    started = time.perf_counter()
    with staged_site(out, held) as work:
        result = BuildResult(work)
        builder = SiteBuilder(
            store,
            figures,
            work,
            home=home,
            contact=contact,
            writer=_Writer(result),
            site_url=site_url,
            workers=workers,
        )
        builder.months = months
        builder.build()
        _remove_stale(work, result.files, result)
    result.out = out
    result.files = {out / path.relative_to(work) for path in result.files}
    data = builder.open_data
    result.open_data = data and replace(data, folder=out / data.folder.relative_to(work))
    result.missing_shapes = builder.missing_shapes
    result.seconds = time.perf_counter() - started
    if progress is not None:
        progress(f"{result.pages} pages, {result.written} files written")
    return result
