"""The site's open data, on what the robot stored probing the demo's prefectures across 1 November.

Each month's CSV (gzip-compressed; the current month's also plain) must be, byte for byte, what
``guichets export observations --month`` writes (run here in this process, through the CLI's own
code), and together the whole export; its Parquet file the same values, typed; the package must
pass Frictionless's validation of its files (CSV, gzip CSV, Parquet) against their schemas; a
rebuild after a new run must write only the month that changed. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import dataclasses
import gzip
import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import frictionless
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from guichets.cli import app
from guichets.clock import SimulatedClock
from guichets.http import HostGates, Politeness
from guichets.model import Observation
from guichets.periods import Grain, month_range
from guichets.runner import Runner, from_catalogue
from guichets.schedule import Plan
from guichets.simulator import Simulator, load_scenario
from guichets.site import build as build_module
from guichets.site import opendata as opendata_module
from guichets.site import opendata_files
from guichets.site.build import build_site, kept_data, start_open_data
from guichets.site.opendata import PACKAGE, OpenData, observation_types, write_open_data
from guichets.site.opendata_files import MANIFEST, OBSERVATIONS
from guichets.stats.method import METHOD_VERSION
from guichets.stats.render import rows_csv, rows_json
from guichets.stats.report import Level, ReportRow, build_report
from guichets.store import Store
from guichets.store.export import (
    EXPORT_COLUMNS,
    RAW_COLUMNS,
    export_extent,
    export_row,
    export_rows,
    stored_count,
)
from guichets.store.export_read import RAW_TYPES, raw_tables
from guichets.usecases import figures as figures_module
from guichets.usecases.demo import DEMO_SCENARIO, simulated_catalogue
from guichets.usecases.figures import read_figures
from tests.dbfixtures import pg_base_url, pg_schema

# The robot on the demo's simulated prefectures from 29 October, 23:00 (Paris) for three days:
# two months. (``run_demo`` starts on 5 October: reaching November would take four weeks.)
SCENARIO = load_scenario(DEMO_SCENARIO)
START = SCENARIO.scenario.start + timedelta(days=25)
DAYS = 3
CADENCE = "6h"
CREATED = datetime(2026, 11, 2, 8, 30, tzinfo=UTC)


@dataclasses.dataclass(frozen=True)
class Demo:
    home: Path
    url: str | None

    def options(self) -> list[str]:
        return ["--home", str(self.home), *(["--db", self.url] if self.url else [])]

    def store(self) -> Store:
        return Store.open(self.url, home=self.home)


async def _robot(home: Path, url: str | None, start: datetime, days: int) -> None:
    """A run of the robot, as ``guichets demo`` makes one, from ``start`` for ``days``."""
    clock = SimulatedClock(start)
    async with Simulator(SCENARIO, clock=clock, hosts="loopback") as simulator:
        with Store.open(url, home=home) as store:
            runner = Runner(
                from_catalogue(simulated_catalogue(simulator, CADENCE)),
                store,
                clock,
                HostGates(clock, Politeness(min_gap=1.0)),
                seed=SCENARIO.scenario.seed,
                plan=Plan.RANDOM,
                concurrency=1,
            )
            summary = await runner.run(until=start + timedelta(days=days))
    assert summary.probes and not simulator.forbidden


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Demo]:
    """The robot's probes from 29 October to 1 November, on each backend."""
    home = tmp_path_factory.mktemp(f"opendata-{request.param}")
    if request.param == "sqlite":
        asyncio.run(_robot(home, None, START, DAYS))
        yield Demo(home, None)
        return
    with pg_schema(pg_base_url()) as url:
        asyncio.run(_robot(home, url, START, DAYS))
        yield Demo(home, url)


def _cli(*args: str) -> None:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output


def _export(demo: Demo, folder: Path, fmt: str, month: str | None = None) -> bytes:
    """What ``guichets export observations`` writes to a file."""
    out = folder / f"export-{month or 'all'}.{fmt}"
    _cli("export", "observations", "--format", fmt, "-o", str(out), *demo.options(),
         *(["--month", month] if month else []))  # fmt: skip
    return out.read_bytes()


def _monthly_rows(store: Store) -> list[ReportRow]:
    """What the site gives: the report's rows by month, France, départements and services."""
    days = store.probe_days()
    assert days is not None
    store.refresh_rollups(days)
    return [
        row
        for level in (Level.FRANCE, Level.DEPARTEMENT, Level.SERVICE)
        for row in build_report(store.rollups(days), days, level=level, grain=Grain.MONTH)
    ]


def _build(demo: Demo, folder: Path) -> tuple[OpenData, list[ReportRow]]:
    with demo.store() as store:
        rows = _monthly_rows(store)
        return write_open_data(store, folder, rows, created=CREATED), rows


def _months(data: OpenData) -> list[str]:
    return sorted({r.path[26:33] for r in data.resources if r.path.startswith("observations/")})


def _month_csv(data: OpenData, month: str) -> bytes:
    """The month's CSV, from its gzip file; the same as the plain one when there is one."""
    base = data.folder / f"observations/observations-{month}"
    text = gzip.decompress(Path(f"{base}.csv.gz").read_bytes())
    if Path(f"{base}.csv").exists():
        assert Path(f"{base}.csv").read_bytes() == text
    return text


def _parquet_as_csv(data: OpenData, month: str) -> list[list[str]]:
    """The month's Parquet file printed back as the CSV prints its cells, to compare values."""
    table = pq.read_table(data.folder / f"observations/observations-{month}.parquet")
    assert table.column_names == list(EXPORT_COLUMNS)
    cells = []
    for row in table.to_pylist():
        line = []
        for name in EXPORT_COLUMNS:
            value = row[name]
            if value is None:
                line.append("")
            elif isinstance(value, datetime):
                line.append(value.isoformat())
            else:
                line.append(str(value))
        cells.append(line)
    return cells


def _same_as_the_cli(demo: Demo, data: OpenData, scratch: Path) -> None:
    """Every month's files equal the CLI's export of the month; the CSVs add up to the whole;
    the Parquet files hold the same values."""
    months = _months(data)
    csvs = []
    for month in months:
        written = _month_csv(data, month)
        assert written == _export(demo, scratch, "csv", month), month
        csvs.append(written)
        table = list(csv.reader(io.StringIO(written.decode("utf-8"))))[1:]
        typed = _parquet_as_csv(data, month)
        instants = [EXPORT_COLUMNS.index(c) for c in ("started_at", "finished_at")]
        for row, values in zip(table, typed, strict=True):
            for at in instants:  # in UTC in both, spelt alike but for a zero microsecond
                row[at] = datetime.fromisoformat(row[at]).isoformat()
                values[at] = datetime.fromisoformat(values[at]).isoformat()
            assert row == values
    header = csvs[0].split(b"\n", 1)[0] + b"\n"
    assert all(c.startswith(header) for c in csvs)
    whole = header + b"".join(c[len(header) :] for c in csvs)
    assert whole == _export(demo, scratch, "csv")


def _stamps(folder: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime) of each observation file: a file written again gets a new inode."""
    return {
        f.name: (f.stat().st_ino, f.stat().st_mtime_ns)
        for f in sorted((folder / "observations").iterdir())
        if not f.name.startswith(".")  # the manifest
    }


def _validate(folder: Path) -> tuple[bool, list[list[Any]]]:
    """Frictionless's verdict on the package and its files, and its errors."""
    report = frictionless.validate(str(folder / PACKAGE))
    return bool(report.valid), report.flatten(["type", "note", "rowNumber", "fieldName"])


# -- the files ----------------------------------------------------------------------------------


def test_the_fast_export_prints_each_probe_as_its_observation(demo: Demo) -> None:
    """The rows read straight from SQL are the stored observations' own rows."""
    with demo.store() as store:
        expected = [tuple(export_row(o).values()) for o in store.observations()]
        assert list(export_rows(store)) == expected
        assert len(expected) == store.count()
    assert len({row[EXPORT_COLUMNS.index("category")] for row in expected}) > 3


def test_the_columns_read_by_adbc_are_the_cursors(demo: Demo) -> None:
    """A SQLite file is read through ADBC's driver, straight into columns: the same tables as
    the driver's cursor gives, in pages small enough to resume after many a last row."""
    since, until = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    with demo.store() as store:
        assert (store.sqlite_file() is not None) == (demo.url is None)
        fast = list(raw_tables(store, since, until, rows=7))
        slow = list(raw_tables(store, since, until, rows=7, adbc=False))
        whole = list(raw_tables(store, since, until))
        total = store.count()
    assert [t.num_rows for t in fast] == [t.num_rows for t in slow]
    assert all(t.num_rows == 7 for t in fast[:-1]) and len(fast) > 3
    assert pa.concat_tables(fast).equals(pa.concat_tables(slow))
    assert pa.concat_tables(whole).equals(pa.concat_tables(fast))
    assert sum(t.num_rows for t in whole) == total
    assert (
        pa.concat_tables(fast).schema == pa.schema([pa.field(n, RAW_TYPES[n]) for n in RAW_COLUMNS])
        or demo.url is not None
    )  # PostgreSQL's instants are timestamps


@pytest.mark.parametrize("demo", ["sqlite"], indirect=True)  # ADBC reads SQLite files only
def test_probes_started_at_one_instant_are_read_in_id_order(demo: Demo, tmp_path: Path) -> None:
    """ADBC's pages are read in start order alone, their ties put in id order after the read
    (``export_read._in_start_order``): with many probes started at the same instants, across
    pages and filling several pages, the pages are still the cursor's (start, then id)."""
    assert demo.url is None
    home = tmp_path / "home"
    shutil.copytree(demo.home, home, ignore=shutil.ignore_patterns("site", "cache", "opendata"))
    with contextlib.closing(sqlite3.connect(home / "guichets.sqlite")) as db, db:
        ids = [i for (i,) in db.execute("SELECT probe_id FROM probes ORDER BY started_at")]
        tied = {i: n // 5 for n, i in enumerate(ids[: len(ids) // 2])}  # instants of 5 probes
        tied |= dict.fromkeys(ids[len(ids) // 2 : len(ids) // 2 + 40], -1)  # one of 40
        for probe_id, group in tied.items():
            at = datetime(2026, 10, 30, 12, tzinfo=UTC) + timedelta(microseconds=group)
            db.execute(
                "UPDATE probes SET started_at = ? WHERE probe_id = ?",
                (at.strftime("%Y-%m-%d %H:%M:%S.%f"), probe_id),
            )
    since, until = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    with Store.open(home=home) as store:
        for rows in (3, 7, 16, 50_000):
            fast = list(raw_tables(store, since, until, rows=rows))
            slow = list(raw_tables(store, since, until, rows=rows, adbc=False))
            assert [t.num_rows for t in fast] == [t.num_rows for t in slow]
            assert all(a.equals(b) for a, b in zip(fast, slow, strict=True)), rows
        assert sum(t.num_rows for t in fast) == store.count()


def test_each_month_is_the_cli_export_of_that_month(demo: Demo, tmp_path: Path) -> None:
    data, _ = _build(demo, tmp_path / "donnees")
    assert _months(data) == ["2026-10", "2026-11"]
    _same_as_the_cli(demo, data, tmp_path)
    with demo.store() as store:
        total = store.count()
    observations = [r for r in data.resources if r.path.startswith("observations/")]
    assert sum(r.rows for r in observations if r.format == "parquet") == total
    for resource in data.resources:
        file = data.folder / resource.path
        assert file.stat().st_size == resource.bytes
        if resource.format == "csv.gz":
            assert gzip.decompress(file.read_bytes()).count(b"\n") == resource.rows + 1
        elif resource.format == "csv" and resource.path.startswith("observations/"):
            assert file.read_bytes().count(b"\n") == resource.rows + 1
        elif resource.format == "parquet":
            assert pq.read_metadata(file).num_rows == resource.rows
    titles = {r.path: (r.title, r.title_en) for r in data.resources}
    assert titles["observations/observations-2026-10.csv.gz"] == (
        "Sondages d'octobre 2026 (CSV compressé (gzip))",
        "Probes of October 2026 (gzip-compressed CSV)",
    )
    assert titles["observations/observations-2026-11.parquet"] == (
        "Sondages de novembre 2026 (Parquet)",
        "Probes of November 2026 (Parquet)",
    )
    # The current month, and only it, also as plain CSV.
    plain = sorted(r.path for r in observations if r.format == "csv")
    assert plain == ["observations/observations-2026-11.csv"]
    assert data.rewritten == len(data.resources) + 1  # and the package
    assert not list(data.folder.rglob("*.partial"))


def test_the_figures_are_the_report_rows_with_the_method_version(
    demo: Demo, tmp_path: Path
) -> None:
    data, rows = _build(demo, tmp_path / "donnees")
    assert {r.level for r in rows} == {Level.FRANCE, Level.DEPARTEMENT, Level.SERVICE}
    assert len({r.period for r in rows}) == 2
    figures = {r.format: r for r in data.resources if r.path.startswith("chiffres-mensuels")}
    assert figures["csv"].rows == figures["json"].rows == len(rows)

    table = list(csv.reader(io.StringIO((data.folder / "chiffres-mensuels.csv").read_text())))
    report = list(csv.reader(io.StringIO(rows_csv(rows))))
    assert table[0] == ["method_version", "key", *report[0]]
    assert len(table) == len(report) == len(rows) + 1
    assert table[1:] == [
        [METHOD_VERSION, row.key, *cells] for row, cells in zip(rows, report[1:], strict=True)
    ]

    published = json.loads((data.folder / "chiffres-mensuels.json").read_text())
    expected = [
        {"method_version": METHOD_VERSION, "key": row.key, **fields}
        for row, fields in zip(rows, json.loads(rows_json(rows)), strict=True)
    ]
    assert published == expected
    assert all(list(p)[:3] == ["method_version", "key", "level"] for p in published)


def test_each_row_s_figures_lines_printed_together_are_those_it_prints_alone(demo: Demo) -> None:
    """The monthly figures' lines are kept row by row (``site/figures_text.py``) and printed a
    month's rows at once (``figures_csv_lines``, ``figures_json_lines``): each row's lines are
    those it prints alone, whatever its name holds (a line break, which CSV quotes, a quote, a
    formula's first character, a carriage return, a line separator JSON escapes), and the two
    files are their lines put together."""
    with demo.store() as store:
        rows = _monthly_rows(store)
    odd = ["deux\nlignes", 'un "guillemet", une virgule', "=1+1", "retour\r\nchariot", "l\u2028s"]
    for row, label in zip(rows[-len(odd) :], odd, strict=True):
        row.label = label
    header, csv_lines = opendata_module.figures_csv_lines(rows)
    json_lines = opendata_module.figures_json_lines(rows)
    alone_header = opendata_module.figures_csv([])
    assert header == alone_header
    for row, csv_line, json_line in zip(rows, csv_lines, json_lines, strict=True):
        assert csv_line == opendata_module.figures_csv([row])[len(alone_header) :]
        assert json_line == opendata_module.figures_json([row]).split("\n")[1]
    assert opendata_module.figures_csv(rows) == header + "".join(csv_lines)
    assert opendata_module.figures_json(rows) == "[\n" + ",\n".join(json_lines) + "\n]\n"
    assert "deux\nlignes" in "".join(csv_lines) and "\\u2028" in "".join(json_lines)
    assert opendata_module.figures_json_lines([]) == [] and opendata_module.figures_json([]) == (
        "[]\n"
    )


def test_the_package_validates(demo: Demo, tmp_path: Path) -> None:
    data, _ = _build(demo, tmp_path / "donnees")
    valid, errors = _validate(data.folder)
    assert valid, errors

    package = json.loads((data.folder / PACKAGE).read_text("utf-8"))
    assert package["profile"] == "tabular-data-package"
    assert package["name"] == "guichets-observatoire"
    assert package["version"] == METHOD_VERSION
    assert package["created"] == "2026-11-02T08:30:00Z"
    assert [lic["name"] for lic in package["licenses"]] == ["etalab-2.0"]
    listed = {r["path"]: r for r in package["resources"]}
    assert set(listed) == {r.path for r in data.resources if r.format != "json"}
    for path, resource in listed.items():
        if path.endswith(".parquet"):
            header = pq.read_schema(data.folder / path).names
        else:
            raw = (data.folder / path).read_bytes()
            raw = gzip.decompress(raw) if path.endswith(".gz") else raw
            header = raw.decode("utf-8").split("\n", 1)[0].split(",")
        fields = resource["schema"]["fields"]
        assert [f["name"] for f in fields] == header
        assert all(f["description"] and f["type"] != "any" for f in fields)
        digest = hashlib.sha256((data.folder / path).read_bytes()).hexdigest()
        assert resource["hash"] == f"sha256:{digest}"
        if not path.endswith(".parquet"):  # Frictionless cannot count a Parquet file's bytes
            assert resource["bytes"] == (data.folder / path).stat().st_size
    assert listed["observations/observations-2026-10.csv.gz"]["compression"] == "gz"
    assert listed["observations/observations-2026-10.parquet"]["format"] == "parquet"
    observations = listed["observations/observations-2026-10.csv.gz"]["schema"]
    assert observations["primaryKey"] == ["probe_id"]
    types = {f["name"]: f["type"] for f in observations["fields"]}
    assert types["started_at"] == "datetime"
    assert types["day"] == "date"
    assert types["slots_count"] == "integer"

    # The schemas are checked, not only written: a value outside them fails the validation.
    broken = tmp_path / "broken"
    shutil.copytree(data.folder, broken)
    october = broken / "observations/observations-2026-10.csv.gz"
    text = gzip.decompress(october.read_bytes()).decode("utf-8")
    october.write_bytes(gzip.compress(text.replace(",unavailable,", ",closed,", 1).encode()))
    valid, errors = _validate(broken)
    assert not valid
    assert {e[0] for e in errors} == {"constraint-error", "hash-count", "byte-count"}
    assert all(e[0] != "constraint-error" or e[3] == "outcome" for e in errors)

    # The same in a Parquet file: its values are checked against the same schema.
    broken = tmp_path / "broken-parquet"
    shutil.copytree(data.folder, broken)
    november = broken / "observations/observations-2026-11.parquet"
    table = pq.read_table(november)
    outcomes = table.column("outcome").to_pylist()
    outcomes[0] = "closed"
    at = table.column_names.index("outcome")
    pq.write_table(table.set_column(at, "outcome", pa.array(outcomes, pa.string())), november)
    valid, errors = _validate(broken)
    assert not valid
    assert [e[0] for e in errors if e[0] != "hash-count"] == ["constraint-error"]
    assert [e[3] for e in errors if e[0] == "constraint-error"] == ["outcome"]


# -- rebuilding ---------------------------------------------------------------------------------


def _changed(folder: Path, before: dict[str, tuple[int, int]]) -> set[str]:
    """The observation files written since ``before`` was taken."""
    now = _stamps(folder)
    return {name for name in now if now[name] != before.get(name)}


def _copy_of(store: Store, probe: Observation, started_at: datetime) -> None:
    """Another probe like ``probe``, started at ``started_at``, stored now."""
    shift = started_at - probe.started_at
    assert store.save(
        dataclasses.replace(
            probe,
            probe_id=uuid.uuid4().hex,
            started_at=started_at,
            finished_at=probe.finished_at + shift,
            slots=tuple(slot + shift for slot in probe.slots),
            horizon_end=None if probe.horizon_end is None else probe.horizon_end + shift,
        )
    )


def test_a_rebuild_writes_only_what_changed(demo: Demo, tmp_path: Path) -> None:
    """Runs last in this module: it adds probes to the module's store."""
    folder = tmp_path / "donnees"
    first, _ = _build(demo, folder)
    stamps = _stamps(folder)
    again, _ = _build(demo, folder)
    assert again.rewritten == 0  # nothing new: not even the figures or the package
    assert again.resources == first.resources
    assert _changed(folder, stamps) == set()
    november = {f"observations-2026-11.{kind}" for kind in ("csv.gz", "parquet", "csv")}
    october = {f"observations-2026-10.{kind}" for kind in ("csv.gz", "parquet")}

    # One more run of the robot: its probes all fall in November.
    stamps = _stamps(folder)
    asyncio.run(_robot(demo.home, demo.url, START + timedelta(days=DAYS), 1))
    build, _ = _build(demo, folder)
    assert build.rewritten == len(november) + 3  # and the figures' two files, the package
    assert _changed(folder, stamps) == november
    _same_as_the_cli(demo, build, tmp_path)
    rows = {r.path: r.rows for r in build.resources}
    assert rows["observations/observations-2026-11.csv"] > next(
        r.rows for r in first.resources if r.path == "observations/observations-2026-11.csv"
    )

    # A probe of a worker still busy during the build, saved after it and ten minutes before
    # November's newest one; then a probe stored late inside October. Each time, only the files
    # of that month are written again.
    with demo.store() as store:
        newest = max(o.started_at for o in store.observations(since=START + timedelta(days=DAYS)))
        probe = next(store.observations(since=newest - timedelta(hours=3)))
        _copy_of(store, probe, newest - timedelta(minutes=10))
    stamps = _stamps(folder)
    build, _ = _build(demo, folder)
    assert _changed(folder, stamps) == november
    _same_as_the_cli(demo, build, tmp_path)

    with demo.store() as store:
        probe = next(store.observations(until=START + timedelta(days=1)))
        _copy_of(store, probe, probe.started_at + timedelta(seconds=1))
    stamps = _stamps(folder)
    build, _ = _build(demo, folder)
    assert _changed(folder, stamps) == october
    _same_as_the_cli(demo, build, tmp_path)

    # A damaged file is written again; leftovers of an interrupted build, the files of a month
    # without probes and those of the former layout (JSON Lines) go.
    damaged = folder / "observations/observations-2026-11.csv.gz"
    damaged.write_bytes(damaged.read_bytes()[:-10])
    stray = [
        folder / "observations/observations-2026-09.csv.gz",
        folder / "observations/observations-2026-10.jsonl",
        folder / "observations/observations-2026-10.csv",
        folder / ".datapackage.json.partial",
    ]
    for file in stray:
        file.write_text("left over\n", "utf-8")
    stamps = _stamps(folder)
    build, _ = _build(demo, folder)
    assert not any(file.exists() for file in stray)
    assert _changed(folder, stamps) == november
    _same_as_the_cli(demo, build, tmp_path)
    manifest: dict[str, Any] = json.loads((folder / "observations" / MANIFEST).read_text("utf-8"))
    assert sorted(manifest["months"]) == ["2026-10", "2026-11"]
    valid, errors = _validate(folder)
    assert valid, errors


def test_month_files_are_kept_and_linked(demo: Demo, tmp_path: Path) -> None:
    """Kept in the data directory, written once, and hard links in every site built from them."""
    keep = tmp_path / "kept"
    sites = [tmp_path / "a" / "donnees", tmp_path / "b" / "donnees"]
    with demo.store() as store:
        rows = _monthly_rows(store)
        first = write_open_data(store, sites[0], rows, created=CREATED, keep=keep)
        second = write_open_data(store, sites[1], rows, created=CREATED, keep=keep)
    assert first.resources == second.resources
    months = [r.path for r in first.resources if r.path.startswith("observations/")]
    assert first.rewritten == len(months) + 3
    assert second.rewritten == 3  # its own figures and package; the months were kept
    for path in months:
        kept = keep / path
        assert all(kept.stat().st_ino == (site / path).stat().st_ino for site in sites)
    assert not (sites[0] / "observations" / MANIFEST).exists()


def _stamped(kept: Path) -> dict[str, Any]:
    """Each kept month's fingerprint, as its manifest says."""
    manifest = json.loads((kept / OBSERVATIONS / MANIFEST).read_text("utf-8"))
    return {k: v["fingerprint"] for k, v in manifest["months"].items()}


def test_month_files_started_before_the_figures(
    demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As ``guichets site build`` does at a first build: the month files started in a child
    process before the figures are read, their fingerprints given afterwards; the months are
    stamped with them, so that the next build with the same figures counts no month's probes
    again (and starts them itself, with the fingerprints)."""
    home = tmp_path / "data"
    kept = kept_data(home)
    assert kept is not None
    prints = {"2026-10": "print-of-october", "2026-11": "print-of-november"}
    with demo.store() as store:
        months = start_open_data(store, home, workers=2)
        assert months is not None
        months.remember(prints)
        found, written = months.result()
        assert [m.label for m in found] == ["2026-10", "2026-11"] and written == 5
        assert _stamped(kept) == prints

        def no_count(*_: object) -> None:
            raise AssertionError("a month was counted again")

        monkeypatch.setattr(opendata_files, "export_extent", no_count)
        again = opendata_files.observation_files(
            store, kept / OBSERVATIONS, observation_types(), fingerprints=prints
        )
    assert again == (found, 0)


def _no_count(*_: object) -> None:
    raise AssertionError("a month was counted in the build's process")


def _counted_only_from(monkeypatch: pytest.MonkeyPatch, label: str) -> None:
    """``export_extent`` (counting a month's probes) refused for the months before ``label``,
    here and in the processes forked after."""
    year, month = (int(part) for part in label.split("-"))
    first = month_range(year, month).start

    def counted(store: Store, since: datetime, until: datetime) -> Any:
        if since < first:
            raise AssertionError(f"a month before {label} was counted")
        return export_extent(store, since, until)

    monkeypatch.setattr(opendata_files, "export_extent", counted)


def test_a_rebuild_s_month_files_start_before_the_figures(
    demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Months kept (a rebuild): the month files start before the figures are read too; the
    latest month, the one a run moves, is brought up to date before the fingerprints are known
    (by its count), the closed ones are skipped by their fingerprint once given, uncounted, and
    the latest month is stamped with its own, so that the next build counts nothing again."""
    home = tmp_path / "data"
    kept = kept_data(home)
    assert kept is not None
    prints = {"2026-10": "print-of-october", "2026-11": "print-of-november"}
    with demo.store() as store:
        first = start_open_data(store, home, workers=2)
        assert first is not None
        first.remember(prints)
        found, _ = first.result()
        november = kept / OBSERVATIONS / "observations-2026-11.csv"
        november.unlink()  # to be written again, before the fingerprints come
        _counted_only_from(monkeypatch, "2026-11")
        months = start_open_data(store, home, workers=2)
        assert isinstance(months, opendata_files.InBackground)
        # Written while this process has not given the fingerprints yet: waited for as long as
        # the child lives (a bound only a hung child reaches, not a busy machine's 60 s).
        hung = time.monotonic() + 600
        while not november.exists() and months._process.is_alive():
            assert time.monotonic() < hung, "November was not written before the fingerprints"
            time.sleep(0.1)
        assert november.exists()
        # Nothing is counted in this process: the child stamps the months (given twice, as
        # build_site and the builder each do).
        monkeypatch.setattr(opendata_files, "export_extent", _no_count)
        months.remember(prints)
        months.remember(prints)
        assert months.result() == (found, 3)  # November's three files
        assert _stamped(kept) == prints

        # Nothing new: nothing written; a closed month's new fingerprint (its figures moved,
        # not its probes) has it counted, found the same and stamped with it.
        _counted_only_from(monkeypatch, "2026-10")
        moved = {**prints, "2026-10": "october-again"}
        months = start_open_data(store, home, workers=2)
        assert months is not None
        months.remember(moved)
        assert months.result() == (found, 0)
        assert _stamped(kept) == moved


def test_a_rebuild_s_month_files_stopped_or_never_told(demo: Demo, tmp_path: Path) -> None:
    """A rebuild's month files wait for the fingerprints: stopped (the figures could not be
    read), the process ends and the kept months stay as they were; never told (the build's end
    of the pipe closed), it ends with an error instead of waiting for ever."""
    home = tmp_path / "data"
    kept = kept_data(home)
    assert kept is not None
    with demo.store() as store:
        first = start_open_data(store, home, workers=2)
        assert first is not None
        found, _ = first.result()
        manifest = (kept / OBSERVATIONS / MANIFEST).read_bytes()
        months = start_open_data(store, home, workers=2)
        assert isinstance(months, opendata_files.InBackground)
        months.stop()
        assert months._process.exitcode is not None  # the child, reaped
        assert (kept / OBSERVATIONS / MANIFEST).read_bytes() == manifest
        months = start_open_data(store, home, workers=2)
        assert isinstance(months, opendata_files.InBackground)
        months._prints.close()  # as when this process ends before it knows them
        months._prints = None
        with pytest.raises(RuntimeError, match="no fingerprints came from the build"):
            months.result()
        again = start_open_data(store, home, workers=2)  # never told: every month counted
        assert again is not None
        assert again.result() == (found, 0)


# A site build in ``guichets run --site``: in a thread of a process whose event loop stops the run
# on SIGTERM (``usecases/run.py``, ``stop_on_signals``), its figures failing to be read.
_STOPPED_IN_A_RUN = """
import asyncio, signal, sys
from pathlib import Path
from guichets.site.build import start_open_data
from guichets.store import Store

source, url, home = Path(sys.argv[1]), sys.argv[2] or None, Path(sys.argv[3])


async def main() -> None:
    told = []
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, lambda: told.append(1))

    def build() -> None:
        with Store.open(url, home=source) as store:
            months = start_open_data(store, home, workers=2)
            assert months is not None and months._prints is not None  # waits for them
            months.stop()
            months.stop()

    await asyncio.to_thread(build)
    print("run told to stop" if told else "stopped", flush=True)


asyncio.run(main())
"""


def test_a_rebuild_s_month_files_stopped_in_a_run(demo: Demo, tmp_path: Path) -> None:
    """The month files' process, forked by a build in ``guichets run --site``, ends when the
    build stops it (twice): it does not take the run's SIGTERM handler (before: the stop was
    ignored, the child waited for the fingerprints and the build for the child, for ever)."""
    home = tmp_path / "data"
    with demo.store() as store:
        first = start_open_data(store, home, workers=2)
        assert first is not None
        first.result()
    done = subprocess.run(
        [sys.executable, "-c", _STOPPED_IN_A_RUN, str(demo.home), demo.url or "", str(home)],
        capture_output=True,
        text=True,
        timeout=600,  # a hang's bound only: the stop takes a second
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, "stopped\n"), done.stderr


def test_months_written_anew_are_counted_as_they_are_read(
    demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Months never written are not counted before they are (``export_extent`` reads each
    row): their writer counts the probes it writes, and the manifest says what ``export_extent``
    would, with the month's stored probes counted from the index (``stored``), which the stamp
    of the fingerprints compares instead of counting the month again."""
    folder = tmp_path / "observations"
    prints = {"2026-10": "print-of-october", "2026-11": "print-of-november"}
    with demo.store() as store:
        monkeypatch.setattr(opendata_files, "export_extent", _no_count)
        found, written = opendata_files.observation_files(
            store, folder, observation_types(), workers=2
        )
        assert [m.label for m in found] == ["2026-10", "2026-11"] and written == 5
        assert opendata_files.stamp_fingerprints(store, folder, prints) == 2
        monkeypatch.undo()
        manifest = json.loads((folder / MANIFEST).read_text("utf-8"))["months"]
        for label, entry in manifest.items():
            days = month_range(*map(int, label.split("-")))
            count, last = export_extent(store, days.start, days.end)
            assert last is not None and entry["probes"] == count > 0
            assert entry["last"] == [last[0].isoformat(), last[1]]
            assert entry["stored"] == stored_count(store, days) >= count
            assert entry["fingerprint"] == prints[label]


@pytest.mark.parametrize("demo", ["sqlite"], indirect=True)  # on a copy of the SQLite file
def test_a_month_whose_probes_moved_is_not_stamped(
    demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A probe saved in a month after its files were written (its stored count moved): the
    month is not stamped with the figures' fingerprint, the others are; a month without probes
    between two with probes has no files (the same code reads PostgreSQL's counts)."""
    assert demo.url is None
    home = tmp_path / "home"
    shutil.copytree(demo.home, home, ignore=shutil.ignore_patterns("site", "cache", "opendata"))
    folder = tmp_path / "observations"
    with Store.open(home=home) as store:
        first = next(iter(store.observations()))
        back = timedelta(days=62)  # two months earlier: the month between has no probe
        store.save(
            dataclasses.replace(
                first,
                probe_id="0" * 28 + "a9e5",
                started_at=first.started_at - back,
                finished_at=first.finished_at - back,
            )
        )
        monkeypatch.setattr(opendata_files, "export_extent", _no_count)
        found, _ = opendata_files.observation_files(store, folder, observation_types())
        labels = [m.label for m in found]
        assert len(labels) == 3 and labels[1:] == ["2026-10", "2026-11"]
        assert sorted(f.name for f in folder.iterdir() if "-09." in f.name) == []
        store.save(dataclasses.replace(first, probe_id="0" * 28 + "0c70"))  # in October
        prints = {label: f"print-of-{label}" for label in labels}
        assert opendata_files.stamp_fingerprints(store, folder, prints) == 2
    manifest = json.loads((folder / MANIFEST).read_text("utf-8"))["months"]
    assert [label for label in labels if manifest[label]["fingerprint"]] == [
        labels[0],
        "2026-11",
    ]


def test_a_build_that_fails_stops_the_month_files(demo: Demo, tmp_path: Path) -> None:
    """The month files' process (and its workers) ends with a build that failed before it
    asked for them."""
    with demo.store() as store:
        months = start_open_data(store, tmp_path / "data", workers=2)
        assert isinstance(months, opendata_files.InBackground)
        months.stop()
    assert months._process.exitcode is not None  # the child, reaped


def test_months_computed_in_workers_are_those_of_one_process(
    demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The months' rows computed in two forked workers (each with its own connections to the
    same database) are those computed one after another here, kept in the cache alike, and
    read back from it; the fingerprints are the same."""
    computed_in = tmp_path / "pids"
    report_rows = figures_module.report_rows

    def noted(*args: Any, **kwargs: Any) -> Any:
        with computed_in.open("a") as out:
            out.write(f"{os.getpid()}\n")
        return report_rows(*args, **kwargs)

    monkeypatch.setattr(figures_module, "report_rows", noted)
    at = datetime(2027, 1, 1, tzinfo=UTC)
    with demo.store() as store:
        alone = read_figures(store, None, generated_at=at, workers=1, cache=tmp_path / "one")
        assert set(computed_in.read_text().split()) == {str(os.getpid())}
        computed_in.unlink()
        pooled = read_figures(store, None, generated_at=at, workers=2, cache=tmp_path / "two")
        pids = set(computed_in.read_text().split())
        assert pids and str(os.getpid()) not in pids  # computed in the workers, not here
        again = read_figures(store, None, generated_at=at, workers=2, cache=tmp_path / "two")
        afresh = read_figures(store, None, generated_at=at, workers=2)
    assert len(alone.months) == 2  # October and November: two months to share
    rows = [row.to_json() for row in alone.monthly_rows]
    for figures in (pooled, again, afresh):
        assert [row.to_json() for row in figures.monthly_rows] == rows
        assert figures.press_markdown == alone.press_markdown
    assert pooled.fingerprints == again.fingerprints == alone.fingerprints
    assert sorted(p.name for p in (tmp_path / "two").glob("20*.pickle")) == [
        "2026-10.pickle",
        "2026-11.pickle",
    ]


def test_release_analyses_computed_in_workers_are_those_of_one_process(
    demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The closed months' release analyses of a first build's archive pages, computed in two
    forked workers (each with its own connections to the same database) while the open data is
    finished, are those computed one after another here: the same analyses, the same pages byte
    for byte. A rebuild, which copies the frozen pages back, computes none. (The month files'
    writer, which gives a first build's closed months from its own read, is kept out of it
    here: ``tests/test_site_month_points.py``.)"""
    monkeypatch.setattr(opendata_module, "months_to_analyse", lambda *_: frozenset())
    computed_in = tmp_path / "analyses"
    release_rows = build_module.release_rows

    def noted(*args: Any, **kwargs: Any) -> Any:
        found = release_rows(*args, **kwargs)
        with computed_in.open("a") as out:
            out.write(json.dumps([os.getpid(), [r.to_json() for r in found]]) + "\n")
        return found

    def analyses() -> tuple[set[int], list[str]]:
        lines = [json.loads(line) for line in computed_in.read_text().splitlines()]
        computed_in.unlink()
        return {pid for pid, _ in lines}, sorted(json.dumps(found) for _, found in lines)

    def archives(out: Path) -> dict[str, bytes]:
        found = sorted(p for p in out.rglob("*.html") if "archives" in p.relative_to(out).parts)
        return {str(p.relative_to(out)): p.read_bytes() for p in found}

    monkeypatch.setattr(build_module, "release_rows", noted)
    at = datetime(2027, 1, 1, tzinfo=UTC)  # October and November closed: two months to share
    one, two = tmp_path / "one", tmp_path / "two"
    with demo.store() as store:
        figures = read_figures(store, None, generated_at=at, workers=1)
        build_site(store, figures, one, contact="ops@example.invalid", workers=1)
        pids, alone = analyses()
        assert pids == {os.getpid()} and len(alone) == 2  # one analysis a month, for both languages
        build_site(store, figures, two, contact="ops@example.invalid", workers=2)
        pids, pooled = analyses()
        assert pids and os.getpid() not in pids  # computed in the workers, not here
        build_site(store, figures, two, contact="ops@example.invalid", workers=2)
        assert not computed_in.exists()  # the months' pages are frozen: nothing to analyse
    assert pooled == alone
    pages = archives(one)
    assert len(pages) == 2 * 3  # two months and the index, in two languages
    assert archives(two) == pages


def test_a_file_s_text_is_compared_and_written_a_chunk_at_a_time(tmp_path: Path) -> None:
    """The monthly figures' files (tens of MB at national scale) are never put together whole:
    their lines are compared with the file, then written, a chunk at a time, with the same bytes
    and digest as the text joined."""
    from guichets.site.opendata import Text, _stream_if_changed

    lines = [f'{{"n": {i}, "label": "Préfecture n° {i}"}}' for i in range(2000)]
    text = Text("[\n", lines, ",\n", "\n]\n")
    whole = str(text).encode("utf-8")
    assert b"".join(text.chunks(size=100)) == whole
    assert b"".join(Text("only a head").chunks()) == b"only a head"
    path = tmp_path / "figures.json"
    expected = {"bytes": len(whole), "sha256": hashlib.sha256(whole).hexdigest()}
    assert _stream_if_changed(path, text) == (True, expected)
    assert path.read_bytes() == whole
    assert _stream_if_changed(path, text) == (False, expected)  # the same bytes: left alone
    longer = Text("[\n", [*lines, "{}"], ",\n", "\n]\n")
    assert _stream_if_changed(path, longer)[0] and path.read_bytes() == str(longer).encode()
    path.write_bytes(whole + b" ")  # the text is a prefix of the file: not the same
    assert _stream_if_changed(path, text) == (True, expected)


@pytest.mark.parametrize("where", ["FTTFT", "TFFTF", "FFFF", "TTT", "FTFTFTFF", ""])
def test_kept_closed_lines_merged_with_the_latest_give_the_lines_joined(
    tmp_path: Path, where: str
) -> None:
    """``figures_text``: the closed months' lines read from their file a run of rows at a time,
    the latest month's between them, are the file's text (a closed row last included)."""
    from guichets.site.figures_text import Merged, _keep_closed, _kept_offsets

    latest_of = [c == "T" for c in where]
    lines = [f'{{"row": {i}, "label": "Été n° {i}"}}' for i in range(len(where))]
    closed = [line for line, new in zip(lines, latest_of, strict=True) if not new]
    latest = [line for line, new in zip(lines, latest_of, strict=True) if new]
    csv_closed = [f"{line}\n" for line in closed]
    path = tmp_path / "closed.bin"
    # Two months, their rows interleaved as a service's months are among the rows.
    periods = ["2026-0" + str(1 + i % 2) for i in range(len(closed))]
    months = [
        (p, [(c, j) for c, j, q in zip(csv_closed, closed, periods, strict=True) if q == p])
        for p in sorted(set(periods), reverse=True)
    ]
    made = _keep_closed(path, ("key",), periods, months)
    assert _kept_offsets(path, ("key",), len(closed)) == made
    assert _kept_offsets(path, ("other key",), len(closed)) is None
    json_text = Merged(path, made, 1, latest_of, latest, b"[\n", b",\n", b"\n]\n")
    assert str(json_text) == "[\n" + ",\n".join(lines) + "\n]\n"
    csv_text = Merged(path, made, 0, latest_of, [f"{x}\n" for x in latest], b"h\n", b"", b"")
    assert str(csv_text) == "h\n" + "".join(f"{line}\n" for line in lines)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="a build killed halfway: needs fork")
def test_a_build_killed_while_spilling_the_closed_lines_leaves_nothing_in_the_cache(
    tmp_path: Path,
) -> None:
    """``figures_text._keep_closed`` spills each closed month's lines before copying them in the
    rows' order: a build killed meanwhile (a cron timeout, the OOM killer: no ``finally`` runs)
    must not leave the spilled lines in the cache, where no later build would ever remove them
    (about 110 MB at three years of 500 services)."""
    from guichets.site.figures_text import _keep_closed

    cache = tmp_path / "cache"
    cache.mkdir()
    periods = ["2026-01", "2026-02", "2026-01", "2026-02"]

    def months() -> Iterator[tuple[str, list[tuple[str, str]]]]:
        yield "2026-02", [("a,2\n", '{"a": 2}'), ("b,2\n", '{"b": 2}')]
        os._exit(9)  # killed with the first month spilled

    child = os.fork()
    if child == 0:  # pragma: no cover - the child never returns
        try:
            _keep_closed(cache / "closed.bin", ("key",), periods, months())
        finally:
            os._exit(1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 9
    assert sorted(p.name for p in cache.iterdir()) == []
