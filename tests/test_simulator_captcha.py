"""The simulator's captchas: a real image and sound, one answer each, validated once per session
and form, with expiry; the truth endpoint that stands in for a person's eyes, which the robot's
session and guards refuse; and every answer not typed in a browser logged at ``/_forbidden``."""

from __future__ import annotations

import hashlib
import io
import wave
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from selectolax.lexbor import LexborHTMLParser

from guichets.clock import SimulatedClock
from guichets.http import ForbiddenRequest, HostGates, Politeness, PoliteSession
from guichets.model import Detail, Outcome
from guichets.platforms import Target
from guichets.platforms.rdvpref import guard as rdvpref_guard
from guichets.probe import ProbeSpec, run_probe
from guichets.simulator.captcha import ALPHABET, CaptchaBook, Verdict, draw_png, tones_of, wav_of
from tests.assistsim import SCENARIO
from tests.simthread import Browser, Page, SimulatorThread

NOW = datetime.fromisoformat("2026-10-05T07:00:00+00:00")


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimulatorThread]:
    path = tmp_path / "scenario.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    with SimulatorThread(path) as thread:
        yield thread


def test_image_and_sound_are_real_and_carry_the_code() -> None:
    png = draw_png("K7MPX3", "seed")
    assert png == draw_png("K7MPX3", "seed") and png != draw_png("K7MPX3", "other")
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size[0] > 200 and image.size[1] >= 60
    assert len(image.convert("L").getcolors(256) or []) > 20  # drawn, not blank
    with wave.open(io.BytesIO(wav_of("K7MPX3"))) as sound:
        assert sound.getnframes() / sound.getframerate() == pytest.approx(6 * 0.4, abs=0.01)
    assert len({tones_of(c) for c in ALPHABET}) == len(ALPHABET)


def test_one_answer_per_captcha_and_expiry() -> None:
    book = CaptchaBook()
    first = book.draw("captchetat", "s:1", NOW)
    assert book.check(first.id, "s:2", first.code, NOW) == Verdict.UNKNOWN  # another session
    assert book.check(first.id, "s:1", first.code.lower(), NOW) == Verdict.RIGHT
    assert book.check(first.id, "s:1", first.code, NOW) == Verdict.UNKNOWN  # spent: no replay
    wrong = book.draw("captchetat", "s:1", NOW)
    assert book.check(wrong.id, "s:1", "AAAAAA" if wrong.code != "AAAAAA" else "B", NOW) == (
        Verdict.WRONG
    )
    late = book.draw("captchetat", "s:1", NOW)
    later = NOW + timedelta(minutes=6)
    assert book.check(late.id, "s:1", late.code, later) == Verdict.EXPIRED
    png = book.image(late.id)
    assert png is not None and book.truth(hashlib.sha256(png).hexdigest()) is late


def _truth(sim: SimulatorThread, png: bytes) -> str:
    code = sim.get_json(f"/_captcha/{hashlib.sha256(png).hexdigest()}")["code"]
    assert isinstance(code, str)
    return code


def _absolute(sim: SimulatorThread, href: str) -> str:
    return href if href.startswith("http") else sim.base_url + href


def _rdv_captcha(sim: SimulatorThread, browser: Browser) -> tuple[Page, dict[str, str], bytes]:
    """cgu/ and what the State's component shows: hidden fields and the image."""
    landing = browser.request(sim.url("33-bordeaux-titre"))
    link = LexborHTMLParser(landing.text).css_first("a.fr-btn")
    assert link is not None
    cgu = browser.request(_absolute(sim, link.attributes["href"] or ""))
    tree = LexborHTMLParser(cgu.text)
    element = tree.css_first("rdv-captchetat")
    assert element is not None
    style, token = element.attributes["captcha-style-name"], element.attributes["token"]
    endpoint = _absolute(sim, element.attributes["endpoint-url"] or "")
    import urllib.request

    request = urllib.request.Request(
        f"{endpoint}?get=html&c={style}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        widget = LexborHTMLParser(response.read().decode())
    fields = {
        n.attributes["name"] or "": n.attributes["value"] or ""
        for n in widget.css("input[type=hidden]")
    }
    fields.update(
        {
            n.attributes["name"] or "": n.attributes["value"] or ""
            for n in tree.css("form input[type=hidden]")
        }
    )
    image = widget.css_first("img.BDC_CaptchaImage")
    assert image is not None
    png = browser.request_bytes(
        _absolute(sim, (image.attributes["src"] or "").replace("&amp;", "&"))
    )
    return cgu, fields, png


def _post(sim: SimulatorThread, browser: Browser, cgu: Page, fields: dict[str, str]) -> Page:
    button = LexborHTMLParser(cgu.text).css_first("button[formaction]")
    assert button is not None
    return browser.request(
        _absolute(sim, button.attributes["formaction"] or ""), fields, follow=False
    )


def test_captchetat_once_per_session_and_demarche(sim: SimulatorThread) -> None:
    browser = Browser()
    cgu, fields, png = _rdv_captcha(sim, browser)
    assert Image.open(io.BytesIO(png)).format == "PNG"
    code = _truth(sim, png)
    wrong = "2" * len(code) if code != "2" * len(code) else "3" * len(code)
    # A wrong answer, typed (the keys count that the page's script keeps), is refused...
    answered = _post(sim, browser, cgu, {**fields, "captchaUsercode": wrong, "captchaKeys": "6"})
    assert answered.headers["Location"].endswith("/cgu/?error=invalidCaptcha")
    # ...and the same captcha cannot be answered again, even rightly: one answer per captcha.
    again = _post(sim, browser, cgu, {**fields, "captchaUsercode": code, "captchaKeys": "6"})
    assert again.headers["Location"].endswith("/cgu/?error=invalidCaptcha")
    cgu, fields, png = _rdv_captcha(sim, browser)
    code = _truth(sim, png)
    right = _post(sim, browser, cgu, {**fields, "captchaUsercode": code, "captchaKeys": "6"})
    assert right.headers["Location"].endswith("/creneau/")
    assert (
        "Choisissez votre créneau"
        in browser.request(_absolute(sim, right.headers["Location"])).text
    )
    # Passed once for this session and démarche: cgu/ asks no more.
    landing = browser.request(sim.url("33-bordeaux-titre") + "cgu/")
    assert "rdv-captchetat" not in landing.text
    # An expired captcha is refused like a wrong one.
    late = Browser()
    cgu, fields, png = _rdv_captcha(sim, late)
    code = _truth(sim, png)
    sim.set_time(sim.clock.now() + timedelta(minutes=6))
    expired = _post(sim, late, cgu, {**fields, "captchaUsercode": code, "captchaKeys": "6"})
    assert expired.headers["Location"].endswith("/cgu/?error=invalidCaptcha")
    assert not sim.get_json("/_forbidden")["requests"]


def test_an_answer_not_typed_in_a_browser_is_forbidden(sim: SimulatorThread) -> None:
    browser = Browser()
    cgu, fields, png = _rdv_captcha(sim, browser)
    code = _truth(sim, png)
    posted = _post(sim, browser, cgu, {**fields, "captchaUsercode": code})
    assert posted.status == 403
    step0 = browser.request(sim.url("38-grenoble-renouvellement"))
    form = LexborHTMLParser(step0.text).css_first("form#FormBookingCreate")
    assert form is not None and "Contrôle de sécurité" in step0.text
    sent = browser.request(
        _absolute(sim, form.attributes["action"] or ""),
        {"condition": "on", "nextButton": "Effectuer une demande de rendez-vous", "captcha": "AB"},
    )
    assert sent.status == 403
    reasons = [r["reason"] for r in sim.get_json("/_forbidden")["requests"]]
    assert len(reasons) == 2 and all("without typing it in a browser" in r for r in reasons)


@pytest.mark.parametrize(
    ("service", "field", "image"),
    [
        ("38-grenoble-renouvellement", "captcha", "#captcha_image"),
        ("75-paris-titre", "captchacode", "#captchaimg"),
    ],
)
def test_legacy_security_checks(sim: SimulatorThread, service: str, field: str, image: str) -> None:
    browser = Browser()
    step0 = browser.request(sim.url(service))
    tree = LexborHTMLParser(step0.text)
    node = tree.css_first(image)
    form = tree.css_first("form#FormBookingCreate")
    assert node is not None and form is not None
    png = browser.request_bytes(_absolute(sim, node.attributes["src"] or ""))
    code = _truth(sim, png)
    action = _absolute(sim, form.attributes["action"] or "")
    base = {"condition": "on", "nextButton": "Effectuer une demande de rendez-vous"}
    wrong = browser.request(action, {**base, field: code[::-1] + "9", "captchaKeys": "9"})
    assert "Le code de sécurité saisi est incorrect" in wrong.text
    node = LexborHTMLParser(wrong.text).css_first(image)
    assert node is not None
    code = _truth(sim, browser.request_bytes(_absolute(sim, node.attributes["src"] or "")))
    right = browser.request(action, {**base, field: code, "captchaKeys": "9"})
    assert "/booking/create/" in right.url and "Contrôle de sécurité" not in right.text
    again = browser.request(sim.url(service))
    assert field not in LexborHTMLParser(again.text).css_first("form").html  # type: ignore[union-attr]
    assert not sim.get_json("/_forbidden")["requests"]


async def test_the_robot_meets_a_barrier_and_never_asks_the_truth(sim: SimulatorThread) -> None:
    clock = SimulatedClock(NOW)
    gates = HostGates(clock, Politeness(min_gap=0, obey_robots=False))
    for service, platform in [
        ("33-bordeaux-titre", "rdvpref"),
        ("38-grenoble-renouvellement", "ezbooking"),
        ("75-paris-titre", "ezbooking"),
    ]:
        spec = ProbeSpec(service, platform, Target(sim.url(service)))
        obs = await run_probe(spec, gates, clock)
        assert (obs.outcome, obs.detail) == (Outcome.BARRIER, Detail.CAPTCHA), obs.message
        named = {"33-bordeaux-titre": "captchetat", "38-grenoble-renouvellement": "controle"}
        assert obs.extra.get("captcha") == named.get(service, "ppolice")
    async with PoliteSession(gates) as session:
        with pytest.raises(ForbiddenRequest, match="person's eyes"):
            await session.get(sim.base_url + "/_captcha/0123")
    with pytest.raises(ForbiddenRequest):
        rdvpref_guard("GET", sim.base_url + "/piste/captcha/simple-captcha-endpoint?get=image")
    assert not sim.get_json("/_forbidden")["requests"]
