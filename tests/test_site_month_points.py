"""A closed month's batch releases from the month files' read (``site/month_points.py``): the
same as the release analysis's own read of the probes (``release_rows(iter_probe_points)``),
whatever that read takes and the export's leaves: replicates (read besides), assisted reads
(left out), a stored category other than the slots' (the stored one), ties (the month's own
read then). And the archive pages rendered from them are those rendered from the old read."""

from __future__ import annotations

import contextlib
import random
import shutil
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from guichets.model import PARIS, Observation, Outcome
from guichets.periods import month_range
from guichets.site import build as build_module
from guichets.site import opendata as opendata_module
from guichets.site.build import build_site
from guichets.site.month_points import MonthPoints
from guichets.site.opendata import observation_types
from guichets.site.opendata_files import observation_files
from guichets.stats.releases import release_rows
from guichets.store import Store, as_utc
from guichets.store.probes import Origin
from guichets.usecases.figures import read_figures
from tests.observations import observation

OCTOBER = month_range(2026, 10)
BATCHES = ("svc-b", "Svc-c", "svc-a")  # stored in this order; SQLite sorts them byte by byte
AT = datetime(2027, 1, 5, tzinfo=UTC)  # the build's instant: October and November closed


def _probe(service: str, at: datetime, dated: bool, n: int, **more: Any) -> Observation:
    """A probe of ``service`` at ``at`` that found a date three days ahead, or none."""
    found = observation(n, at, days=(3,) if dated else (), service=service, departement="33")
    return replace(found, **more)


def _released(at: datetime, weekday: int) -> bool:
    """A batch opened at 10:00 (Paris) on ``weekday``, gone at 13:00."""
    local = at.astimezone(PARIS)
    return local.weekday() == weekday and 10 <= local.hour < 13


def _fill(store: Store) -> None:
    """Three services releasing batches (Thursday, Tuesday, Friday), probed hourly at random
    minutes, from 1 October to 3 November; one always dated, one that errs. Then what the
    export's read and the analysis's differ on, each changing the releases: replicates (one
    at the same instant as its period's probe, the same finding), assisted reads, a category
    stored as ``E`` for a probe whose slots say otherwise."""
    rand = random.Random(18)
    n = 0
    start = datetime(2026, 9, 30, 22, tzinfo=UTC)
    for hour in range(34 * 24):
        base = start + timedelta(hours=hour)
        for i, service in enumerate(BATCHES):
            at = base + timedelta(minutes=rand.randrange(60), microseconds=rand.randrange(10**6))
            n += 1
            store.save(_probe(service, at, _released(at, (3, 1, 4)[i]), n), period_key=f"k{n}")
            local = at.astimezone(PARIS)
            if i == 0 and local.weekday() == 3 and local.hour == 12:
                # a replicate from another vantage point, just before the batch is gone
                later = local.replace(minute=59, second=30).astimezone(UTC)
                n += 1
                origin = Origin("w-b", "B", replicate_of=f"k{n - 1}")
                store.save(_probe(service, later, True, n), period_key=f"k{n - 1}#r", origin=origin)
            if i == 1 and local.hour == 11 and hour % 5 == 0:
                n += 1  # the same instant from another vantage point, the same finding
                origin = Origin("w-b", "B", replicate_of=f"k{n - 1}")
                dated = _released(at, 1)
                store.save(_probe(service, at, dated, n), period_key=f"k{n - 1}#r", origin=origin)
        if hour % 7 == 0:
            n += 1
            store.save(_probe("svc-open", base + timedelta(minutes=5), True, n))
            n += 1
            store.save(observation(n, base, Outcome.SITE_ERROR, service="svc-err"))
        if base.astimezone(PARIS).weekday() == 0 and hour % 24 == 14:
            n += 1  # a person's read, Monday afternoon, finding a date: not the robot's sample
            store.save(_probe(BATCHES[2], base + timedelta(minutes=31), True, n, assisted=True))


def _stored_e(home: Path) -> None:
    """The dated probes of one Thursday's batch stored with category E behind the store's
    back: the export prints their slots' category, the analysis reads no date."""
    with contextlib.closing(sqlite3.connect(home / "guichets.sqlite")) as db, db:
        db.execute(
            "UPDATE probes SET category = 'E' WHERE service = ? AND slots_count > 0"
            " AND replicate_of IS NULL AND strftime('%d', started_at) = '22'",
            (BATCHES[0],),
        )


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("month-points")
    with Store.open(None, home=folder) as store:
        _fill(store)
    _stored_e(folder)
    return folder


def _written(store: Store, folder: Path, analyse: frozenset[str]) -> dict[str, Any]:
    found, _ = observation_files(store, folder, observation_types(), analyse=analyse)
    return {m.label: m.releases for m in found}


def test_releases_from_the_month_files_read_are_the_analysis_s_own(
    home: Path, tmp_path: Path
) -> None:
    with Store.open(None, home=home) as store:
        own = release_rows(store.iter_probe_points(OCTOBER))
        found = _written(store, tmp_path / "files", frozenset({"2026-10", "2026-11"}))
    assert sorted(r.service for r in own) == sorted(BATCHES)  # each service's batch is found
    assert [r.service for r in own] == sorted(BATCHES)  # in SQLite's order
    assert found["2026-10"] == tuple(own)
    assert found["2026-11"] is None  # the latest month: never analysed there


def _rows(home: Path, where: str) -> list[tuple[str, datetime, str, str | None]]:
    """October's probes ``where`` as (service, instant, outcome, stored category)."""
    with contextlib.closing(sqlite3.connect(home / "guichets.sqlite")) as db:
        found = db.execute(
            "SELECT service, started_at, outcome, category FROM probes"
            f" WHERE started_at >= '2026-09-30 22' AND started_at < '2026-10-31 23' AND {where}"
        ).fetchall()
    return [(s, as_utc(at), o, c) for s, at, o, c in found]


def test_what_the_two_reads_differ_on_changes_the_releases(home: Path) -> None:
    """The test above would pass with the month files' read taken as it is, were replicates,
    assisted reads and stored categories without effect here: each changes the releases."""
    with Store.open(None, home=home) as store:
        points = list(store.iter_probe_points(OCTOBER))
    own = release_rows(points)
    replicates = set(_rows(home, "replicate_of IS NOT NULL"))
    assert release_rows([p for p in points if p not in replicates]) != own
    assisted = _rows(home, "assisted")
    assert release_rows(sorted([*points, *assisted], key=lambda p: (p[0], p[1]))) != own
    by_slots = [(s, at, o, "A" if c == "E" and o == "available" else c) for s, at, o, c in points]
    assert release_rows(by_slots) != own


def test_archive_pages_from_the_month_files_read_are_those_of_the_old_read(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first build with its data directory (the month files written in a child, then by two
    workers; and in this process) takes October's releases from the month files' read: the
    archive pages are those of a build that reads the month again, as before."""
    computed: list[str] = []
    release_rows_of = build_module.release_rows

    def noted(points: Any) -> Any:
        found = release_rows_of(points)
        computed.append("here")
        return found

    monkeypatch.setattr(build_module, "release_rows", noted)

    def site(name: str, workers: int) -> dict[str, bytes]:
        data = tmp_path / f"data-{name}"
        shutil.copytree(home, data)
        out = tmp_path / name
        with Store.open(None, home=data) as store:
            figures = read_figures(store, None, generated_at=AT, workers=1)
            months = build_module.start_open_data(store, data, workers=workers)
            build_site(
                store, figures, out, home=data, contact="ops@example.invalid", workers=workers,
                months=months,
            )  # fmt: skip
        pages = sorted(p for p in out.rglob("*.html") if "archives" in p.parts)
        return {str(p.relative_to(out)): p.read_bytes() for p in pages}

    new_two = site("new-two", 2)
    assert computed == ["here"]  # November (the latest month) only: October from the files
    computed.clear()
    new_one = site("new-one", 1)
    assert computed == ["here"]
    monkeypatch.setattr(opendata_module, "months_to_analyse", lambda *_: frozenset())
    computed.clear()
    old = site("old", 1)
    assert computed == ["here", "here"]  # both months read again
    october = old["archives/2026-10.html"].decode("utf-8")
    assert all(service in october for service in BATCHES)  # the releases are on the page
    assert new_two == old
    assert new_one == old


def _page(rows: list[tuple[str, str, str, str | None]]) -> pa.Table:
    columns = list(zip(*rows, strict=True))
    return pa.table(
        {
            "service": pa.array(columns[0], pa.string()),
            "started_at": pa.array(columns[1], pa.string()),
            "outcome": pa.array(columns[2], pa.string()),
            "assisted": pa.array([0] * len(rows), pa.int64()),
            "category": pa.array(columns[3], pa.string()),
        }
    )


def test_a_tie_that_differs_gives_no_releases_a_tie_alike_does() -> None:
    """Two points of a service at one instant come in no defined order from SQLite: when one
    found a date and the other not, the month is analysed by its own read instead."""
    first = ("s", "2026-10-01 08:00:00.000000", "available", "A")
    alike = ("s", "2026-10-01 08:00:00.000000", "available", None)  # no category: dated too
    other = ("s", "2026-10-01 08:00:00.000000", "unavailable", "E")
    for second, given in ((alike, True), (other, False)):
        points = MonthPoints()
        points.add(_page([first, ("t", first[1], "unavailable", "E")]))
        points.add(_page([second]))
        assert (points.releases() is not None) is given
    points = MonthPoints()
    points.add(_page([first]).drop_columns(["category"]))  # read without the stored category
    assert points.releases() is None and not points.complete
