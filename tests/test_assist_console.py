"""The assisted console in real Chromium: a test person makes attempts on an RDV-Préfecture
démarche, a Préfecture-de-police-like form and a legacy form with its « Contrôle de sécurité »,
with the keyboard alone, through the console's pages.

The person's eyes are the simulator's truth endpoint, asked with the SHA-256 of the image the
console showed (``/_captcha/{digest}``). What the robot's reader found must equal the truth at
that instant; a wrong answer is shown and recorded; the audio captcha plays; axe-core finds no
serious or critical violation; the simulator's ``/_forbidden`` stays empty; the evidence
verifies. One Chromium serves both the console's attempts and the person (two contexts).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import Page, async_playwright

from guichets.assist.attempt import Limits
from guichets.assist.console import Console
from guichets.catalogue import Service
from guichets.clock import SimulatedClock
from guichets.evidence.archive import EvidenceArchive
from guichets.evidence.screenshot import CHROMIUM, CHROMIUM_ARGS, Renderer, load_probe
from guichets.evidence.verify import verify
from guichets.model import Outcome
from guichets.store import Store
from guichets.store.assisted import attempts
from tests.assistsim import SCENARIO
from tests.simthread import SimulatorThread

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[1]
AXE = ROOT / "tests" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
_AXE_RUN = "async () => JSON.stringify((await axe.run(document)).violations)"
CASES = [  # service, platform, planning
    ("33-bordeaux-titre", "rdvpref", None),
    ("75-paris-titre", "ezbooking", 75011),
    ("38-grenoble-renouvellement", "ezbooking", 41291),
]


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimulatorThread]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"needs Debian's chromium at {CHROMIUM} (make test installs it)")
    path = tmp_path / "scenario.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    with SimulatorThread(path) as thread:
        yield thread


def services(sim: SimulatorThread) -> list[Service]:
    return [
        Service(
            id=sid, departement=sid[:2], site=f"Préfecture {sid[:2]}", procedure="titre-sejour",
            platform=platform, url=sim.url(sid), planning=planning, cadence="1h",
            label=f"Démarche {sid}",
        )
        for sid, platform, planning in CASES
    ]  # fmt: skip


@dataclass
class Served:
    url: str
    console: Console
    store: Store
    home: Path


async def _serve(console: Console) -> AsyncIterator[str]:
    runner = web.AppRunner(console.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def truth_of(sim: SimulatorThread, path: str) -> Any:
    with urllib.request.urlopen(sim.base_url + path, timeout=10) as response:
        return json.loads(response.read())


async def tab_to(page: Page, selector: str, limit: int = 60) -> None:
    """Press Tab until the focused element matches ``selector``: reachable by keyboard alone."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} cannot be reached with the Tab key")


async def axe(page: Page) -> list[str]:
    await page.add_script_tag(path=str(AXE))
    found = json.loads(await page.evaluate(_AXE_RUN))
    return [f"{v['id']} ({v['impact']})" for v in found if v["impact"] in ("serious", "critical")]


SEEN: list[bytes] = []  # every captcha image shown and every code typed: none may be archived


async def code_shown(sim: SimulatorThread, page: Page) -> str:
    """What the person reads on the captcha the console shows: the truth of that very image."""
    src = await page.locator("section.captcha img").get_attribute("src")
    assert src
    image = await page.context.request.get(page.url.split("/tentatives")[0] + src)
    assert image.ok and (await image.body())[:4] == b"\x89PNG"
    code = truth_of(sim, f"/_captcha/{hashlib.sha256(await image.body()).hexdigest()}")["code"]
    assert isinstance(code, str)
    SEEN.extend([await image.body(), code.encode()])
    return code


async def test_a_person_makes_attempts_with_the_keyboard(
    sim: SimulatorThread, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    clock = SimulatedClock(sim.clock.now(), autojump=False)
    problems: list[str] = []
    with Store.open(None, home=home) as store, EvidenceArchive(home, store, clock) as archive:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, args=list(CHROMIUM_ARGS)
            )
            async with Renderer(browser=browser) as renderer:

                async def render(probe_id: str) -> bytes:
                    return await renderer.render(load_probe(home, store, probe_id))

                console = Console(
                    services=services(sim), store=store, archive=archive, clock=clock,
                    limits=Limits(), browser=browser, render=render, person="p-test",
                )  # fmt: skip
                async for url in _serve(console):
                    person = await browser.new_context(bypass_csp=True, locale="fr-FR")
                    page = await person.new_page()
                    await page.goto(f"{url}/?jeton={console.login_token}")
                    assert await page.locator("h1").inner_text() == "Faire une tentative assistée"
                    if AXE.is_file():
                        problems += await axe(page)
                    for sid, _, _ in CASES:
                        problems += await _attempt(sim, page, url, sid, store, clock)
                    await _refusals(url, page)
                    await person.close()
            await browser.close()
        assert problems == []
        assert truth_of(sim, "/_forbidden")["requests"] == []
        made = attempts(store, person="p-test")
        assert sorted((a.service, a.wrong_answers, a.reads, a.state) for a in made) == sorted(
            (sid, 1, 2 if sid == "33-bordeaux-titre" else 1, "read") for sid, _, _ in CASES
        )
        assert all(a.person_seconds >= 0 and a.passed_at is not None for a in made)
        archive.close()
        checked = verify(home, store)
        assert checked.intact and checked.probes == 4, checked.problems
        robot = list(store.observations(assisted=False))
        assert robot == []  # nothing the person did passes for the robot's
    archived = b"".join(
        gzip.decompress(path.read_bytes()) for path in (home / "evidence").rglob("*.warc.gz")
    )
    assert len(SEEN) == 12 and not [s for s in SEEN if s in archived]  # no image, no answer


async def _attempt(
    sim: SimulatorThread, page: Page, url: str, sid: str, store: Store, clock: SimulatedClock
) -> list[str]:
    problems: list[str] = []
    await page.goto(url + "/")
    await tab_to(page, f"a[href='/services/{sid}']")
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    assert "Ce qui va se passer" in await page.content()
    await tab_to(page, "button[type=submit]:not(.secondaire)")
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    assert await page.locator("section.captcha img").count() == 1, await page.content()
    if AXE.is_file():
        problems += await axe(page)
    if sid == "33-bordeaux-titre":  # CaptchEtat has a sound: it plays
        await tab_to(page, "audio#son")
        played = await page.evaluate(
            """() => new Promise((done) => {
                const a = document.getElementById('son');
                a.addEventListener('timeupdate', () => done(a.currentTime), {once: true});
                a.addEventListener('error', () => done(-1), {once: true});
                a.play().catch(() => done(-2));
            })"""
        )
        assert played > 0, played
    code = await code_shown(sim, page)
    wrong = "".join("3" if c != "3" else "4" for c in code)
    await page.locator("#code").focus()  # autofocus already; the keyboard types
    await page.keyboard.type(wrong)
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    assert "Le site a refusé ce code" in await page.content()
    code = await code_shown(sim, page)
    await page.keyboard.type(code)
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    text = await page.content()
    assert "Le site a accepté le code" in text and "Lecture 1" in text, text
    if AXE.is_file():
        problems += await axe(page)
    shot = await page.locator("section.resultat img").get_attribute("src")
    assert shot and (await (await page.context.request.get(url + shot)).body())[:4] == b"\x89PNG"
    observation = next(o for o in store.observations(assisted=True, service=sid))
    assert observation.person == "p-test" and observation.extra["captcha_wrong_answers"] == "1"
    truth = truth_of(sim, f"/_truth/{sid}")["counters"][0]
    free = [datetime.fromisoformat(s) for s in truth["free_slots"]]
    if free:
        assert observation.outcome is Outcome.AVAILABLE
        assert observation.slots[0] == free[0] and set(observation.slots) <= set(free)
        assert "Des créneaux sont proposés" in text
    else:
        assert observation.outcome is Outcome.UNAVAILABLE
        assert "Aucun créneau" in text
    if sid == "33-bordeaux-titre":  # more reads in the same session: one per 5 minutes at most
        read = page.locator("form[action$='/lecture'] button")
        async with page.expect_navigation():
            await read.click()
        assert "Prochaine lecture possible dans 5 min" in await page.content()
        clock.advance(300)
        async with page.expect_navigation():
            await read.click()
        assert "Lecture 2" in await page.content()
    await tab_to(page, "button.secondaire[type=submit]:not([form])")
    if "Se déconnecter" in (await page.evaluate("document.activeElement.textContent")):
        await tab_to(page, "form[action$='/fin'] button")
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    assert "La tentative est terminée" in await page.content()
    return problems


async def _refusals(url: str, page: Page) -> None:
    """No answer reaches the console's attempts without a logged-in session and its token."""
    some = (await page.context.cookies())[0]
    target = f"{url}/tentatives/0123/reponse"
    async with aiohttp.ClientSession() as client:
        async with client.post(target, data={"code": "ABCDEF"}) as bare:
            assert bare.status == 403
        cookies = {some["name"]: some["value"]}
        async with client.post(target, data={"code": "ABCDEF"}, cookies=cookies) as no_csrf:
            assert no_csrf.status == 403
        async with client.post(
            target, data={"code": "ABCDEF", "csrf": "forged"}, cookies=cookies
        ) as forged:
            assert forged.status == 403
