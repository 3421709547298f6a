"""The public website over three years of probes: ``read_figures`` + ``build_site`` timed.

Makes (once, then reuses) a data directory like a robot's after three years: 500 services over
the 101 départements (overseas included), one probe per service per cadence (hourly by default,
at a random minute), the mix of closed, fine, half-open, short and robot-blocking services of
``bench/report.py`` (whose row maker it imports), the robot's own outages as gaps between five
runs (one of which died without ending), daily rollups built with ``Store.rebuild_rollups``, and a
``catalogue.toml`` naming every service. Then, in one process, side by side:

- **first build**: the month files started (``start_open_data``), ``read_figures`` then
  ``build_site``, as the command does, into an empty folder with an empty figures cache
  (``DATA/cache/site``, as the command uses), no kept open data (``DATA/opendata``) and no
  frozen pages of closed months (``DATA/archive``: a first build renders them), each timed,
  with the pages and files written, the folder's files and bytes, the CPU time (the build's
  worker processes included), the peak resident memory of the process and its workers
  (sampled from ``/proc``), and the seconds spent in the main functions it calls in this
  process (``PHASES``: wrapped for the build, no profiler);
- **after one new run**: one probe per service at the next period, saved with ``Store.save``
  inside ``start_run``/``end_run`` as the robot does, then the same two calls into the same
  folder: time, files rewritten (``BuildResult.written``; and by mtime, open data included)
  and which;
- **no-op rebuild**: nothing new, the same ``generated_at``; then once more with a new
  ``generated_at``, as two builds an hour apart would be; then into a new folder, with the
  figures' cache and the month files kept;
- with ``--profile``, **profiles** (cProfile) of a first build and of a rebuild after a new run,
  into a second folder (deleted after): the top functions by cumulative and by own time; the
  ``.prof`` files stay in the data directory (``python -m pstats``).

``--json`` prints one JSON document that starts with the figures of issue 18: ``probes``,
``first_build_s``, ``rebuild_s`` (after one new run), ``noop_s``, ``peak_rss_mb`` (the largest of
the builds' process trees, shared pages counted once), ``open_data_bytes`` (the first build's
``donnees/`` folder), and the CPU seconds of the same builds (on a shared machine, wall times
wait for the CPU).

pandas is made unimportable here (``_NoPandas``): production installs have none, and pyarrow
imports it whenever it is installed (the dev extra's), 33 MB in every build process.

The new runs are deleted from the store when the script starts and when it ends, so that the
cached directory stays as generated. Figures only; nothing is asserted (exit 1 on errors only).

    .venv/bin/python bench/site.py                    # 500 services, 1095 days, hourly
    .venv/bin/python bench/site.py --json --services 100 --days 365  # 873,400 probes
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import functools
import importlib
import importlib.abc
import io
import json
import os
import pstats
import random
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from guichets import __version__
from guichets.catalogue import Service, catalogue_to_toml, load_catalogue
from guichets.departements import DEPARTEMENTS
from guichets.model import PARIS, Observation, Outcome
from guichets.periods import DateRange
from guichets.site.publish import STAGING_MARK
from guichets.store import Store
from report import COLUMNS, _sql_instant, probe_row, services  # bench/report.py, a sibling


class _NoPandas(importlib.abc.MetaPathFinder):
    """pandas made unimportable in this script and the builds' processes it forks, as it is
    where guichets is installed for production: the project does not depend on it, but the dev
    extra installs it (frictionless reads Parquet through it), and pyarrow imports it whenever
    it is installed, at the first array made from a list. Measured 2026-12-06: 33 MB more in
    every process of a build and 0.4 CPU-s at its start, which a production build never pays
    (docs/benchmarks.md)."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {name!r} (bench/site.py)", name=name)


assert "pandas" not in sys.modules, "imported before the builds: see _NoPandas"
sys.meta_path.insert(0, _NoPandas())


START = datetime(2023, 11, 15, tzinfo=UTC)  # 1095 days end on 2026-11-14: mid-month
SEED = 11
CONTACT = "https://example.org/guichets-robot"
NEW_RUN = "bench site: one new run"  # the command of the runs this script adds, then deletes
# The robot's own outages (no probe, no run alive): (day from the start, hours).
OUTAGES = ((100, 26), (380, 72), (650, 8), (900, 50))
DIED = 2  # the run (0-based) that died: no ended_at, its last heartbeat at its last probe
KEY = COLUMNS.index("period_key")
PROCEDURES = ("titre-de-sejour", "naturalisation", "renouvellement", "etudiants", "permis")


def data_home(args: argparse.Namespace) -> Path:
    name = f"guichets-bench-site-s{args.services}-d{args.days}-c{args.cadence_hours}h"
    return Path(args.cache) / name


# -- the synthetic data directory ---------------------------------------------------------------


def _segments(days: int, step: int) -> list[tuple[datetime, datetime]]:
    """[start, end) of each run: the whole span cut by the outages, slots of ``step`` hours."""
    end = START + timedelta(days=days)
    cuts = [(START + timedelta(days=d), START + timedelta(days=d, hours=h)) for d, h in OUTAGES]
    cuts = [(a, b) for a, b in cuts if b < end]
    segments, at = [], START
    for a, b in cuts:
        segments.append((at, a))
        at = b
    segments.append((at, end))

    def slot(t: datetime) -> datetime:  # the first slot at or after t
        n = -(-int((t - START).total_seconds()) // (step * 3600))
        return START + timedelta(hours=n * step)

    return [(slot(a), slot(b)) for a, b in segments]


def catalogue_services(chosen: list[tuple[str, str, str, Any]], cadence: str) -> list[Service]:
    found = []
    for n, (sid, dep, url, _) in enumerate(chosen):
        name = DEPARTEMENTS[dep]
        procedure = PROCEDURES[n % len(PROCEDURES)]
        found.append(
            Service(
                id=sid,
                departement=dep,
                site=f"Préfecture — {name}",
                procedure=procedure,
                platform="ezbooking",
                url=url,
                cadence=cadence,
                label=f"{name} ({dep}) — {procedure.replace('-', ' ')} n° {n}",
            )
        )
    return found


def generate(home: Path, count: int, days: int, step: int) -> dict[str, Any]:
    """Fill ``home`` with the store, its rollups and its catalogue; returns what it took."""
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    with Store.open(None, home=home):
        pass  # the schema and indexes, by the product's own migrations
    rng = random.Random(SEED)
    chosen = services(count, rng)
    cadence = f"{step}h"
    (home / "catalogue.toml").write_text(catalogue_to_toml(catalogue_services(chosen, cadence)))
    load_catalogue(home / "catalogue.toml")  # it loads back: every service is valid
    db = sqlite3.connect(home / "guichets.sqlite", isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-2000000")  # 2 GB while filling
    # The running totals' triggers (migration 0008) make each row's insert a statement with a
    # statement journal: in memory, not a temporary file, or the fill is 2.8 times slower.
    db.execute("PRAGMA temp_store=MEMORY")
    insert = f"INSERT INTO probes ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    began = time.perf_counter()
    written, shown, batch = 0, 0, []
    segments = _segments(days, step)
    for number, (first, end) in enumerate(segments):
        run = uuid.UUID(int=rng.getrandbits(128), version=4).hex
        last = end - timedelta(hours=step) + timedelta(minutes=59)
        db.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, 'bench', ?, 'guichets run (bench site)', NULL)",
            (
                run,
                _sql_instant(first),
                _sql_instant(last),
                None if number == DIED else _sql_instant(last + timedelta(minutes=1)),
                __version__,
            ),
        )
        slot = first
        while slot < end:
            key = f"{slot:%Y-%m-%dT%H:%MZ}/PT{step * 3600}S"
            for service in chosen:
                row = probe_row(rng, service, slot, run)  # jitters within the slot's first hour
                batch.append(row if step == 1 else (*row[:KEY], key, *row[KEY + 1 :]))
            slot += timedelta(hours=step)
            if len(batch) >= 50_000 or slot >= end:
                db.execute("BEGIN")
                db.executemany(insert, batch)
                db.execute("COMMIT")
                written += len(batch)
                batch = []
                if written >= shown + 1_000_000:
                    shown = written
                    rate = written / (time.perf_counter() - began)
                    print(f"  ... {written:,} probes, {rate:,.0f}/s", file=sys.stderr)
    db.close()
    fill = time.perf_counter() - began
    began = time.perf_counter()
    with Store.open(None, home=home) as store:
        span = store.probe_days()
        assert span is not None
        service_days = store.rebuild_rollups(span)
    rollups = time.perf_counter() - began
    info = {
        "probes": written,
        "runs": len(segments),
        "first_day": str(span.first),
        "last_day": str(span.last),
        "fill_seconds": round(fill, 1),
        "probes_per_second": round(written / fill),
        "rollup_service_days": service_days,
        "rollups_seconds": round(rollups, 1),
        "database_gb": round(_bytes(home, "guichets.sqlite*") / 1e9, 2),
        "generated": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
    }
    (home / "complete.json").write_text(json.dumps(info, indent=1))
    return info


def _bytes(folder: Path, pattern: str = "**/*") -> int:
    return sum(p.stat().st_size for p in folder.glob(pattern) if p.is_file())


# -- one new run, and taking it back ------------------------------------------------------------


def _observation(row: tuple[Any, ...]) -> Observation:
    """An ``Observation`` from a row of ``probe_row``: the same mix of outcomes."""
    d = dict(zip(COLUMNS, row, strict=True))

    def instant(text: str) -> datetime:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)

    slots = tuple(datetime.fromisoformat(s) for s in json.loads(d["slots"]))
    return Observation(
        probe_id=uuid.uuid4().hex,
        service=d["service"],
        platform=d["platform"],
        url=d["url"],
        started_at=instant(d["started_at"]),
        finished_at=instant(d["finished_at"]),
        outcome=Outcome(d["outcome"]),
        detail=d["detail"],
        slots=slots,
        horizon_end=instant(d["horizon_end"]).astimezone(PARIS),
        requests=d["requests"],
        http_status=d["http_status"],
        departement=d["departement"],
    )


def new_run(store: Store, count: int, slot: datetime, step: int, seed: int) -> dict[str, Any]:
    """One probe per service in the slot ``slot``, saved one by one as the robot saves them."""
    rng = random.Random(seed)
    chosen = services(count, random.Random(SEED))
    began = time.perf_counter()
    run = store.start_run(command=NEW_RUN, version=__version__, catalogue_digest=None, at=slot)
    last = slot
    for service in chosen:
        obs = _observation(probe_row(rng, service, slot, run))  # within the slot's first hour
        key = f"{slot:%Y-%m-%dT%H:%MZ}/PT{step * 3600}S"
        store.save(obs, run_id=run, period_key=key, scheduled_for=slot)
        last = max(last, obs.finished_at)
    store.end_run(run, last)
    return {
        "probes": len(chosen),
        "slot": f"{slot:%Y-%m-%d %H:%M} UTC",
        "ended": last,
        "save_seconds": round(time.perf_counter() - began, 2),
    }


def _read_only(path: Path) -> sqlite3.Connection:
    """The database opened to read only. Without a ``-wal`` file beside it, nobody writes it (a
    writer of a WAL database keeps one): ``immutable=1``, which makes no ``-wal`` or ``-shm``
    file beside it and reads it on a read-only file system (``mode=ro`` leaves both behind,
    and cannot open it there). With one, ``mode=ro``, which reads what the WAL holds."""
    wal = path.with_name(path.name + "-wal").exists()
    return sqlite3.connect(
        f"{path.resolve().as_uri()}?{'mode=ro' if wal else 'immutable=1'}", uri=True
    )


def take_back(home: Path) -> int:
    """Delete the runs this script added (and their probes); rebuild the days they touched.
    Looked for read-only first: most often there are none, and the data is shared."""
    path = home / "guichets.sqlite"
    with contextlib.closing(_read_only(path)) as reading:
        query = "SELECT count(*) FROM runs WHERE command = ?"
        if not reading.execute(query, (NEW_RUN,)).fetchone()[0]:
            return 0
    db = sqlite3.connect(path, isolation_level=None)
    try:
        ids = [r for (r,) in db.execute("SELECT id FROM runs WHERE command = ?", (NEW_RUN,))]
        if not ids:
            return 0
        marks = ", ".join("?" * len(ids))
        first, last = db.execute(
            f"SELECT min(started_at), max(started_at) FROM probes WHERE run_id IN ({marks})", ids
        ).fetchone()
        db.execute("BEGIN IMMEDIATE")
        gone = db.execute(f"DELETE FROM probes WHERE run_id IN ({marks})", ids).rowcount
        db.execute(f"DELETE FROM runs WHERE id IN ({marks})", ids)
        db.execute("COMMIT")
    finally:
        db.close()
    if first is not None:
        with Store.open(None, home=home) as store:
            a = datetime.fromisoformat(first).replace(tzinfo=UTC).astimezone(PARIS).date()
            b = datetime.fromisoformat(last).replace(tzinfo=UTC).astimezone(PARIS).date()
            store.rebuild_rollups(DateRange(a - timedelta(days=1), b + timedelta(days=1)))
    return gone


# -- measuring ----------------------------------------------------------------------------------


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def _tree_rss_kb(root: int) -> int:
    """Memory of ``root`` and every process below it (the build's forked workers), in KiB:
    the sum of their proportional set sizes (``Pss`` in ``/proc/PID/smaps_rollup``), so that
    the pages a forked worker shares with its parent are counted once, not in each."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents[int(entry.name)] = int(fields[1])
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            rollup = ""
        found = re.search(r"^Pss:\s+(\d+) kB", rollup, re.M)
        total += int(found.group(1)) if found else 0
        todo += [child for child, parent in parents.items() if parent == pid]
    return total


class TreeMemory:
    """Samples the memory of this process and its children (a build's workers) every ``every``
    seconds in a thread: the peak of the whole build, which ``ru_maxrss`` cannot give (it is
    per process, and counts the pages a forked worker shares with its parent in both)."""

    def __init__(self, every: float = 0.25) -> None:
        self.every = every
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, _tree_rss_kb(os.getpid()))
            self._stop.wait(self.every)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kb = max(self.peak_kb, _tree_rss_kb(os.getpid()))


def _cpu_s() -> float:
    """CPU seconds of this process and of its children that ended (the build's workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _files(out: Path) -> dict[str, tuple[int, int]]:
    """Every file of the site: relative path → (mtime_ns, size)."""
    found = {}
    for folder, _, names in os.walk(out):
        for name in names:
            st = os.stat(os.path.join(folder, name))
            found[os.path.relpath(os.path.join(folder, name), out)] = (st.st_mtime_ns, st.st_size)
    return found


def _kind(path: str) -> str:
    parts = Path(path).parts
    if parts[0] == "en":
        parts = parts[1:]
    if parts[0] in ("services", "departements", "donnees", "static", "captures"):
        return parts[0]
    return "other pages"


def _changed(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> dict:
    """Files (re)written, by mtime or size, counted by kind; named when they are few."""
    paths = sorted(path for path, stamp in after.items() if before.get(path) != stamp)
    kinds: dict[str, Any] = {}
    for path in paths:
        kinds[_kind(path)] = kinds.get(_kind(path), 0) + 1
    if 0 < len(paths) <= 8:
        kinds["paths"] = paths
    return kinds


# Functions timed inside a build (wrapped for the build, then restored): where the time goes,
# without a profiler's overhead. Nested: a module's function includes the ones it calls.
PHASES = (
    ("guichets.store", "Store", ("refresh_rollups", "latest_observations_of", "probe_points")),
    (
        "guichets.usecases.figures",
        None,
        ("_month_of_rows", "_months_of_rows", "_fingerprint", "_press"),
    ),
    ("guichets.site.build", None, ("write_open_data", "start_months", "_remove_stale")),
    ("guichets.site.opendata", None, ("figures_csv", "figures_json")),
    ("guichets.site.releases_cache", None, ("releases_of_the_day",)),
    ("guichets.site.publish", None, ("_clone", "_remove")),
    # The pages this process renders (many_pages forks their workers; it renders its own when
    # it has the time, then waits for the workers).
    ("guichets.site.pages_work", "PagesUnderWay", ("help", "wait")),
    (
        "guichets.site.build",
        "SiteBuilder",
        (
            "copy_static",
            "home_page",
            "many_pages",
            "data_page",
            "write_feeds",
            "archive_index",
            "archive_page",
            "_month_press",
        ),
    ),
)


@contextlib.contextmanager
def _phases() -> Iterator[dict[str, float]]:
    spent: dict[str, float] = {}
    undo = []
    for module, owner_name, names in PHASES:
        owner = importlib.import_module(module)
        if owner_name is not None:
            owner = getattr(owner, owner_name)
        for name in names:
            original = getattr(owner, name, None)
            if original is None:
                continue  # renamed or gone: not timed
            label = f"{owner_name or module.rsplit('.', 1)[1]}.{name}"

            def timed(*a: Any, _f: Any = original, _l: str = label, **k: Any) -> Any:
                began = time.perf_counter()
                try:
                    return _f(*a, **k)
                finally:
                    spent[_l] = spent.get(_l, 0.0) + time.perf_counter() - began

            setattr(owner, name, functools.wraps(original)(timed))
            undo.append((owner, name, original))
    try:
        yield spent
    finally:
        for owner, name, original in reversed(undo):
            setattr(owner, name, original)


def _cache(home: Path) -> Path:
    """Where ``guichets site build`` keeps the months' figures: the data directory's cache."""
    return home / "cache" / "site"


def build(
    store: Store,
    home: Path,
    out: Path,
    generated_at: datetime,
    profile: cProfile.Profile | None = None,
    *,
    step: str,
) -> dict[str, Any]:
    """``read_figures`` then ``build_site``, as ``guichets site build`` calls them, timed apart."""
    from guichets.site import build as site_build  # here: the module may still be coming
    from guichets.site.build import build_site
    from guichets.usecases.figures import read_figures

    # The month writer's modules (pyarrow), which the build's own process no longer imports:
    # imported here, untimed, as the long-running service does (``SiteOptions.build``) and as
    # the build's modules imported them before, so that the steps compare with earlier runs.
    with contextlib.suppress(ImportError, AttributeError):
        importlib.import_module("guichets.site.opendata_files").preload()

    # The month files start before the figures are read, as ``guichets site build`` does
    # (``usecases/site.py``); older code started them inside build_site.
    start_open_data = getattr(site_build, "start_open_data", None)
    before = _files(out) if out.exists() else {}
    load = _loadavg()
    timing = _phases() if profile is None else contextlib.nullcontext({})  # not both at once
    with timing as spent, TreeMemory() as memory:
        if profile is not None:
            profile.enable()
        cpu = _cpu_s()
        began = time.perf_counter()
        catalogue = load_catalogue(home / "catalogue.toml")  # as the command does
        loaded = time.perf_counter()
        months = None if start_open_data is None else start_open_data(store, home)
        figures = read_figures(store, catalogue, generated_at=generated_at, cache=_cache(home))
        middle = time.perf_counter()
        more = {} if months is None else {"months": months}
        result = build_site(store, figures, out, home=home, contact=CONTACT, **more)
        ended = time.perf_counter()
        cpu = _cpu_s() - cpu
        if profile is not None:
            profile.disable()
    after = _files(out)
    figures = {
        "catalogue_s": round(loaded - began, 2),
        "read_figures_s": round(middle - loaded, 2),
        "build_site_s": round(ended - middle, 2),
        "total_s": round(ended - began, 2),
        "pages": result.pages,
        "written": result.written,
        "removed": result.removed,
        "changed": sum(before.get(path) != stamp for path, stamp in after.items()),
        "changed_by_kind": _changed(before, after),
        "files": len(after),
        "bytes": sum(size for _, size in after.values()),
        "open_data_bytes": sum(
            size for path, (_, size) in after.items() if _kind(path) == "donnees"
        ),
        "cpu_s": round(cpu, 2),
        "peak_rss_mb_so_far": _peak_mb(),
        "peak_tree_rss_mb": round(memory.peak_kb / 1024, 1),
        "loadavg_before": load,
        "loadavg_after": _loadavg(),
        "phases_s": {k: round(v, 2) for k, v in spent.items()},
    }
    shown = {k: figures[k] for k in ("read_figures_s", "build_site_s", "written", "changed")}
    print(f"  {step}: {shown}", file=sys.stderr)  # at once: a first build takes minutes
    return figures


def _top(profile: cProfile.Profile, key: str, n: int = 10) -> list[str]:
    text = io.StringIO()
    stats = pstats.Stats(profile, stream=text)
    stats.sort_stats(key).print_stats(n)
    lines = text.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    src = str(Path(__file__).resolve().parent.parent / "src") + "/"
    shown = [line.rstrip().replace(src, "") for line in lines[start : start + n + 1]]
    shown = [line.replace(str(Path(__file__).resolve().parent) + "/", "bench/") for line in shown]
    return [re.sub(r"/\S*/(site-packages|python3\.\d+)/", "", line) for line in shown if line]


def _remove_site(out: Path) -> None:
    """A site folder, and the old site its last build left beside it for the next one to remove
    (``publish.staged_site``): a build starts with neither."""
    shutil.rmtree(out, ignore_errors=True)
    for aside in out.parent.glob(f".{out.name}{STAGING_MARK}*"):
        shutil.rmtree(aside, ignore_errors=True)


def measure(home: Path, args: argparse.Namespace, end: datetime) -> dict[str, Any]:
    cadence = args.cadence_hours
    out = home / "site"
    _remove_site(out)
    shutil.rmtree(_cache(home), ignore_errors=True)  # a first build starts with nothing kept
    shutil.rmtree(home / "opendata", ignore_errors=True)  # nor the open data's month files
    shutil.rmtree(home / "archive", ignore_errors=True)  # nor the closed months' frozen pages
    steps: dict[str, Any] = {}
    with Store.open(None, home=home) as store:
        steps["first_build"] = build(store, home, out, end, step="first_build")
        run = new_run(store, args.services, end, cadence, seed=1)
        at = run["ended"] + timedelta(minutes=1)
        run["ended"] = f"{run['ended']:%Y-%m-%d %H:%M:%S} UTC"
        steps["new_run"] = run
        steps["rebuild_after_run"] = build(store, home, out, at, step="rebuild_after_run")
        steps["noop_rebuild"] = build(store, home, out, at, step="noop_rebuild")
        steps["noop_new_generated_at"] = build(
            store, home, out, at + timedelta(hours=1), step="noop_new_generated_at"
        )
        # A second site folder from the same data directory (as a publisher deploying a fresh
        # copy): the figures and the month files are kept, the pages are written.
        other = home / "site-again"
        _remove_site(other)
        steps["new_folder_kept_data"] = build(
            store, home, other, at + timedelta(hours=1), step="new_folder_kept_data"
        )
        _remove_site(other)
    take_back(home)
    if not args.profile:
        return steps
    out = home / "site-profile"
    _remove_site(out)
    shutil.rmtree(_cache(home), ignore_errors=True)
    shutil.rmtree(home / "opendata", ignore_errors=True)
    shutil.rmtree(home / "archive", ignore_errors=True)
    profiles = {}
    with Store.open(None, home=home) as store:
        first = cProfile.Profile()
        steps["profiled_first_build"] = build(
            store, home, out, end, first, step="profiled_first_build"
        )
        ended = new_run(store, args.services, end, cadence, seed=2)["ended"]
        again = cProfile.Profile()
        steps["profiled_rebuild"] = build(
            store, home, out, ended + timedelta(minutes=1), again, step="profiled_rebuild"
        )
    take_back(home)
    _remove_site(out)  # 12 GB at the default size; only the profile counts
    for name, prof in (("first_build", first), ("rebuild_after_run", again)):
        prof.dump_stats(home / f"profile-{name}.prof")
        profiles[name] = {
            "cumulative": _top(prof, "cumulative", args.top),
            "own_time": _top(prof, "tottime", args.top),
            "file": str(home / f"profile-{name}.prof"),
        }
    steps["profiles"] = profiles
    return steps


def _table(steps: dict[str, Any]) -> str:
    names = [
        ("first_build", "first build, empty folder"),
        ("rebuild_after_run", "rebuild after one new run"),
        ("noop_rebuild", "rebuild, nothing new"),
        ("noop_new_generated_at", "nothing new, new generated_at"),
        ("new_folder_kept_data", "new folder, figures and months kept"),
        ("profiled_first_build", "(under cProfile) first build"),
        ("profiled_rebuild", "(under cProfile) rebuild after run"),
    ]
    head = (
        f"{'step':<36} {'figures s':>9} {'build s':>8} {'total s':>8} {'pages':>6} "
        f"{'written':>8} {'changed':>8} {'files':>6} {'MB':>8} {'RSS MB':>7}  load"
    )
    lines = [head, "-" * len(head)]
    for key, label in names:
        s = steps.get(key)
        if s is None:
            continue
        lines.append(
            f"{label:<36} {s['read_figures_s']:>9.2f} {s['build_site_s']:>8.2f} "
            f"{s['total_s']:>8.2f} {s['pages']:>6} {s['written']:>8} {s['changed']:>8} "
            f"{s['files']:>6} "
            f"{s['bytes'] / 1e6:>8.1f} {s['peak_rss_mb_so_far']:>7.0f}  {s['loadavg_before']}"
        )
        lines.append(f"{'':<36} changed: {s['changed_by_kind']}")
        spent = sorted(s.get("phases_s", {}).items(), key=lambda kv: -kv[1])
        lines.append(f"{'':<36} seconds in: " + ", ".join(f"{k} {v}" for k, v in spent))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=500)
    parser.add_argument("--days", type=int, default=1095)
    parser.add_argument("--cadence-hours", type=int, default=1, choices=(1, 2, 3, 4, 6, 8, 12, 24))
    parser.add_argument("--cache", default="/tmp", help="where the data directory is kept")
    parser.add_argument("--regenerate", action="store_true", help="remake the data directory")
    parser.add_argument("--profile", action="store_true", help="also profile two builds")
    parser.add_argument("--no-profile", action="store_true", help=argparse.SUPPRESS)  # default
    parser.add_argument("--top", type=int, default=10, help="functions shown per profile")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--save", type=Path, help="also write the JSON figures to this file")
    parser.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    home = data_home(args)
    if args.generate_only:  # in a child process: its memory does not count in the builds'
        print(json.dumps(generate(home, args.services, args.days, args.cadence_hours)))
        return 0
    result: dict[str, Any] = {
        "parameters": {
            "services": args.services,
            "days": args.days,
            "cadence_hours": args.cadence_hours,
            "data": str(home),
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "sqlite": sqlite3.sqlite_version,
        },
    }
    marker = home / "complete.json"
    if args.regenerate or not marker.exists():
        print(f"generating {home} (once; later runs reuse it) ...", file=sys.stderr)
        began = time.perf_counter()
        child = [sys.executable, __file__, *argv, "--generate-only"]
        subprocess.run(child, check=True, stdout=subprocess.DEVNULL)
        result["generation_wall_s"] = round(time.perf_counter() - began, 1)
    else:
        result["generation_wall_s"] = "cached"
    result["data"] = json.loads(marker.read_text())
    gone = take_back(home)  # a run left by an interrupted earlier bench
    if gone:
        print(f"removed {gone} probes left by an earlier run of this bench", file=sys.stderr)
    end = _segments(args.days, args.cadence_hours)[-1][1]
    steps = result["steps"] = measure(home, args, end)
    result["bench_peak_rss_mb"] = _peak_mb()
    first = steps["first_build"]
    result = {  # the figures the issue asks for first, then the details
        "probes": result["data"]["probes"],
        "first_build_s": first["total_s"],
        "rebuild_s": steps["rebuild_after_run"]["total_s"],
        "noop_s": steps["noop_rebuild"]["total_s"],
        "peak_rss_mb": max(
            max(s.get("peak_tree_rss_mb", 0) for s in steps.values() if isinstance(s, dict)),
            result["bench_peak_rss_mb"],
        ),
        "open_data_bytes": first["open_data_bytes"],
        "first_build_cpu_s": first["cpu_s"],
        "rebuild_cpu_s": steps["rebuild_after_run"]["cpu_s"],
        "noop_cpu_s": steps["noop_rebuild"]["cpu_s"],
        **result,
    }
    if args.save is not None:
        args.save.write_text(json.dumps(result, indent=1, default=str) + "\n")
    if args.json:
        print(json.dumps(result, indent=1, default=str))
        return 0
    for key in ("parameters", "machine", "data", "generation_wall_s"):
        print(f"{key:<18} {result[key]}")
    print(f"{'new run':<18} {result['steps']['new_run']}")
    print()
    print(_table(result["steps"]))
    for name, prof in result["steps"].get("profiles", {}).items():
        for key in ("cumulative", "own_time"):
            print(f"\n{name}: top {args.top} by {key} ({prof['file']})")
            print("\n".join(prof[key]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
