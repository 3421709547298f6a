"""The site's alerts, feeds and monthly archive, on a store written probe by probe with the alert
rules running after each (as ``guichets run`` does): the service page tells the history in
French, the Atom feeds parse (feedparser) and are linked from their pages, untrusted labels stay
text in XML and HTML, and a closed month's archive page is byte for byte the same after a rebuild
with new probes — unless the method version changes, and then it says so."""

from __future__ import annotations

import itertools
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest
from selectolax.lexbor import LexborHTMLParser

from guichets.alerts.monitor import Monitor
from guichets.alerts.rules import Rules
from guichets.catalogue import Service, catalogue_to_toml, load_catalogue
from guichets.model import PARIS, Observation, Outcome
from guichets.site import build as site_build
from guichets.site.build import build_site
from guichets.store import Store
from guichets.usecases.figures import read_figures

HOSTILE = 'Clermont <script>alert("x")</script> & «» ]]>'  # the catalogue refuses controls
CLOSED, FINE = "63-clermont-renouvellement", "69-lyon-etudiants"
START = datetime(2026, 10, 1, 6, 0, tzinfo=UTC)
BUILT_AT = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)  # October is closed
_ids = itertools.count()


def _obs(service: str, at: datetime, outcome: Outcome) -> Observation:
    slots = ((at + timedelta(days=4)).astimezone(PARIS),) if outcome is Outcome.AVAILABLE else ()
    detail = {Outcome.AVAILABLE: "slots_seen", Outcome.UNAVAILABLE: "no_slot_page"}[outcome]
    return Observation(
        probe_id=f"{next(_ids):032x}",
        service=service,
        platform="ezbooking",
        url=f"http://127.0.0.1/{service}/booking/create/1",
        started_at=at,
        finished_at=at + timedelta(seconds=3),
        outcome=outcome,
        detail=detail,
        slots=slots,
        departement=service.split("-")[0],
    )


def _probe(store: Store, monitor: Monitor, obs: Observation) -> None:
    assert store.save(obs)
    monitor.observe(obs)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two services, every 6 hours through October: one closed from 3 to 17 October (slots
    again on the 18th), one always fine."""
    folder = tmp_path_factory.mktemp("site-alerts")
    services = [
        Service(id=sid, departement=sid.split("-")[0], site="127.0.0.1", procedure="titre",
                platform="ezbooking", url=f"http://127.0.0.1/{sid}/booking/create/1",
                planning=1, cadence="6h", label=label)
        for sid, label in ((CLOSED, HOSTILE), (FINE, "Lyon — étudiants"))
    ]  # fmt: skip
    (folder / "catalogue.toml").write_text(catalogue_to_toml(services), "utf-8")
    with Store.open(None, home=folder) as store:
        monitor = Monitor(store, Rules())
        at = START
        while at < datetime(2026, 10, 31, tzinfo=UTC):
            day = at.astimezone(PARIS).day
            closed = 3 <= day <= 17
            _probe(store, monitor, _obs(CLOSED, at, Outcome.UNAVAILABLE if closed
                                        else Outcome.AVAILABLE))  # fmt: skip
            _probe(store, monitor, _obs(FINE, at + timedelta(minutes=7), Outcome.AVAILABLE))
            at += timedelta(hours=6)
    return folder


def _build(home: Path, out: Path, when: datetime = BUILT_AT) -> site_build.BuildResult:
    with Store.open(None, home=home) as store:
        figures = read_figures(store, load_catalogue(home / "catalogue.toml"), generated_at=when)
        return build_site(store, figures, out, home=home, contact="https://example.org/robot")


@pytest.fixture(scope="module")
def site(home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site") / "public"
    _build(home, out)
    return out


def _html(path: Path) -> LexborHTMLParser:
    return LexborHTMLParser(path.read_text("utf-8"))


def test_service_page_tells_the_alerts_history_in_french(site: Path) -> None:
    page = _html(site / "services" / f"{CLOSED}.html")
    lines = [li.text() for li in page.css("ul.alert-history li")]
    assert lines == [
        "Fermé (aucune date trouvée) du 3 au 17 octobre 2026, rouvert le 18 octobre 2026"
    ]
    english = _html(site / "en" / "services" / f"{CLOSED}.html")
    assert [li.text() for li in english.css("ul.alert-history li")] == [
        "Closed (no date found) from 3 to 17 October 2026, reopened on 18 October 2026"
    ]
    fine = _html(site / "services" / f"{FINE}.html")
    assert fine.css("ul.alert-history li") == []
    assert "Aucune alerte pour ce service." in fine.text()


def _feed_links(path: Path) -> list[str]:
    head = _html(path).head
    assert head is not None
    return [
        str(node.attributes.get("href"))
        for node in head.css('link[rel="alternate"][type="application/atom+xml"]')
    ]


def test_home_and_departement_pages_link_their_feeds(site: Path) -> None:
    assert _feed_links(site / "index.html") == ["flux/france.atom"]
    assert _feed_links(site / "en" / "index.html") == ["../flux/france.atom"]
    assert _feed_links(site / "departements" / "63.html") == ["../flux/63.atom"]
    assert _feed_links(site / "departements" / "69.html") == ["../flux/69.atom"]
    assert _feed_links(site / "archives" / "2026-10.html") == ["../flux/france.atom"]
    assert _feed_links(site / "services" / f"{CLOSED}.html") == ["../flux/63.atom"]
    for link, page in (
        ("flux/france.atom", "index.html"),
        ("../flux/63.atom", "departements/63.html"),
    ):
        assert (site / page).parent.joinpath(link).resolve().is_file()


def test_feeds_parse_with_the_alerts_and_the_month(site: Path) -> None:
    france = feedparser.parse((site / "flux" / "france.atom").read_bytes())
    assert not france.bozo, france.bozo_exception
    assert france.feed.language == "fr"
    titles = [e.title for e in france.entries]
    label = HOSTILE
    assert f"Guichet fermé : {label}" in titles
    assert f"Guichet rouvert : {label}" in titles
    assert "Bilan mensuel, octobre 2026 — France" in titles
    assert titles[0] == "Bilan mensuel, octobre 2026 — France"  # newest first
    assert len({e.id for e in france.entries}) == len(france.entries)
    reopened = next(e for e in france.entries if e.title.startswith("Guichet rouvert"))
    assert reopened.link.endswith(f"services/{CLOSED}.html")
    assert "du 3 au 17 octobre 2026, rouvert le 18 octobre 2026" in reopened.summary
    closed = next(e for e in france.entries if e.title.startswith("Guichet fermé"))
    assert "sondages valides sans date" in closed.summary and CLOSED in closed.summary
    raw = (site / "flux" / "france.atom").read_text("utf-8")
    assert "<script>" not in raw and "&lt;script&gt;" in raw and "]]&gt;" in raw
    lyon = feedparser.parse((site / "flux" / "69.atom").read_bytes())
    assert not lyon.bozo
    assert [e.title for e in lyon.entries] == ["Bilan mensuel, octobre 2026 — Rhône (69)"]
    assert "0\xa0% des tentatives n'ont trouvé aucune date" in lyon.entries[0].summary


def test_the_label_is_text_in_every_page(site: Path) -> None:
    for path in site.rglob("*.html"):
        raw = path.read_text("utf-8")
        assert "<script" not in raw, path


def test_home_links_the_archive_and_the_archive_its_months(site: Path) -> None:
    home = _html(site / "index.html")
    assert home.css_first('a[href="archives/index.html"]') is not None
    index = _html(site / "archives" / "index.html")
    assert [a.attributes["href"] for a in index.css("table a")] == ["../archives/2026-10.html"]
    month = _html(site / "archives" / "2026-10.html")
    assert "Archives mensuelles : octobre 2026" in month.text()
    assert month.css_first("svg") is not None  # the map
    assert month.css_first("section.press") is not None
    assert "Page figée à la clôture du mois, le 3 novembre 2026" in month.text()
    assert (site / "en" / "archives" / "2026-10.html").is_file()


def test_a_closed_month_is_byte_identical_after_a_rebuild_with_new_probes(
    home: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    out = tmp_path / "public"
    _build(copy, out)
    month = (out / "archives" / "2026-10.html").read_bytes()
    english = (out / "en" / "archives" / "2026-10.html").read_bytes()
    before_home = (out / "index.html").read_bytes()
    with Store.open(None, home=copy) as store:
        monitor = Monitor(store, Rules())
        monitor.resume(datetime(2026, 11, 2, tzinfo=UTC))
        # a late probe of October, and November's
        _probe(store, monitor, _obs(FINE, datetime(2026, 10, 31, 20, 0, tzinfo=UTC),
                                    Outcome.UNAVAILABLE))  # fmt: skip
        for hours in range(0, 48, 6):
            at = datetime(2026, 11, 1, 1, 0, tzinfo=UTC) + timedelta(hours=hours)
            _probe(store, monitor, _obs(FINE, at, Outcome.UNAVAILABLE))
    later = BUILT_AT + timedelta(days=1)
    _build(copy, out, later)
    assert (out / "archives" / "2026-10.html").read_bytes() == month
    assert (out / "en" / "archives" / "2026-10.html").read_bytes() == english
    assert (out / "index.html").read_bytes() != before_home  # the rest moved on
    # a site built into a new folder keeps the frozen page too (the data directory's copy)
    fresh = tmp_path / "fresh"
    _build(copy, fresh, later)
    assert (fresh / "archives" / "2026-10.html").read_bytes() == month


def test_a_new_method_version_rewrites_the_month_and_says_so(
    site: Path, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    out = tmp_path / "public"
    shutil.copytree(site, out)
    old = (out / "archives" / "2026-10.html").read_bytes()
    monkeypatch.setattr(site_build, "METHOD_VERSION", "9.9")
    monkeypatch.setattr("guichets.site.archive.METHOD_VERSION", "9.9")
    _build(copy, out)
    new = (out / "archives" / "2026-10.html").read_text("utf-8")
    assert new.encode() != old
    said = LexborHTMLParser(new).text()
    assert "Recalculée selon la méthode version 9.9 ; publiée d'abord selon la version 1" in said


def test_text_xml_cannot_hold_is_dropped_before_feedgen() -> None:
    from guichets.site.feeds import xml_text

    assert xml_text("a\x07b\ufffec\x00d\ttab") == "abcd\ttab"
    assert len(xml_text("x" * 9000)) == 4000


def test_closed_days_and_unreadable_days_are_two_columns(site: Path) -> None:
    """Issue 11's "blocked is not closed": the service closed from 3 to 17 October shows a run of
    15 closed days and none unreadable."""
    page = _html(site / "services" / f"{CLOSED}.html")
    table = next(t for t in page.css("table") if "Plus longue série de jours fermés" in t.text())
    heads = [th.text() for th in table.css("thead th")]
    cells = [c.text() for c in table.css("tbody tr")[0].css("th, td")]
    row = dict(zip(heads, cells, strict=True))
    assert row["Plus longue série de jours fermés"] == "15"
    assert row["Plus longue série de jours sans lecture (robot aveugle)"] == "0"
