"""Reports over years of probes: ``guichets report --month`` on 10 million observations.

Fills a SQLite store (made by ``Store.open``, so with the real schema and indexes) with synthetic
hourly probes of 500 services over about two and a half years, builds the daily rollups from them
with ``Store.rebuild_rollups`` (the product's own code), then times, as separate processes:

- ``guichets report --month M`` for one month over all services (JSON and table), with each
  process's peak memory (``wait4``'s ``ru_maxrss``);
- the same for a year cut by month, and per département;
- after a run of 1,000 new probes saved with ``Store.save`` (each adds itself to its day's rollup in
  its own transaction): the time spent in the rollup statements, the check that the rollups count
  the probes (what ``report`` does first), and a forced rebuild of the days touched.

Figures only; nothing is asserted. The probes are lean (no trail, no message): a report reads the
rollups and one index, not the rows, so their width does not change its time; it changes the size
of the file and the time of a full rebuild.

    .venv/bin/python bench/report.py                       # 10,000,000 probes: ~10 min to fill
    .venv/bin/python bench/report.py --probes 1000000 --keep /tmp/one-million
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event

from guichets.departements import DEPARTEMENTS
from guichets.model import PARIS, Category, Observation, Outcome, categorise
from guichets.periods import DateRange
from guichets.store import Store
from guichets.store.schema import probes

START = datetime(2024, 1, 1, tzinfo=UTC)
HOUR = 3600
KINDS = (  # (share of services, failure rate, site errors, barriers)
    (0.05, 1.0, 0.01, 0.0),  # never open
    (0.30, 0.02, 0.01, 0.0),  # fine
    (0.35, 0.5, 0.02, 0.005),  # half the time nothing
    (0.25, 0.8, 0.03, 0.01),  # shortage
    (0.05, 0.6, 0.02, 0.3),  # blocks robots a third of the time
)
# The probes table as the store defines it: the rows below are built in this order.
COLUMNS = tuple(probes.c.keys())
LATER_COLUMNS = {"assisted": False}  # the others are null for the robot's own probes


def _sql_instant(at: datetime) -> str:
    """How ``UTCDateTime`` stores an instant in SQLite: naive UTC with microseconds."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def services(count: int, rng: random.Random) -> list[tuple[str, str, str, tuple[float, ...]]]:
    """(id, département, url, kind) of ``count`` services spread over the départements."""
    codes = list(DEPARTEMENTS)[:101]
    found: list[tuple[str, str, str, tuple[float, ...]]] = []
    weights = [k[0] for k in KINDS]
    for n in range(count):
        dep = codes[n % len(codes)]
        kind = rng.choices(KINDS, weights)[0]
        found.append(
            (
                f"{dep.lower()}-service-{n:03d}",
                dep,
                f"https://www.pref-{dep.lower()}.gouv.fr/booking/create/{1000 + n}",
                kind[1:],
            )
        )
    return found


def probe_row(
    rng: random.Random, service: tuple[str, str, str, tuple[float, ...]], hour: datetime, run: str
) -> tuple[Any, ...]:
    sid, dep, url, (fail, errors, barriers) = service
    at = hour + timedelta(seconds=rng.random() * HOUR)
    draw = rng.random()
    slots: tuple[datetime, ...] = ()
    if draw < errors:
        outcome, detail = Outcome.SITE_ERROR, "http_502"
    elif draw < errors + barriers:
        outcome, detail = Outcome.BARRIER, "blocked"
    elif rng.random() < fail:
        outcome, detail = Outcome.UNAVAILABLE, "no_slot_page"
    else:
        outcome, detail = Outcome.AVAILABLE, "slots_seen"
        first = at + timedelta(days=rng.expovariate(1 / 20.0), hours=2)
        first = first.replace(minute=first.minute // 15 * 15, second=0, microsecond=0)
        slots = (first, first + timedelta(minutes=15))
    category: Category | None = categorise(outcome, slots, at)
    horizon = at + timedelta(days=91)
    row = (
        uuid.UUID(int=rng.getrandbits(128), version=4).hex,
        run,
        sid,
        dep,
        "ezbooking",
        url,
        None,
        f"{hour:%Y-%m-%dT%H:%MZ}/PT3600S",
        _sql_instant(at),
        _sql_instant(at),
        _sql_instant(at + timedelta(seconds=3)),
        outcome.value,
        detail,
        None if category is None else category.value,
        _sql_instant(slots[0]) if slots else None,
        len(slots),
        json.dumps([s.astimezone(PARIS).isoformat() for s in slots]),
        _sql_instant(horizon),
        5 if slots else 3,
        200,
        "",
        "[]",
        "{}",
        0.005,
        None,
    )
    # Columns added to the table since (a robot's probe: not assisted, one vantage point).
    return row + tuple(LATER_COLUMNS.get(name) for name in COLUMNS[len(row) :])


def fill(path: Path, total: int, count: int, seed: int) -> tuple[int, datetime, datetime, float]:
    """Insert ``total`` probes, hour after hour, every service once an hour; one run covers all."""
    rng = random.Random(seed)
    chosen = services(count, rng)
    hours = -(-total // count)
    end = START + timedelta(hours=hours)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-2000000")  # 2 GB while filling; the report gets the default
    run = uuid.uuid4().hex
    db.execute(
        "INSERT INTO runs VALUES (?, ?, ?, ?, 'bench', '0.1.0', 'bench report', NULL)",
        (run, _sql_instant(START), _sql_instant(end), _sql_instant(end)),
    )
    insert = f"INSERT INTO probes ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    began = time.perf_counter()
    written = 0
    batch: list[tuple[Any, ...]] = []
    for h in range(hours):
        hour = START + timedelta(hours=h)
        for service in chosen:
            if written + len(batch) >= total:
                break
            batch.append(probe_row(rng, service, hour, run))
        if len(batch) >= 50_000 or h == hours - 1:
            db.execute("BEGIN")
            db.executemany(insert, batch)
            db.execute("COMMIT")
            written += len(batch)
            batch = []
            if h % 2000 < 100:
                rate = written / (time.perf_counter() - began)
                print(f"  ... {written:,} probes, {rate:,.0f}/s", file=sys.stderr)
    db.close()
    return written, START, end, time.perf_counter() - began


# Peak memory of a process started from this one would include this process's own (Linux keeps
# the high-water mark across exec), so a small launcher forks and execs the command and reports
# its child's wall time and peak resident memory, from wait4.
LAUNCHER = """
import os, sys, time
began = time.perf_counter()
pid = os.fork()
if pid == 0:
    fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 1)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - began, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def timed(argv: list[str], repeat: int = 3) -> dict[str, float]:
    """Median wall seconds and peak resident memory (MB) of a command run ``repeat`` times."""
    walls, peaks = [], []
    for _ in range(repeat):
        done = subprocess.run(
            [sys.executable, "-c", LAUNCHER, *argv], capture_output=True, text=True, check=True
        )
        wall, peak, code = done.stdout.split()
        if code != "0":
            raise SystemExit(f"{argv} failed ({code}): {done.stderr}")
        walls.append(float(wall))
        peaks.append(int(peak) / 1024)  # KiB on Linux
    return {
        "seconds": round(statistics.median(walls), 2),
        "max_seconds": round(max(walls), 2),
        "peak_mb": round(max(peaks), 1),
    }


def _latest(store: Store) -> datetime:
    """A little before the last stored probe: new probes go after everything stored."""
    days = store.probe_days()
    assert days is not None
    return datetime.combine(days.last, datetime.min.time(), tzinfo=PARIS)


def new_run(store: Store, after: datetime, count: int) -> dict[str, float]:
    """Save ``count`` new probes as a run would; time the rollup statements within the saves."""
    spent = {"rollups": 0.0, "statements": 0}
    engine = store._engine  # the bench looks inside: which statements the saves ran

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        conn.info["bench_at"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "daily_" in statement:
            spent["rollups"] += time.perf_counter() - conn.info["bench_at"]
            spent["statements"] += 1

    chosen = services(500, random.Random(1))
    run, saved = uuid.uuid4().hex[:8], 0  # a fresh tag: the stored periods never clash
    began = time.perf_counter()
    days = set()
    for n in range(count):
        sid, dep, url, _ = chosen[n % len(chosen)]
        at = after + timedelta(seconds=n * 7)
        slots = () if n % 3 else ((at + timedelta(days=3 + n % 40)).astimezone(PARIS),)
        saved += store.save(
            Observation(
                uuid.uuid4().hex,
                sid,
                "ezbooking",
                url,
                at,
                at + timedelta(seconds=3),
                Outcome.AVAILABLE if slots else Outcome.UNAVAILABLE,
                "slots_seen" if slots else "no_slot_page",
                slots,
                horizon_end=(at + timedelta(days=91)).astimezone(PARIS),
                departement=dep,
            ),
            period_key=f"{at:%Y-%m-%dT%H:%M:%SZ}/bench-{run}-{n}",
        )
        days.add(at.astimezone(PARIS).date())
    total = time.perf_counter() - began
    event.remove(engine, "before_cursor_execute", _before)
    event.remove(engine, "after_cursor_execute", _after)
    touched = DateRange(min(days), max(days))
    began = time.perf_counter()
    rebuilt = store.refresh_rollups(touched)
    check = time.perf_counter() - began
    began = time.perf_counter()
    store.rebuild_rollups(touched)
    rebuild = time.perf_counter() - began
    return {
        "saved": saved,
        "saves_seconds": round(total, 3),
        "rollup_statements_seconds": round(spent["rollups"], 3),
        "rollup_statements": spent["statements"],
        "check_seconds": round(check, 3),
        "check_rebuilt": rebuilt,
        "rebuild_touched_days_seconds": round(rebuild, 3),
        "touched_days": touched.days,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--probes", type=int, default=10_000_000)
    parser.add_argument("--services", type=int, default=500)
    parser.add_argument(
        "--keep", type=Path, help="data directory to fill and keep (reused if full)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    home = args.keep or Path(tempfile.mkdtemp(prefix="bench-report-"))
    home.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"probes_asked": args.probes, "services": args.services}
    try:
        with Store.open(None, home=home) as store:
            stored = store.count()
        db = home / "guichets.sqlite"
        if stored < args.probes:
            written, _, _, seconds = fill(db, args.probes, args.services, seed=7)
            result["fill"] = {
                "probes": written,
                "seconds": round(seconds, 1),
                "per_second": round(written / seconds),
            }
            with Store.open(None, home=home) as store:
                days = store.probe_days()
                assert days is not None
                began = time.perf_counter()
                rows = store.rebuild_rollups(days)
                result["rebuild_all"] = {
                    "service_days": rows,
                    "days": days.days,
                    "seconds": round(time.perf_counter() - began, 1),
                }
        with Store.open(None, home=home) as store:
            days = store.probe_days()
            result["stored"] = store.count()
        assert days is not None
        result["first_day"], result["last_day"] = str(days.first), str(days.last)
        result["database_gb"] = round(
            sum(p.stat().st_size for p in home.glob("guichets.sqlite*")) / 1e9, 2
        )
        year = days.first.year + 1
        month = f"{year}-06"
        base = [sys.executable, "-m", "guichets", "report", "--home", str(home)]
        result["report_month_json"] = timed([*base, "--month", month, "--format", "json"])
        result["report_month_table"] = timed([*base, "--month", month])
        result["report_year_by_month"] = timed(
            [
                *base,
                "--from",
                f"{year}-01-01",
                "--to",
                f"{year}-12-31",
                "--by",
                "month",
                "--format",
                "json",
            ],
            repeat=1,
        )
        result["report_month_departements"] = timed(
            [*base, "--month", month, "--level", "departement", "--format", "json"], repeat=1
        )
        result["report_month_press"] = timed([*base, "--press", "--month", month], repeat=1)
        result["startup_only"] = timed([sys.executable, "-m", "guichets", "--version"])
        with Store.open(None, home=home) as store:
            last = max(o.started_at for o in store.observations(since=_latest(store)))
            result["run_of_1000"] = new_run(store, last + timedelta(minutes=1), 1000)
        result["month"] = month
        result["machine"] = {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "sqlite": sqlite3.sqlite_version,
        }
        result["bench_peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    finally:
        if args.keep is None:
            shutil.rmtree(home, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        for key, value in result.items():
            print(f"{key:<28} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
