"""The public website in headless Chromium, built from a real demo run and served on loopback.

A few simulated days of the demo robot fill a store; one service's label is made hostile
(``<script>``, ``&``, quotes) and one catalogue service is never probed, then the site is built and
served by ``guichets.site.serve.site_app`` on an ephemeral 127.0.0.1 port. Content is read with
JavaScript disabled (the site must be readable without it): the map's colours against failure
rates recomputed here from the stored probes, every link, loopback-only requests, the hostile label
shown as text, the English mirror, and axe-core's serious and critical findings at two sizes.

axe-core comes from ``scripts/ensure-axe.sh`` (``make test`` runs it), pinned in tests/axe/.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser, BrowserContext, Dialog, Page, Route, async_playwright
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from guichets.catalogue import catalogue_to_toml, load_catalogue
from guichets.cli.site import DEFAULT_CONTACT
from guichets.evidence.screenshot import CHROMIUM, CHROMIUM_ARGS
from guichets.model import PARIS, Category
from guichets.site import francemap, i18n
from guichets.site.build import build_site
from guichets.site.serve import site_app
from guichets.store import Store
from guichets.usecases.demo import run_demo
from guichets.usecases.figures import read_figures

pytestmark = pytest.mark.browser
in_module_loop = pytest.mark.asyncio(loop_scope="module")  # the served site's event loop

ROOT = Path(__file__).resolve().parents[1]
AXE = ROOT / "tests" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
DAYS = 3  # simulated days of the demo: every colour of the scale shows, in ~15 s
HOSTILE = '<script>alert("x")</script> & "quotes"'
UNPROBED = "2a-ajaccio-renouvellement"  # in the catalogue, never probed: Corse-du-Sud has no data
UNPROBED_DEPARTEMENT = "2A"
VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}
LANG_ROOT = {"fr": "", "en": "en/"}


@dataclass
class Site:
    out: Path
    url: str  # http://127.0.0.1:PORT/
    port: int
    month: str  # the latest month, YYYY-MM
    rates: dict[str, float | None]  # département → failure rate of the latest month, or None
    hostile: str  # the service whose label is HOSTILE
    hostile_departement: str
    services: list[str]
    pages: list[Path] = field(default_factory=list)  # every HTML file, relative to out


def _need_tools() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"needs Debian's chromium at {CHROMIUM} (make test installs it)")
    if not AXE.is_file():
        pytest.skip(f"needs axe-core at {AXE}: run sh scripts/ensure-axe.sh (make test does)")


def _latest_rates(
    home: Path, departement_of: dict[str, str]
) -> tuple[str, dict[str, float | None]]:
    """The latest month, and each département's failure rate in it, straight from the probes:
    probes of category E over valid probes (available or unavailable), by Paris month."""
    with Store.open(None, home=home) as store:
        observations = list(store.observations())
    assert observations, "the demo stored no probe"
    month = f"{max(o.started_at for o in observations).astimezone(PARIS):%Y-%m}"
    valid: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    for obs in observations:
        if f"{obs.started_at.astimezone(PARIS):%Y-%m}" != month:
            continue
        code = departement_of[obs.service]
        if obs.outcome.valid:
            valid[code] += 1
            failed[code] += obs.category is Category.E
    rates = {
        code: (failed[code] / valid[code] if valid[code] else None)
        for code in sorted(set(departement_of.values()))
    }
    return month, rates


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    """A demo run's site, with a hostile label and an unprobed département, served on loopback."""
    _need_tools()
    home = tmp_path_factory.mktemp("site-home")
    await run_demo(home, days=DAYS, cadence="6h", evidence=False)
    # The catalogue after the run: one label made hostile, one service added but never probed.
    path = home / "catalogue.toml"
    services = list(load_catalogue(path).services)
    hostile = services[0].model_copy(update={"label": HOSTILE})
    unprobed = services[0].model_copy(
        update={
            "id": UNPROBED,
            "departement": UNPROBED_DEPARTEMENT,
            "site": "Préfecture de Corse-du-Sud",
            "planning": 999_999,
            "label": None,
        }
    )
    path.write_text(catalogue_to_toml([hostile, *services[1:], unprobed]), "utf-8")
    catalogue = load_catalogue(path)
    assert catalogue.by_id[hostile.id].label == HOSTILE
    departement_of = {s.id: s.departement for s in catalogue.services}
    month, rates = _latest_rates(home, departement_of)
    assert rates[UNPROBED_DEPARTEMENT] is None
    assert any(v is not None for v in rates.values())

    out = home / "public"
    with Store.open(None, home=home) as store:
        figures = read_figures(store, catalogue, generated_at=datetime.now(UTC))
        build_site(store, figures, out, home=home, contact=DEFAULT_CONTACT)

    runner = web.AppRunner(site_app(out), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = runner.addresses[0][1]
        yield Site(
            out=out,
            url=f"http://127.0.0.1:{port}/",
            port=port,
            month=month,
            rates=rates,
            hostile=hostile.id,
            hostile_departement=hostile.departement,
            services=[s.id for s in catalogue.services],
            pages=sorted(p.relative_to(out) for p in out.rglob("*.html")),
        )
    finally:
        await runner.cleanup()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    _need_tools()
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=list(CHROMIUM_ARGS), headless=True
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@dataclass
class Traffic:
    """Every request a browser context made, and every response that was not a 200."""

    requested: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    not_ok: list[tuple[int, str]] = field(default_factory=list)


@asynccontextmanager
async def context(
    browser: Browser,
    *,
    js: bool = False,
    viewport: tuple[int, int] = VIEWPORTS["desktop"],
    bypass_csp: bool = False,
) -> AsyncIterator[tuple[BrowserContext, Traffic]]:
    """A fresh context whose every request is recorded; anything not for 127.0.0.1 is aborted,
    and a context that asked for anything else fails its test: no test reaches beyond loopback."""
    ctx = await browser.new_context(
        java_script_enabled=js,
        viewport={"width": viewport[0], "height": viewport[1]},
        bypass_csp=bypass_csp,
        service_workers="block",
    )
    traffic = Traffic()

    async def guard(route: Route) -> None:
        url = route.request.url
        traffic.requested.append(url)
        if urlsplit(url).hostname != "127.0.0.1":
            traffic.refused.append(url)
            await route.abort()
        else:
            await route.continue_()

    def seen(response: Any) -> None:
        if response.status != 200:
            traffic.not_ok.append((response.status, response.url))

    await ctx.route("**/*", guard)
    ctx.on("response", seen)
    try:
        yield ctx, traffic
    finally:
        await ctx.close()
    assert traffic.refused == [], f"requests beyond loopback: {traffic.refused}"


async def visit(page: Page, url: str) -> None:
    response = await page.goto(url, wait_until="load")
    assert response is not None and response.status == 200, (url, response and response.status)


async def visit_all(ctx: BrowserContext, urls: list[str], tabs: int = 3) -> None:
    """Each URL in one of a few tabs at once: 200, a main heading, the URL's language."""

    async def tab(share: list[str]) -> None:
        page = await ctx.new_page()
        for url in share:
            await visit(page, url)
            assert await page.locator("main > h1").count() == 1, url
            lang = "en" if urlsplit(url).path.startswith("/en/") else "fr"
            assert await page.get_attribute("html", "lang") == lang, url
        await page.close()

    await asyncio.gather(*(tab(urls[i::tabs]) for i in range(tabs)))


def _rgb(colour: str) -> str:
    """#rrggbb as getComputedStyle writes it."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def _parse(path: Path) -> HTMLParser:
    return HTMLParser(path.read_text("utf-8"))


def _lang_of(relative: Path) -> str:
    return "en" if relative.parts[0] == "en" else "fr"


# -- the map ---


_AREAS = """els => els.map(e => {
    const path = e.querySelector('path');
    return [e.dataset.departement, e.dataset.value ?? null, path.getAttribute('fill'),
            getComputedStyle(path).fill];
})"""
_ROWS = """els => els.map(e => {
    const swatch = getComputedStyle(e.querySelector('.swatch'));
    return [e.dataset.departement, e.innerText, swatch.backgroundColor, swatch.backgroundImage];
})"""


@in_module_loop
async def test_the_home_map_colours_each_departement_by_its_latest_failure_rate(
    site: Site, browser: Browser
) -> None:
    async with context(browser) as (ctx, _):
        page = await ctx.new_page()
        for lang, root in LANG_ROOT.items():
            await visit(page, site.url + root + "index.html")
            areas = await page.eval_on_selector_all("svg.francemap [data-departement]", _AREAS)
            drawn: dict[str, list[tuple[str | None, str, str]]] = {}
            for code, value, fill, computed in areas:
                drawn.setdefault(code, []).append((value, fill, computed))
            assert len(drawn) >= 96  # the whole country is drawn, monitored or not
            for code, rate in site.rates.items():
                assert code in drawn, f"{lang}: no area for département {code}"
                for value, fill, computed in drawn[code]:
                    if rate is None:
                        assert value == "", (lang, code, value)
                        assert fill.startswith("url(#"), (lang, code, fill)
                        assert fill.endswith(francemap.NO_DATA_COLOUR), (lang, code, fill)
                        pattern = fill.removeprefix("url(#").split(")")[0]
                        assert await page.locator(f"svg.francemap pattern#{pattern}").count() == 1
                        assert computed.endswith(_rgb(francemap.NO_DATA_COLOUR)), computed
                    else:
                        expected = francemap.colour_of(rate)
                        assert value, (lang, code)
                        assert float(value) == pytest.approx(rate, abs=5e-5), (lang, code)
                        assert fill == expected, (lang, code, rate, fill)
                        assert computed == _rgb(expected), (lang, code, rate, computed)
            for code, shapes in drawn.items():
                if code not in site.rates:
                    for _, fill, _ in shapes:
                        assert fill == francemap.NOT_PROBED_COLOUR, (lang, code, fill)
            # The table under the map: one row per monitored département, the same figure as text.
            rows = await page.eval_on_selector_all("table.departements tr[data-departement]", _ROWS)
            assert [row[0] for row in rows] == list(_code_sorted(site.rates))
            for code, text, swatch, image in rows:
                rate = site.rates[code]
                if rate is None:  # hatched like the map, so that no colour is read as a rate
                    assert image.startswith("repeating-linear-gradient("), (lang, code, image)
                    assert _rgb(francemap.NO_DATA_COLOUR) in image, (lang, code, image)
                else:
                    assert swatch == _rgb(francemap.colour_of(rate)), (lang, code, swatch)
                    assert image == "none", (lang, code, image)
                if rate is None:
                    assert i18n.message("no_valid", lang) in text, (lang, code, text)
                else:
                    assert i18n.fmt_pct(rate, lang) in text, (lang, code, rate, text)


def _code_sorted(codes: dict[str, Any]) -> list[str]:
    """The official order: 01…19, 2A, 2B, 21…95, then overseas."""

    def key(code: str) -> tuple[int, str]:
        digits = code.replace("A", "0").replace("B", "1") if code.startswith("2") else code
        return int(digits), code

    return sorted(codes, key=key)


# -- links ---


_LINKED = (("a", "href"), ("link", "href"), ("img", "src"))


def test_every_relative_link_of_every_page_names_a_file_of_the_site(site: Site) -> None:
    broken: list[str] = []
    ids: dict[Path, set[str]] = {}

    def ids_of(path: Path) -> set[str]:
        if path not in ids:
            tree = _parse(path)
            ids[path] = {n.attributes.get("id") or "" for n in tree.css("[id]")}
        return ids[path]

    checked = 0
    for relative in site.pages:
        page = site.out / relative
        for tag, attribute in _LINKED:
            for node in _parse(page).css(f"{tag}[{attribute}]"):
                link = node.attributes.get(attribute) or ""
                parts = urlsplit(link)
                if parts.scheme or parts.netloc:
                    # Only a plain link may leave the site; nothing a page loads by itself.
                    if tag != "a" or parts.scheme not in ("https", "http", "mailto"):
                        broken.append(f"{relative}: <{tag} {attribute}={link!r}> is not relative")
                    continue
                target = page if not parts.path else (page.parent / unquote(parts.path))
                if parts.path.endswith("/"):
                    target = target / "index.html"
                target = target.resolve()
                checked += 1
                if site.out.resolve() not in target.parents or not target.is_file():
                    broken.append(f"{relative}: <{tag} {attribute}={link!r}> names no file")
                elif parts.fragment and unquote(parts.fragment) not in ids_of(target):
                    broken.append(f"{relative}: <{tag} {attribute}={link!r}> no such anchor")
    assert checked > 8 * len(site.pages)  # stylesheet, alternate, navigation at least
    assert not broken, "\n".join(broken)


def _sample_pages(site: Site) -> list[str]:
    """Home, every département page, three service pages (the hostile one first), both languages."""
    codes = sorted({p.stem for p in site.pages if p.parent == Path("departements")})
    assert set(site.rates) <= set(codes)
    services = [site.hostile, UNPROBED, site.services[len(site.services) // 2]]
    paths = ["index.html"]
    paths += [f"departements/{code}.html" for code in codes]
    paths += [f"services/{service}.html" for service in services]
    return [root + path for root in LANG_ROOT.values() for path in paths]


@in_module_loop
async def test_home_departement_and_service_pages_answer_200_in_both_languages(
    site: Site, browser: Browser
) -> None:
    pages = _sample_pages(site)
    async with context(browser) as (ctx, traffic):
        await visit_all(ctx, [site.url + path for path in pages])
    assert traffic.not_ok == []
    assert len(traffic.requested) >= len(pages)


# -- loopback only ---


@in_module_loop
async def test_no_request_leaves_loopback(site: Site, browser: Browser) -> None:
    """Every page kind in both languages, JavaScript on as a visitor's browser has it: nothing but
    the site's own files is asked for, no font, no CDN, no analytics. (Every other test's context
    refuses and fails on any request beyond loopback, too.)"""
    kinds = ["index.html", f"departements/{site.hostile_departement}.html"]
    kinds += [f"services/{site.hostile}.html", "methode.html", "robot.html", "donnees.html"]
    async with context(browser, js=True) as (ctx, traffic):
        await visit_all(
            ctx, [site.url + root + kind for root in LANG_ROOT.values() for kind in kinds]
        )
    assert len(traffic.requested) >= 2 * len(kinds) + 1  # the pages and their stylesheet
    for url in traffic.requested:
        parts = urlsplit(url)
        assert (parts.scheme, parts.hostname, parts.port) == ("http", "127.0.0.1", site.port)
        assert (site.out / unquote(parts.path).lstrip("/")).is_file(), url
    assert traffic.not_ok == []


# -- the hostile label ---


@in_module_loop
async def test_a_label_holding_a_script_tag_is_shown_as_text_and_never_runs(
    site: Site, browser: Browser
) -> None:
    where = [f"services/{site.hostile}.html", f"departements/{site.hostile_departement}.html"]
    async with context(browser) as (ctx, _):
        page = await ctx.new_page()
        for root in LANG_ROOT.values():
            for path in where:
                await visit(page, site.url + root + path)
                assert HOSTILE in await page.inner_text("main"), path
                if path.startswith("departements/"):  # the link to the service, in its table
                    link = page.locator(
                        f'main td a[href$="services/{site.hostile}.html"], '
                        f'main th a[href$="services/{site.hostile}.html"]'
                    )
                    assert await link.inner_text() == HOSTILE
            await visit(page, site.url + root + f"services/{site.hostile}.html")
            assert HOSTILE in await page.title()
    # In the files: no script element, no event handler attribute, anywhere.
    for relative in site.pages:
        tree = _parse(site.out / relative)
        assert tree.css("script") == [], relative
        handlers = [
            (n.tag, name) for n in tree.css("*") for name in n.attributes if name.startswith("on")
        ]
        assert handlers == [], (relative, handlers)
    # With JavaScript on and the page's CSP bypassed, so that only the escaping stands between
    # the label and a running script: no script element, no dialog.
    dialogs: list[str] = []

    async def dialog(d: Dialog) -> None:
        dialogs.append(d.message)
        await d.dismiss()

    async with context(browser, js=True, bypass_csp=True) as (ctx, _):
        page = await ctx.new_page()
        page.on("dialog", dialog)
        for root in LANG_ROOT.values():
            for path in ["index.html", *where]:
                await visit(page, site.url + root + path)
                assert await page.evaluate("document.querySelectorAll('script').length") == 0
                assert await page.evaluate("typeof window.alert") == "function"  # JS does run
    assert dialogs == []


# -- the English mirror ---


def test_every_french_page_has_its_english_page_and_each_says_its_language(site: Site) -> None:
    french = {p for p in site.pages if _lang_of(p) == "fr"}
    english = {p.relative_to("en") for p in site.pages if _lang_of(p) == "en"}
    assert len(french) > 2 * len(site.rates)
    assert french == english
    for relative in site.pages:
        tree = _parse(site.out / relative)
        lang = _lang_of(relative)
        html = tree.css_first("html")
        assert html is not None and html.attributes.get("lang") == lang, relative
        alternate = tree.css_first("link[rel=alternate][hreflang]")
        assert alternate is not None, relative
        other = "fr" if lang == "en" else "en"
        assert alternate.attributes.get("hreflang") == other, relative
        href = alternate.attributes.get("href") or ""
        counterpart = ((site.out / relative).parent / href).resolve()
        expected = relative.relative_to("en") if lang == "en" else Path("en") / relative
        assert counterpart == (site.out / expected).resolve(), (relative, href)


# -- accessibility ---


_AXE_RUN = "async () => JSON.stringify((await axe.run(document)).violations)"


def _describe(violations: list[dict[str, Any]]) -> list[str]:
    lines = []
    for v in violations:
        targets = [" ".join(map(str, n.get("target", []))) for n in v.get("nodes", [])]
        lines.append(
            f"  {v['id']} ({v['impact']}): {v['help']} — {len(targets)} node(s): "
            + "; ".join(targets[:6])
            + (" …" if len(targets) > 6 else "")
        )
        for n in v.get("nodes", [])[:2]:
            lines.append(f"      {n.get('html', '')[:160]}")
            summary = re.sub(r"\s+", " ", n.get("failureSummary") or "")
            lines.append(f"      {summary[:300]}")
    return lines


@pytest.mark.parametrize("lang", ["fr", "en"])
@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@in_module_loop
async def test_axe_finds_nothing_serious_on_home_and_departement_pages(
    site: Site, browser: Browser, lang: str, viewport: str
) -> None:
    report: list[str] = []
    serious = 0
    paths = ["index.html", f"departements/{site.hostile_departement}.html"]
    async with context(browser, js=True, bypass_csp=True, viewport=VIEWPORTS[viewport]) as (
        ctx,
        _,
    ):
        page = await ctx.new_page()
        for path in paths:
            await visit(page, site.url + LANG_ROOT[lang] + path)
            await page.add_script_tag(path=str(AXE))
            violations = json.loads(await page.evaluate(_AXE_RUN))
            bad = [v for v in violations if v["impact"] in ("serious", "critical")]
            serious += len(bad)
            if violations:
                report.append(f"{LANG_ROOT[lang]}{path} at {viewport}:")
                report += _describe(sorted(violations, key=lambda v: v["impact"] != "critical"))
    print("\n".join(report))
    assert serious == 0, "\n".join(report)
