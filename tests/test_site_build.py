"""``guichets site build`` and ``guichets serve`` on what the robot stored in a short demo.

The robot probes the simulated prefectures for a few simulated days; the site is built from that
store, as people run it, and read back: its figures against ``guichets report``, its escaping, its
rebuilds, its server. The browser's view (map colours, links, accessibility) is in
``test_site_browser.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pickle
import re
import shutil
import sqlite3
from collections.abc import Iterator
from copy import copy as shallow_copy
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from selectolax.lexbor import LexborHTMLParser
from typer.testing import CliRunner

from guichets import datadir
from guichets.catalogue import catalogue_to_toml, load_catalogue
from guichets.cli import app
from guichets.cli.site import DEFAULT_CONTACT
from guichets.model import PARIS, Observation
from guichets.periods import month_range
from guichets.site import i18n, pages_work
from guichets.site.archive import ARCHIVE_DIR
from guichets.site.build import (
    BuildResult,
    SiteBuilder,
    _Writer,
    build_site,
    data_folder,
    figure,
    kept_data,
    method_section,
)
from guichets.site.figures import ServiceInfo, SiteFigures
from guichets.site.fragments import PageFragments
from guichets.site.opendata import figures_csv, figures_json, start_months
from guichets.site.serve import _resolve, check_loopback, site_app
from guichets.stats.report import ReportRow
from guichets.store import Store
from guichets.store.alerts import AlertRecord, insert_alert
from guichets.usecases.demo import run_demo
from guichets.usecases.figures import read_figures

DAYS = 4
HOSTILE = '<script>alert("x")</script> & "Bobigny"'
runner = CliRunner()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo's data directory, one service renamed with a hostile label."""
    folder = tmp_path_factory.mktemp("site-demo")
    asyncio.run(run_demo(folder, days=DAYS, cadence="6h", evidence=False))
    path = folder / "catalogue.toml"
    catalogue = load_catalogue(path)
    first = catalogue.services[0]
    services = [first.model_copy(update={"label": HOSTILE}), *catalogue.services[1:]]
    path.write_text(catalogue_to_toml(services, catalogue.defaults), "utf-8")
    return folder


def _build(home: Path, out: Path) -> str:
    result = runner.invoke(app, ["site", "build", "--home", str(home), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def site(home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site") / "public"
    _build(home, out)
    return out


def _report(home: Path, *args: str) -> list[dict[str, object]]:
    result = runner.invoke(app, ["report", "--home", str(home), "--format", "json", *args])
    assert result.exit_code == 0, result.output
    rows: list[dict[str, object]] = json.loads(result.stdout)
    return rows


def _probe_again(store: Store, after: timedelta, tail: str) -> Observation:
    """The first service's latest probe stored again ``after`` later (a new id ending in
    ``tail``): a new probe as a run would save it. Returns the probe it copied."""
    service = store.services()[0]
    last = list(store.observations(service=service))[-1]
    store.save(replace(last, probe_id=last.probe_id[:-4] + tail,
                       started_at=last.started_at + after,
                       finished_at=last.finished_at + after, trail=()))  # fmt: skip
    return last


def _html(path: Path) -> LexborHTMLParser:
    return LexborHTMLParser(path.read_text("utf-8"))


def _pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def test_every_french_page_has_its_english_twin(site: Path) -> None:
    french = [p.relative_to(site) for p in _pages(site) if p.relative_to(site).parts[0] != "en"]
    english = {p.relative_to(site / "en") for p in _pages(site / "en")}
    assert french and set(french) == english
    for path in french:
        assert _html(site / path).css_first("html").attributes["lang"] == "fr"
        assert _html(site / "en" / path).css_first("html").attributes["lang"] == "en"


def test_home_table_says_what_the_report_says(home: Path, site: Path) -> None:
    span = _report(home, "--level", "france")[0]
    month = str(span["to"])[:7]
    rows = _report(home, "--level", "departement", "--month", month)
    page = _html(site / "index.html")
    for row in rows:
        code = str(row["departement"])
        line = page.css_first(f'table.departements tr[data-departement="{code}"]')
        assert line is not None, code
        cells = [td.text(strip=True) for td in line.css("td")]
        rate = row["failure_rate"]
        if rate is None:
            assert i18n.message("no_valid", "fr") in cells[0]
        else:
            assert cells[0].startswith(i18n.fmt_pct(float(str(rate)), "fr")), (code, cells)
            assert cells[2] == i18n.fmt_int(int(str(row["valid"])), "fr")
    france = _report(home, "--level", "france", "--month", month)[0]
    headline = page.css_first(".headline .big strong").text()
    assert headline == i18n.fmt_pct(float(str(france["failure_rate"])), "fr")


def test_catalogue_label_is_text_everywhere(site: Path) -> None:
    seen = 0
    for path in _pages(site):
        raw = path.read_text("utf-8")
        tree = LexborHTMLParser(raw)
        assert not tree.css("script"), path
        assert "<script" not in raw, path
        if HOSTILE in (tree.body.text() if tree.body else ""):
            seen += 1
    assert seen >= 4  # its service page and its département page, in both languages


def test_nothing_but_the_sites_own_files(site: Path) -> None:
    """Stored pages are never published as HTML: only pages, style, captures and data."""
    allowed = {".html", ".css", ".png", ".csv", ".gz", ".parquet", ".json", ".atom"}
    for path in site.rglob("*"):
        if path.is_file():
            assert path.suffix in allowed, path
            assert not path.name.endswith(".partial"), path
    for path in _pages(site):
        tree = _html(path)
        assert not tree.css("iframe, object, embed, base, form"), path
        for node in tree.css("[href], [src]"):
            link = node.attributes.get("href") or node.attributes.get("src") or ""
            assert not re.match(r"^[a-z]+:|^//", link), (path, link)


def test_method_page_in_each_language(site: Path) -> None:
    fr = _html(site / "methode.html").body
    en = _html(site / "en" / "methode.html").body
    assert fr is not None and en is not None
    assert "Les cinq catégories" in fr.text() and "The five categories" not in fr.text()
    assert "The five categories" in en.text() and "Les cinq catégories" not in en.text()
    assert "Les cinq catégories" in method_section("fr")


def test_service_page_lists_the_latest_probes_and_the_dossier_command(
    home: Path, site: Path
) -> None:
    with Store.open(home=home) as store:
        service = store.services()[-1]
        last = list(store.observations(service=service))[-1]
    page = _html(site / "services" / f"{service}.html")
    rows = page.css("table.probes tbody tr")
    assert rows and rows[0].attributes["data-outcome"] == last.outcome.value
    assert rows[0].css_first("th").text() == i18n.fmt_instant(last.started_at, "fr")
    code = page.css_first("pre code").text()
    assert code.startswith(f"guichets evidence dossier --service {service} --from ")


def test_a_screenshot_taken_at_probe_time_is_published_with_its_probe(
    home: Path, tmp_path: Path
) -> None:
    """A latest probe's screenshot in the evidence (``run --screenshots``) is copied into the
    site and linked from its service's page; a service with no screenshot folder has none."""
    from guichets.evidence.layout import screenshots_dir
    from guichets.evidence.screenshot import screenshot_name

    copy = tmp_path / "home"
    shutil.copytree(home, copy, ignore=shutil.ignore_patterns("site", "cache", "opendata"))
    with Store.open(home=copy) as store:
        shot, other = store.services()[:2]
        last = list(store.observations(service=shot))[-1]
    name = screenshot_name(last)
    (screenshots_dir(copy) / shot).mkdir(parents=True)
    (screenshots_dir(copy) / shot / name).write_bytes(b"\x89PNG not really")
    out = tmp_path / "public"
    _build(copy, out)
    assert (out / "captures" / shot / name).read_bytes() == b"\x89PNG not really"
    assert [p.parent.name for p in (out / "captures").rglob("*.png")] == [shot]
    assert f"../captures/{shot}/{name}" in (out / "services" / f"{shot}.html").read_text()
    assert "captures/" not in (out / "services" / f"{other}.html").read_text()


def test_rebuild_without_news_writes_nothing(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "public"
    _build(home, out)
    with Store.open(home=home) as store:
        figures = read_figures(store, load_catalogue(home / "catalogue.toml"),
                               generated_at=datetime.now(UTC))  # fmt: skip
        again = build_site(store, figures, out, home=home, contact=DEFAULT_CONTACT)
    assert again.pages > 100 and again.written == 0 and again.removed == 0


def test_rebuild_after_a_new_probe_rewrites_its_pages(home: Path, tmp_path: Path) -> None:
    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    out = tmp_path / "public"
    _build(copy, out)
    with Store.open(home=copy) as store:
        service = _probe_again(store, timedelta(hours=1), "beef").service
    before = (out / "services" / f"{service}.html").read_bytes()
    output = _build(copy, out)
    assert (out / "services" / f"{service}.html").read_bytes() != before
    assert "0 removed" in output


def _headline(site: Path) -> str:
    title = _html(site / "index.html").css_first("#headline-title")
    assert title is not None
    return title.text()


def test_the_latest_month_is_en_cours_only_while_it_is(home: Path, tmp_path: Path) -> None:
    """The demo's probes end a few days into October. Built in December (the fixture's site), the
    month is over: the archive lists it as closed, and the home page must not call it « en
    cours »; built the day after the last probe, it is still going on."""
    with Store.open(home=home) as store:
        last = store.last_probe_at()
    assert last is not None
    day = last.astimezone(PARIS).date()
    month_end = (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    assert day < month_end  # the demo stops before its month's end, or this proves nothing
    printed = i18n.fmt_day(day, "fr")
    built_later, built_during = tmp_path / "later", tmp_path / "during"
    with Store.open(home=home) as store:
        for at, out in ((datetime.now(UTC), built_later), (last + timedelta(days=1), built_during)):
            figures = read_figures(store, load_catalogue(home / "catalogue.toml"), generated_at=at)
            build_site(store, figures, out, contact=DEFAULT_CONTACT)
    assert (built_later / ARCHIVE_DIR / f"{day:%Y-%m}.html").exists()  # closed, as archived
    assert not (built_during / ARCHIVE_DIR / f"{day:%Y-%m}.html").exists()
    assert _headline(built_later).endswith(f"(sondages jusqu'au {printed})"), _headline(built_later)
    during = _headline(built_during)
    assert during.endswith(f"(en cours, jusqu'au {printed})"), during


def test_a_rebuild_after_the_month_ended_says_so_on_every_page(home: Path, tmp_path: Path) -> None:
    """The same probes, built while their month goes on and rebuilt once it is over: the pages
    kept from the first build say « en cours » no more, byte for byte as a fresh build."""
    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    with Store.open(home=copy) as store:
        last = store.last_probe_at()
        assert last is not None
        catalogue = load_catalogue(copy / "catalogue.toml")
        kept, fresh = tmp_path / "kept", tmp_path / "fresh"
        later = datetime.now(UTC)
        for at, out, folder in ((last + timedelta(days=1), kept, copy), (later, kept, copy),
                                (later, fresh, None)):  # fmt: skip
            cache = None if folder is None else datadir.cache(folder, "site")
            figures = read_figures(store, catalogue, generated_at=at, cache=cache)
            build_site(store, figures, out, home=folder, contact=DEFAULT_CONTACT)
        departement = list(store.observations(service=store.services()[0]))[-1].departement
    page = Path("departements") / f"{departement}.html"
    for lang in ("", "en"):
        assert (kept / lang / page).read_bytes() == (fresh / lang / page).read_bytes()
    assert "(sondages jusqu&#39;au " in (kept / page).read_text("utf-8")


def test_a_rebuild_after_an_alert_without_a_probe_shows_it(home: Path, tmp_path: Path) -> None:
    """``guichets alerts check`` stores a stalled alert with no new probe: the service's page,
    which lists its alerts, is rendered again, the same bytes as a fresh build's."""
    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    catalogue = load_catalogue(copy / "catalogue.toml")
    now = datetime.now(UTC)
    kept, fresh = tmp_path / "kept", tmp_path / "fresh"

    def build(store: Store, out: Path, folder: Path | None) -> None:
        cache = None if folder is None else datadir.cache(folder, "site")
        figures = read_figures(store, catalogue, generated_at=now, cache=cache)
        build_site(store, figures, out, home=folder, contact=DEFAULT_CONTACT)

    with Store.open(home=copy) as store:
        build(store, kept, copy)
        service, last = store.services()[0], store.last_probe_at()
        assert last is not None
        stalled = AlertRecord(
            id="stalled-1", kind="stalled", cause="stalled", service=service, platform=None,
            departement=None, since=last, opened_at=last + timedelta(hours=3), last_seen=last,
        )  # fmt: skip
        insert_alert(store, stalled)
        build(store, kept, copy)
        build(store, fresh, None)
    page = Path("services") / f"{service}.html"
    assert "Aucun sondage" in (kept / page).read_text("utf-8")
    for lang in ("", "en"):
        assert (kept / lang / page).read_bytes() == (fresh / lang / page).read_bytes()


def test_empty_store_builds_a_page_that_says_so(tmp_path: Path) -> None:
    with Store.open(home=tmp_path) as store:
        figures = read_figures(store, None, generated_at=datetime.now(UTC))
        result = build_site(store, figures, tmp_path / "public", contact="ops@example.invalid")
    assert result.pages > 0
    body = _html(tmp_path / "public" / "index.html").body
    assert body is not None and i18n.message("no_data_yet", "fr") in body.text()


def test_build_refuses_bad_input(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["site", "build", "--home", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "no database" in missing.output
    afile = tmp_path / "file"
    afile.write_text("x")
    result = runner.invoke(app, ["site", "build", "--home", str(tmp_path), "--out", str(afile)])
    assert result.exit_code == 2 and "not a folder" in result.output


def test_serve_refuses_what_it_should(tmp_path: Path) -> None:
    for host in ("0.0.0.0", "192.168.1.10", "example.org"):
        with pytest.raises(ValueError, match=r"loopback|IP address"):
            check_loopback(host)
    check_loopback("127.0.0.1")
    check_loopback("::1")
    result = runner.invoke(app, ["serve", str(tmp_path)])
    assert result.exit_code == 2 and "build the site first" in result.output
    result = runner.invoke(app, ["serve", str(tmp_path), "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "loopback" in result.output


@pytest.fixture
def secret(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "secret.txt"
    path.write_text("not for the web")
    yield path


def test_paths_that_leave_the_folder_name_nothing(site: Path, secret: Path) -> None:
    outside = "../" * 12 + str(secret).lstrip("/")
    assert secret.is_file() and (site / outside).resolve() == secret.resolve()
    assert _resolve(site.resolve(), outside) is None
    assert _resolve(site.resolve(), "/en/") == (site / "en" / "index.html").resolve()


async def test_serve_answers_files_of_the_site_only(site: Path, secret: Path) -> None:
    async with TestClient(TestServer(site_app(site), host="127.0.0.1")) as client:
        home = await client.get("/")
        assert home.status == 200
        assert "script-src 'none'" in home.headers["Content-Security-Policy"]
        assert home.headers["Content-Type"].startswith("text/html")
        assert (await client.get("/en/")).status == 200
        moved = await client.get("/en", allow_redirects=False)
        assert moved.status == 301 and moved.headers["Location"] == "/en/"
        assert (await client.get("/static/site.css")).headers["Content-Type"].startswith("text/css")
        escape = "/" + "%2e%2e/" * 12 + str(secret).lstrip("/")
        assert (await client.get(escape)).status == 404
        assert (await client.get("/%2e%2e/%2e%2e/etc/passwd")).status == 404
        assert (await client.post("/")).status == 405


def _figures_json(store: Store, cache: Path | None) -> list[dict[str, object]]:
    figures = read_figures(store, None, generated_at=datetime.now(UTC), cache=cache)
    return [row.to_json() for row in figures.monthly_rows]


def test_cached_months_give_the_figures_computed_afresh(home: Path, tmp_path: Path) -> None:
    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    cache = tmp_path / "cache"
    with Store.open(home=copy) as store:
        fresh = _figures_json(store, None)
        assert _figures_json(store, cache) == fresh  # computed, then kept
        assert sorted(p.suffix for p in cache.iterdir()) == [".pickle"] * len(list(cache.iterdir()))
        assert _figures_json(store, cache) == fresh  # read back
        _probe_again(store, timedelta(minutes=5), "cafe")
        changed = _figures_json(store, None)
        assert changed != fresh
        assert _figures_json(store, cache) == changed  # the month that moved is computed again


def test_the_latest_probes_are_those_of_the_services_with_rows_whoever_names_them(
    home: Path, tmp_path: Path
) -> None:
    """``read_figures`` reads the latest probes while the months that moved are computed, of the
    services the catalogue names and of those with rows in the months found kept, then of any
    other service with rows: every service with rows gets its own, in order, and no other,
    whether the catalogue names it or not, names a service never probed, or months are kept."""
    from guichets.site.figures import LATEST_PROBES

    work = tmp_path / "home"
    shutil.copytree(home, work, ignore=shutil.ignore_patterns("site", "cache"))
    catalogue = load_catalogue(work / "catalogue.toml")
    never = catalogue.services[0].model_copy(update={"id": "zz-never-probed"})
    partial = catalogue.model_copy(update={"services": (catalogue.services[0], never)})
    cache = work / "cache-test"
    with Store.open(home=work) as store:
        for named, kept in ((None, None), (partial, cache), (partial, cache), (catalogue, cache)):
            figures = read_figures(store, named, generated_at=datetime.now(UTC), cache=kept)
            stored = sorted(figures.by_service)
            assert len(stored) > 1 and "zz-never-probed" not in stored
            assert figures.latest_probes == store.latest_observations_of(stored, LATEST_PROBES)
            assert list(figures.latest_probes) == stored
            assert all(figures.latest_probes.values())


def test_rollups_behind_the_probes_are_caught_with_the_cache_too(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache keeps the totals of the months whose rollups were checked: a month is counted
    again only when its stored probes moved by a number other than its rollups' (a probe the
    robot saved moves both). A probe written by other means is still caught."""
    copy = tmp_path / "home"
    shutil.copytree(home, copy, ignore=shutil.ignore_patterns("site", "cache", "opendata"))
    cache = tmp_path / "cache"
    checked: list[object] = []
    original = Store.refresh_rollups

    def counting(self: Store, days: object, **kwargs: object) -> int:
        checked.append(days)
        return original(self, days, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "refresh_rollups", counting)
    with Store.open(home=copy) as store:
        fresh = _figures_json(store, cache)
        months = len(checked)
        assert months >= 1, "first read: every month checked"
        checked.clear()
        assert _figures_json(store, cache) == fresh and checked == []
        last = _probe_again(store, timedelta(minutes=3), "beef")
        saved = _figures_json(store, cache)
        assert saved != fresh and checked == [], "a saved probe: rollups and probes moved alike"
        # A probe written behind the store's back (its rollup not updated): caught, rebuilt.
        with contextlib.closing(sqlite3.connect(copy / "guichets.sqlite")) as db, db:
            db.execute(
                (
                    "INSERT INTO probes SELECT substr(probe_id, 1, 28) || 'f00d', run_id, "
                    "service, departement, platform, url, counter, period_key || '-raw', "
                    "scheduled_for, started_at, finished_at, outcome, detail, category, "
                    "first_slot, slots_count, slots, horizon_end, requests, http_status, message, "
                    "trail, extra, cpu_seconds, robots_override, worker, vantage, replicate_of, "
                    "assisted, person FROM probes WHERE probe_id = ?"
                ),
                (last.probe_id,),
            )
        behind = _figures_json(store, cache)
        assert len(checked) == 1, "only the month that moved is counted row by row"
        assert behind != saved
        assert behind == _figures_json(store, None)  # as computed afresh after a full check
        assert store.refresh_rollups(checked[0]) == 0  # type: ignore[arg-type]


def test_robot_page_shows_each_platforms_unreadable_share_of_the_month(
    home: Path, site: Path
) -> None:
    with Store.open(None, home=home) as store:
        observations = list(store.observations())
    month = max(o.started_at.astimezone(i18n.PARIS) for o in observations).strftime("%Y-%m")
    counts: dict[str, list[int]] = {}
    for obs in observations:
        if obs.started_at.astimezone(i18n.PARIS).strftime("%Y-%m") == month:
            pair = counts.setdefault(obs.platform, [0, 0])
            pair[0] += obs.outcome == "unrecognized"
            pair[1] += 1
    for lang, page in (("fr", site / "robot.html"), ("en", site / "en" / "robot.html")):
        rows = {
            row.css_first("th").text(): [td.text() for td in row.css("td")]
            for row in _html(page).css("table.figures tbody tr")
        }
        assert set(rows) == set(counts), lang
        for platform, (n, total) in counts.items():
            shown = [i18n.fmt_int(n, lang), i18n.fmt_int(total, lang)]  # type: ignore[arg-type]
            assert rows[platform][1:] == shown, (lang, platform)


def _files(folder: Path) -> dict[str, bytes]:
    """Every file but the monthly archive's pages, which are frozen when first written (a fresh
    build freezes them anew, with the newer last probe in their header)."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
        and not p.name.startswith(".")
        and "archives" not in p.relative_to(folder).parts
    }


def test_an_incremental_build_is_a_fresh_build(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a rebuild keeps or skips (cached months and their figures' lines, pages whose inputs
    did not change, closed months' rows and charts kept, feeds unchanged, month files kept and
    linked, pages rendered in two processes) changes no byte: after a new probe, the site rebuilt
    is the site built afresh from nothing. (The first build's pages are rendered in its own
    process while the month files are written beside; the second's month files are written
    before, so that its pages go to two workers whatever the machine's speed.)"""
    monkeypatch.setattr(pages_work, "MIN_PER_WORKER", 10)  # the demo's pages, in two workers
    copy = tmp_path / "home"
    shutil.copytree(home, copy, ignore=shutil.ignore_patterns("site", "cache", "opendata"))
    out, fresh = tmp_path / "public", tmp_path / "fresh"
    catalogue = load_catalogue(copy / "catalogue.toml")
    cache = copy / "cache" / "site"
    at = datetime(2027, 1, 1, tzinfo=UTC)
    with Store.open(home=copy) as store:
        figures = read_figures(store, catalogue, generated_at=at, cache=cache)
        first = build_site(store, figures, out, home=copy, contact=DEFAULT_CONTACT, workers=2)
        _probe_again(store, timedelta(minutes=7), "d00d")
        figures = read_figures(store, catalogue, generated_at=at, cache=cache)
        months = start_months(
            store, data_folder(out), keep=kept_data(copy), workers=2, background=False,
            fingerprints=figures.fingerprints,
        )  # fmt: skip
        again = build_site(
            store, figures, out, home=copy, contact=DEFAULT_CONTACT, workers=2, months=months
        )
        same = read_figures(store, catalogue, generated_at=at, cache=cache)
        noop = build_site(store, same, out, home=copy, contact=DEFAULT_CONTACT, workers=2)
        afresh = read_figures(store, catalogue, generated_at=at)
        build_site(store, afresh, fresh, contact=DEFAULT_CONTACT, workers=1)
    # Every service's and département's page, both times (a new last probe shows on all).
    assert first.rendered == again.rendered > 80 and first.rendered < first.pages
    assert noop.rendered == 0 and noop.written == 0 and noop.pages == first.pages
    assert _files(out) == _files(fresh)
    month = next((out / "donnees/v1.0/observations").glob("*.csv.gz"))
    kept = copy / "opendata/v1.0/observations" / month.name
    assert month.stat().st_ino == kept.stat().st_ino  # a hard link to the kept file


def test_a_page_worker_that_fails_fails_the_build_and_keeps_no_page_digest(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pages' forked workers render their shares while the build's process goes on with the
    rest of the site (``pages_work.PagesUnderWay``): a worker that fails then fails the build
    all the same, the published site stays as it was, and the pages' digests are not kept (a
    page never written would otherwise be taken for one written, and skipped, next time)."""
    monkeypatch.setattr(pages_work, "MIN_PER_WORKER", 10)  # the demo's pages, in two workers
    copy = tmp_path / "home"
    shutil.copytree(home, copy, ignore=shutil.ignore_patterns("site", "cache", "opendata"))
    out = tmp_path / "public"
    catalogue = load_catalogue(copy / "catalogue.toml")
    cache = copy / "cache" / "site"
    at = datetime(2027, 1, 1, tzinfo=UTC)
    with Store.open(home=copy) as store:
        figures = read_figures(store, catalogue, generated_at=at, cache=cache)
        build_site(store, figures, out, home=copy, contact=DEFAULT_CONTACT, workers=2)
        published = _files(out)
        digests = (cache / pages_work.CACHE_FILE).read_bytes()
        _probe_again(store, timedelta(minutes=7), "dead")
        figures = read_figures(store, catalogue, generated_at=at, cache=cache)
        parent, service_page = os.getpid(), SiteBuilder.service_page

        def failing(builder: SiteBuilder, lang: str, info: ServiceInfo) -> None:
            if os.getpid() != parent:
                raise RuntimeError("a page worker fails")
            service_page(builder, lang, info)

        monkeypatch.setattr(SiteBuilder, "service_page", failing)
        with pytest.raises(RuntimeError, match="a page worker fails"):
            build_site(store, figures, out, home=copy, contact=DEFAULT_CONTACT, workers=2)
    assert _files(out) == published
    assert (cache / pages_work.CACHE_FILE).read_bytes() == digests


def test_pages_are_handed_out_once_each_across_processes_and_none_once_closed() -> None:
    """The processes rendering pages take them one at a time from a counter they share
    (``pages_work._Next``): each page once, whichever process asks; none after ``close`` (the
    build failed)."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    take = pages_work._Next(6, context)
    assert [take(), take()] == [0, 1]
    child = context.Process(target=lambda: [take() for _ in range(3)])
    child.start()
    child.join()
    assert child.exitcode == 0
    assert [take(), take()] == [5, None]
    again = pages_work._Next(3, context)
    assert again() == 0
    again.close()
    assert again() is None
    alone = pages_work._Next(2)
    assert [alone(), alone(), alone()] == [0, 1, None]


def test_pages_taken_at_once_by_two_processes_are_each_taken_once() -> None:
    """Two processes taking pages as fast as they can from one counter (``pages_work._Next``)
    get every page once between them: the counter's lock must hold across the read and the
    write of the next page (a lock let go by the read handed out pages twice, and the two
    processes renamed the same partial file: the build failed)."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    count = 100_000
    take = pages_work._Next(count, context)
    reading, writing = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: takes pages, sends their numbers
        try:
            os.close(reading)
            got = []
            while (at := take()) is not None:
                got.append(at)
            with os.fdopen(writing, "w") as out:
                out.write(" ".join(map(str, got)))
        finally:
            os._exit(0)
    os.close(writing)
    mine = []
    while (at := take()) is not None:
        mine.append(at)
    with os.fdopen(reading) as into:
        theirs = [int(n) for n in into.read().split()]
    os.waitpid(pid, 0)
    assert sorted(mine + theirs) == list(range(count))


def test_kept_pieces_are_stamped_with_the_code_that_computes_their_figures() -> None:
    """Kept page pieces, feeds and figures' lines are reused while the code's digest stands: it
    must cover what computes and formats a figure (intervals, rates, lead times), not only the
    templates, or a fix there would never reach a closed month's kept rows."""
    sources = pages_work.code_sources()
    for module in (
        "site/build.py",
        "site/opendata.py",
        "stats/wilson.py",
        "stats/indicators.py",
        "stats/leadtime.py",
        "stats/report.py",
        "tally.py",
    ):
        assert module in sources


def test_kept_figures_lines_move_with_the_code(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The monthly figures' lines kept under a month's fingerprint are printed again when the
    code that prints them changed (a fingerprint says what the rows are, not how they print)."""
    from guichets.site import figures_text

    work = tmp_path / "home"
    shutil.copytree(home, work, ignore=shutil.ignore_patterns("site", "cache"))
    store = Store.open(home=work)
    cache = work / "cache-test"
    figures = read_figures(store, None, generated_at=datetime.now(UTC), cache=cache)
    rows = figures.monthly_rows
    monkeypatch.setattr(figures_text, "code_digest", lambda: "old code")
    fresh = figures_text.FiguresText(cache, figures.fingerprints)(rows)
    kept = sorted(cache.glob("figures-*.pickle"))
    assert kept
    for path in kept:  # what an older code printed, kept under the same fingerprint
        stamp, lines = pickle.loads(path.read_bytes())
        lines = {k: (v[0], v[1], v[2].replace(",", ";"), v[3]) for k, v in lines.items()}
        path.write_bytes(pickle.dumps((stamp, lines)))
    assert figures_text.FiguresText(cache, figures.fingerprints)(rows) != fresh  # kept: used
    monkeypatch.setattr(figures_text, "code_digest", lambda: "new code")
    assert figures_text.FiguresText(cache, figures.fingerprints)(rows) == fresh


def test_a_month_s_figures_lines_are_printed_where_its_rows_are_computed(
    home: Path, tmp_path: Path
) -> None:
    """``read_figures`` keeps each month's lines of the open data's monthly figures where it
    computes the month (a forked worker, beside the build's own process), with the names and
    départements the build gives its rows: the build then prints none of them and finds those
    it would have printed. The month's rows kept in the cache are as computed (no name is
    written into them: the catalogue may name a service otherwise at the next build)."""
    from guichets.files import read_kept
    from guichets.site import figures_text

    work = tmp_path / "home"
    shutil.copytree(home, work, ignore=shutil.ignore_patterns("site", "cache"))
    catalogue = load_catalogue(work / "catalogue.toml")
    cache = work / "cache-test"
    with Store.open(home=work) as store:
        figures = read_figures(store, catalogue, generated_at=datetime.now(UTC), cache=cache)
    rows = figures.monthly_rows
    assert any(row.label for row in rows)  # the catalogue's names are printed
    texts = figures_text.FiguresText(cache, figures.fingerprints)
    assert texts(rows) == (figures_csv(rows), figures_json(rows))
    assert texts.printed == 0  # every line found kept
    for month in figures.months:
        label = f"{month.first:%Y-%m}"
        kept = read_kept(cache / f"{label}.pickle", figures.fingerprints[label])
        assert kept is not None
        assert all(row.label is None for row in kept[0])


def _with_a_later_month(
    figures: SiteFigures,
) -> tuple[list[ReportRow], list[ReportRow], dict[str, str]]:
    """The demo's rows as closed months, the same rows a month later as the latest, and the
    months' fingerprints: what the monthly figures' kept lines are made from."""
    closed_rows = list(figures.monthly_rows)
    later = []
    for row in closed_rows:
        copied = shallow_copy(row)
        copied.period = "2999-01"
        later.append(copied)
    prints = {**figures.fingerprints, "2999-01": "the latest month's"}
    return closed_rows, [*closed_rows, *later], prints


def test_closed_months_figures_lines_are_kept_together_and_move_with_their_names(
    home: Path, tmp_path: Path
) -> None:
    """The lines of the months before the latest are kept put together (one read in a rebuild
    instead of one file per month): used while their months' fingerprints and their rows' names
    hold, printed again when a closed month's row is renamed in the catalogue."""
    from guichets.site import figures_text

    work = tmp_path / "home"
    shutil.copytree(home, work, ignore=shutil.ignore_patterns("site", "cache"))
    store = Store.open(home=work)
    cache = work / "cache-test"
    figures = read_figures(store, None, generated_at=datetime.now(UTC), cache=cache)
    closed_rows, rows, prints = _with_a_later_month(figures)
    fresh = figures_text.FiguresText(cache, prints)(rows)
    assert fresh == (figures_csv(rows), figures_json(rows))
    closed = cache / "closed-figures.bin"  # a header, then the closed rows' CSV and JSON lines
    kept = closed.read_bytes()
    csv_text = figures_csv(closed_rows)[len(figures_csv([])) :].encode()
    assert kept.count(csv_text) == 1
    closed.write_bytes(kept.replace(csv_text, csv_text.replace(b",", b";")))
    again = figures_text.FiguresText(cache, prints)(rows)
    assert again != fresh and again[1] == fresh[1]  # kept: used
    at = len(closed_rows) - 1  # a closed month's row, named anew
    first = shallow_copy(rows[at])
    first.label = f"{first.label or first.key} (renamed)"
    renamed = [*rows[:at], first, *rows[at + 1 :]]
    assert figures_csv(renamed) != figures_csv(rows)  # the name is printed
    printed = figures_text.FiguresText(cache, prints)(renamed)
    assert printed == (figures_csv(renamed), figures_json(renamed))


def test_closed_figures_lines_replaced_during_a_build_fail_it(home: Path, tmp_path: Path) -> None:
    """The two files are streamed from ``closed-figures.bin`` when written, after its offsets
    were read: should another build of the data directory put other lines there meanwhile (here,
    the same rows with a name changed), this build stops instead of writing the other file's
    bytes at its own offsets."""
    from guichets.site import figures_text

    work = tmp_path / "home"
    shutil.copytree(home, work, ignore=shutil.ignore_patterns("site", "cache"))
    cache = work / "cache-test"
    with Store.open(home=work) as store:
        figures = read_figures(store, None, generated_at=datetime.now(UTC), cache=cache)
    _, rows, prints = _with_a_later_month(figures)
    csv_text, json_text = figures_text.FiguresText(cache, prints).texts(rows)
    assert str(csv_text) == figures_csv(rows)  # read now, it is this build's
    renamed = shallow_copy(rows[0])
    renamed.label = f"{renamed.label or renamed.key} (renamed by another build)"
    other = [renamed, *rows[1:]]
    assert figures_text.FiguresText(cache, prints)(other) == (
        figures_csv(other),
        figures_json(other),
    )
    for text in (csv_text, json_text):
        with pytest.raises(OSError, match="replaced during this build"):
            str(text)


def test_rollups_checked_for_one_database_are_not_trusted_for_another(
    home: Path, tmp_path: Path
) -> None:
    """The totals of the last rollup check are those of one database: the same data directory's
    cache read with another (``--db``) checks every month again. Here both months' stored and
    rolled-up counts are the same, but one holds an assisted read, the other a robot probe its
    rollups never counted."""
    one, two = tmp_path / "one", tmp_path / "two"
    for copy in (one, two):
        shutil.copytree(home, copy, ignore=shutil.ignore_patterns("site", "cache", "opendata"))
    cache = tmp_path / "cache"
    for copy in (one, two):
        with Store.open(home=copy) as store:
            last = list(store.observations())[-1]
            store.save(replace(last, probe_id="0" * 28 + "beef", assisted=True, trail=()))
    with contextlib.closing(sqlite3.connect(two / "guichets.sqlite")) as db, db:
        db.execute("UPDATE probes SET assisted = 0 WHERE probe_id = ?", ("0" * 28 + "beef",))
    with Store.open(home=one) as store:
        _figures_json(store, cache)
    with Store.open(home=two) as store:
        assert _figures_json(store, cache) == _figures_json(store, None)


def test_months_without_assisted_reads_give_the_rows_searched_for_them(
    home: Path, tmp_path: Path
) -> None:
    """With a cache, a month whose stored probes are all in its rollups is computed without
    searching its assisted reads (``figures._may_hold_assisted``): the rows are those computed
    with the search, here beside a month with a replicate (searched, none found) and the latest
    month with an assisted read (searched, counted apart)."""
    from guichets.periods import month_range
    from guichets.store import Origin
    from guichets.usecases.figures import _may_hold_assisted

    copy = tmp_path / "home"
    shutil.copytree(home, copy, ignore=shutil.ignore_patterns("site", "cache", "opendata"))
    with Store.open(home=copy) as store:
        last = list(store.observations())[-1]

        def moved(back: timedelta, tail: str) -> Observation:
            return replace(
                last,
                probe_id="0" * 28 + tail,
                started_at=last.started_at - back,
                finished_at=last.finished_at - back,
                trail=(),
            )

        store.save(moved(timedelta(days=80), "0080"))  # a month of robot probes only
        store.save(moved(timedelta(days=40), "0040"))
        store.save(
            moved(timedelta(days=40, minutes=1), "4040"),
            origin=Origin(worker="w", vantage="v", replicate_of="k"),
        )
        store.save(replace(moved(timedelta(0), "beef"), assisted=True))
        fresh = _figures_json(store, None)  # every month searched
        assert _figures_json(store, tmp_path / "cache") == fresh
        assert _figures_json(store, tmp_path / "cache") == fresh  # read back
        assert any(row["assisted_probes"] for row in fresh)

        def searched(back: timedelta) -> bool:
            at = (last.started_at - back).astimezone(PARIS)
            return _may_hold_assisted(store.rollup_totals(month_range(at.year, at.month)))

        assert [searched(timedelta(days=d)) for d in (80, 40, 0)] == [False, True, True]
        assert _may_hold_assisted(None)


def test_a_rows_figure_is_made_once_and_never_taken_for_another_rows(home: Path) -> None:
    """``SiteBuilder.figure_of`` keeps each row's figure for the build, by the row's identity:
    an entry left under a row's id by another row (an id reused) is made again."""
    with Store.open(home=home) as store:
        figures = read_figures(store, None, generated_at=datetime.now(UTC))
        out = Path("unused")
        builder = SiteBuilder(
            store, figures, out, home=None, contact="x", writer=_Writer(BuildResult(out))
        )
        row, *others = [r for rows in figures.by_service.values() for r in rows.values()]
        other = next(r for r in others if figure(r, "fr") != figure(row, "fr"))
        first = builder.figure_of(row, "fr")
        assert first == figure(row, "fr")
        assert builder.figure_of(row, "fr") is first
        assert builder.figure_of(row, "en") == figure(row, "en") != first
        builder._figures[(id(other), "fr")] = (row, first)  # stale: made for another row
        assert builder.figure_of(other, "fr") == figure(other, "fr") != first
        assert builder.figure_of(None, "fr") is None


def test_a_closed_months_figure_is_made_for_its_table_and_not_kept(home: Path) -> None:
    """``figure_of`` keeps the figures shown on several pages (a service's latest month: its
    page's headline and table, its département's list); a closed month's, shown once in its
    page's table of months, is made for that table and not kept (at three years of 500
    services, 44,000 kept figures held 50 MB of the build's process). The table is the same."""
    with Store.open(home=home) as store:
        figures = read_figures(store, None, generated_at=datetime.now(UTC))
        months = [month_range(2020, 1), month_range(2020, 2), figures.months[-1]]
        figures = replace(figures, months=months)
        out = Path("unused")
        builder = SiteBuilder(
            store, figures, out, home=None, contact="x", writer=_Writer(BuildResult(out))
        )
        rows = [r for rows in figures.by_service.values() for r in rows.values()][:3]
        table = builder.month_rows(rows, "service", "x", "fr", PageFragments(None, "code"))
    assert set(builder._figures) == {(id(rows[-1]), "fr")}
    for row in rows[:-1]:  # the closed months' lines, with their own figures
        shown = figure(row, "fr")
        assert shown is not None and shown.valid in table[1][0]
