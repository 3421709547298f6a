"""The simulated RDV-Préfecture, as a person's browser sees it: pages, session, captcha, firewall.

Written from the platform's description (landing, ``cgu/`` with CaptchEtat, ``_validerCaptcha``
and its redirects, ``creneau/`` with its JSON and its day blocks), independently of the robot's
reader, and compared with the simulator's own truth.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from selectolax.lexbor import LexborHTMLParser

from guichets.simulator.groundtruth import PARIS
from tests.rdvpref_sim import (
    START,
    absolute,
    conditions,
    slot_page,
    submit,
    write_scenario,
)
from tests.simthread import Browser, Page, SimulatorThread

NO_SLOT_FROM_DATE = (
    "Aucun créneau disponible à partir de cette date.<br/>Veuillez réessayer ultérieurement."
)


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_scenario(tmp_path_factory.mktemp("rdvpref"))


@pytest.fixture(scope="module")
def sim(scenario_file: Path) -> Iterator[SimulatorThread]:
    """At the scenario's start, for tests that leave the clock alone."""
    with SimulatorThread(scenario_file) as running:
        yield running


@pytest.fixture
def fresh(scenario_file: Path) -> Iterator[SimulatorThread]:
    """A simulator of its own, for a test that moves the clock."""
    with SimulatorThread(scenario_file) as running:
        yield running


def page_data(page: Page) -> dict[str, Any]:
    """The JSON the slot page embeds for its script."""
    match = re.search(r"VUiPage\.init\((\{.*\})\);", page.text)
    assert match, "the slot page embeds its data"
    data = json.loads(match.group(1))["vueData"]
    assert isinstance(data, dict)
    return data


def fr(day: date) -> str:
    return f"{day.day:02d}/{day.month:02d}/{day.year}"


def _forbidden(sim: SimulatorThread) -> list[dict[str, str]]:
    found = sim.get_json("/_forbidden")["requests"]
    assert isinstance(found, list)
    return found


def test_landing_and_cookies(sim: SimulatorThread) -> None:
    browser = Browser()
    page = browser.request(sim.url("33-plenty"))
    assert page.status == 200 and "<h1>Titre étudiant - Bordeaux</h1>" in page.text
    assert page.url.endswith("/rdv-standard/rdvpref/reservation/demarche/2201/")
    cookies = {c.name: c for c in browser.jar}
    session = cookies["JSESSIONID"]
    assert session.path == "/rdv-standard/rdvpref" and session.value.startswith("VM-01-48-02-003~")
    assert any(n.startswith("incap_ses_") for n in cookies)
    assert any(n.startswith("visid_incap_") for n in cookies)
    bare = browser.request(sim.url("33-plenty").rstrip("/"), follow=False)
    assert bare.status == 301 and bare.headers["Location"].endswith("/demarche/2201/")


def test_captcha_gate_and_the_captcha_service(sim: SimulatorThread) -> None:
    browser = Browser()
    cgu = conditions(sim, browser, "33-gated")
    assert cgu.status == 200 and "<h1>Constituez votre dossier</h1>" in cgu.text
    tree = LexborHTMLParser(cgu.text)
    element = tree.css_first("rdv-captchetat")
    assert element is not None
    style, token = element.attributes["captcha-style-name"], element.attributes["token"]
    endpoint = element.attributes["endpoint-url"] or ""
    assert style in ("captchaFR", "alphanumerique4to6LightCaptchaFR") and token
    field = tree.css_first("#captchaFormulaireExtInput")
    assert field is not None and field.attributes["name"] == "captchaUsercode"
    assert "code de sécurité" in cgu.text
    # The captcha itself comes from the captcha service, for the bearer of the page's token.
    bearer = {"Authorization": f"Bearer {token}"}
    html = _get(sim, f"{endpoint}?get=html&c={style}", bearer)
    assert html[0] == 200
    widget = LexborHTMLParser(html[1].decode())
    image = widget.css_first(f"#{style}_CaptchaImage")
    sound = widget.css_first(f"#{style}_SoundLink")
    vcid = widget.css_first(f"#BDC_VCID_{style}")
    assert image is not None and sound is not None and vcid is not None
    assert sound.attributes["title"] == "Énoncer le code du captcha"
    captcha_id = vcid.attributes["value"]
    assert _get(sim, f"{endpoint}?get=image&c={style}&t={captcha_id}", bearer)[1][:4] == b"\x89PNG"
    assert _get(sim, f"{endpoint}?get=sound&c={style}&t={captcha_id}", bearer)[1][:4] == b"RIFF"
    assert _get(sim, f"{endpoint}?get=html&c={style}", {})[0] == 401
    assert not _forbidden(sim)


def _get(sim: SimulatorThread, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(absolute(sim, path), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_validation_redirects(fresh: SimulatorThread) -> None:
    sim = fresh
    browser = Browser()
    cgu = conditions(sim, browser, "33-gated")
    empty = submit(sim, browser, cgu, captchaUsercode="")
    assert empty.status == 302 and empty.headers["Location"].endswith("/cgu/?error=invalidCaptcha")
    again = browser.request(absolute(sim, empty.headers["Location"]))
    assert "Le code de sécurité saisi est incorrect" in again.text
    stranger = submit(sim, Browser(), cgu)  # no session cookie
    assert stranger.headers["Location"].endswith("/cgu/?error=errorSessionInvalide")
    later = Browser()
    cgu = conditions(sim, later, "33-plenty")
    sim.set_time(sim.clock.now() + timedelta(minutes=25))  # sessions end after 24 idle minutes
    expired = submit(sim, later, cgu)
    assert expired.headers["Location"].endswith("/cgu/?error=errorSessionInvalide")
    assert (
        "Votre session a expiré" in later.request(absolute(sim, expired.headers["Location"])).text
    )
    assert not _forbidden(sim)


def test_answering_or_bypassing_the_captcha_is_forbidden(fresh: SimulatorThread) -> None:
    sim = fresh
    browser = Browser()
    cgu = conditions(sim, browser, "33-gated")
    answered = submit(sim, browser, cgu, captchaUsercode="K7P2Q")
    assert answered.status == 403 and "Refused by the simulator" in answered.text
    bypass = browser.request(sim.url("33-gated") + "creneau/")
    assert bypass.status == 403
    token = LexborHTMLParser(cgu.text).css_first("rdv-captchetat").attributes["token"]  # type: ignore[union-attr]
    check = _get(
        sim,
        "/rdv-standard/piste/captcha/simple-captcha-endpoint"
        "?get=validation-result&c=captchaFR&t=1&i=AB12",
        {"Authorization": f"Bearer {token}"},
    )
    assert check[0] == 403
    reasons = [r["reason"] for r in _forbidden(sim)]
    assert any("captchaUsercode" in r for r in reasons)
    assert any("without passing the captcha" in r for r in reasons)
    assert any("check a code" in r for r in reasons)


def _clear(sim: SimulatorThread) -> None:
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(sim.base_url + "/_forbidden", method="DELETE"))


def _days(page: Page) -> dict[str, list[tuple[str, str]]]:
    """Desktop layout: DD/MM of each day block -> (trhId, label) of its radios, in order."""
    out: dict[str, list[tuple[str, str]]] = {}
    for block in LexborHTMLParser(page.text).css("div.blocCreneauSelection"):
        header = block.css_first("h3.celulleHeader")
        assert header is not None
        day = header.text(separator=" ", strip=True).split()[-1]
        out[day] = [
            (
                (li.css_first("input[name=trhId]").attributes["data-value"] or ""),  # type: ignore[union-attr]
                li.css_first("label.fr-label").text(strip=True),  # type: ignore[union-attr]
            )
            for li in block.css("li.cellule.radio-card")
        ]
    return out


def test_slot_page_json_and_markup_follow_the_truth(sim: SimulatorThread) -> None:
    page = slot_page(sim, "33-plenty")
    assert page.status == 200 and "<h1>Choisissez votre créneau</h1>" in page.text
    now = sim.clock.now()
    today = now.astimezone(PARIS).date()
    truth = sim.world.services["33-plenty"].counter().free_slots(now)
    data = page_data(page)
    critere = data["critere"]
    assert critere["premierJour"] == critere["dateMin"] == fr(today)
    assert critere["dateMax"] == fr(today + timedelta(days=30))
    assert critere["datePremiereDispo"] == fr(truth[0].start.date())
    week = [s for s in truth if s.start.date() <= today + timedelta(days=6)]
    assert [(t["dateLocale"], t["minutesDebut"]) for t in data["tranches"]] == [
        (fr(s.start.date()), s.start.hour * 60 + s.start.minute) for s in week
    ]
    days = _days(page)
    assert len(days) == 7  # seven days from premierJour, each with its block
    for day, shown in days.items():
        of_day = [t for t in data["tranches"] if t["dateLocale"].startswith(day)]
        assert [trh for trh, _ in shown] == [str(t["trhId"]) for t in of_day[:5]]
        assert all(re.fullmatch(r"\d{2}h\d{2}", label) for _, label in shown)
    assert "Voir plus de créneaux" in page.text  # more than five slots on a day
    assert 'id="trhId_' in page.text and "Semaine suivante" in page.text


def test_an_empty_week_points_to_the_next_availability(sim: SimulatorThread) -> None:
    browser = Browser()
    page = slot_page(sim, "33-later", browser)
    data = page_data(page)
    assert data["tranches"] == [] and data["critere"]["datePremiereDispo"] == "12/10/2026"
    assert "Aucun créneau disponible sur cette semaine" in page.text
    link = LexborHTMLParser(page.text).css_first('a[href*="premierJour=12/10/2026"]')
    assert link is not None and link.text(strip=True) == "Prochaine disponibilité le 12/10/2026"
    nxt = browser.request(absolute(sim, link.attributes["href"] or ""))
    assert page_data(nxt)["critere"]["premierJour"] == "12/10/2026" and page_data(nxt)["tranches"]


def test_no_calendar_at_all(sim: SimulatorThread) -> None:
    page = slot_page(sim, "33-never")
    data = page_data(page)
    assert data["critere"]["datePremiereDispo"] == "" and data["isDisplayCalendar"] is False
    assert '<div class="text-center q-pa-md">Veuillez réessayer ultérieurement.</div>' in page.text
    assert "blocCreneauSelection" not in page.text and data["prochainePub"] is None


@pytest.mark.parametrize(
    ("service", "words"),
    [
        ("33-batch", [NO_SLOT_FROM_DATE]),
        (
            "59-batch",  # the earlier wording: two separate text nodes
            [
                '<div class="text-center q-pa-md">Aucun créneau disponible</div>',
                '<div class="text-center q-pa-md">Veuillez réessayer ultérieurement.</div>',
            ],
        ),
        ("13-batch", [NO_SLOT_FROM_DATE]),
    ],
)
def test_after_a_batch_the_no_slot_message_and_the_releases(
    fresh: SimulatorThread, service: str, words: list[str]
) -> None:
    sim = fresh
    sim.set_time(START + timedelta(days=7, hours=3))  # Monday 12 October: last batch is gone
    assert not sim.world.services[service].counter().free_slots(sim.clock.now())
    page = slot_page(sim, service)
    data = page_data(page)
    assert data["critere"]["datePremiereDispo"] == "" and data["isDisplayCalendar"] is True
    for text in words:
        assert text in page.text
    assert data["prochainePub"]["instantPublication"] == "12/10/2026 16:00"
    assert data["precedentePub"]["instantPublication"] == "05/10/2026 16:00"
    assert "Prochaine mise en ligne de nouveaux rendez-vous : le 12/10/2026 à 16:00" in page.text
    assert "Dernière mise en ligne de rendez-vous : le 05/10/2026 à 16:00" in page.text
    assert "pour des créneaux de la semaine du" in page.text


def test_small_screen_layout(sim: SimulatorThread) -> None:
    page = slot_page(sim, "13-plenty")
    tree = LexborHTMLParser(page.text)
    items = tree.css("div.q-expansion-item")
    assert len(items) == 7 and "blocCreneauSelection" not in page.text
    labels = [i.css_first(".q-item__label").text(strip=True) for i in items]  # type: ignore[union-attr]
    assert all(re.fullmatch(r"\w+ \d{2}/\d{2}", label) for label in labels)
    empty = [i for i in items if not i.css("input[name=trhId]")]
    assert empty and all("Aucun créneau disponible" in i.text() for i in empty)  # Thu..Sun
    full = [i for i in items if i.css("input[name=trhId]")]
    assert full and all("Voir plus de créneaux" in i.text() for i in full)


def test_steps_after_the_slot_page_are_forbidden(fresh: SimulatorThread) -> None:
    sim = fresh
    browser = Browser()
    page = slot_page(sim, "33-plenty", browser)
    trh = str(page_data(page)["tranches"][0]["trhId"])
    base = sim.url("33-plenty")
    assert browser.request(base + "creneau/", {"trhId": trh}).status == 403
    assert browser.request(base + "formulaire/").status == 403
    assert browser.request(base + "recapitulatif/").status == 403
    assert browser.request(base + "creneau/?trhId=" + trh).status == 403
    reasons = [r["reason"] for r in _forbidden(sim)]
    assert len(reasons) == 4 and any("Vos informations" in r for r in reasons)
    assert any("Confirmer le rendez-vous" in r for r in reasons)
    _clear(sim)
    assert _forbidden(sim) == []


def test_firewall_block_page_answers_200(fresh: SimulatorThread) -> None:
    sim = fresh
    path = sim.url("33-firewall").removeprefix(sim.base_url)
    assert b"Incapsula" not in _get(sim, path, {})[1]
    sim.set_time(START + timedelta(days=1, hours=9))  # within the firewall's spell
    assert sim.get_json("/_truth/33-firewall")["state"] == "firewall"
    status, body = _get(sim, path, {})
    assert status == 200  # a status check alone would take it for content
    assert b"Request unsuccessful. Incapsula incident ID:" in body
    assert b"_Incapsula_Resource" in body
    assert b"Incapsula" not in _get(sim, sim.url("33-plenty").removeprefix(sim.base_url), {})[1]
    blocked = Browser(user_agent="guichets/0.1 (+https://example.org)")
    refused = blocked.request(sim.url("06-nice-titre-sejour"))
    assert refused.status == 200 and "Incapsula incident ID" in refused.text
    assert "X-Iinfo" in refused.headers or "x-iinfo" in {k.lower() for k in refused.headers}
    assert Browser().request(sim.url("06-nice-titre-sejour")).status == 200


def test_robots_and_truth_listing(sim: SimulatorThread) -> None:
    robots = Browser().request(sim.base_url + "/rdv-early/robots.txt")
    assert "Disallow: /rdvpref/" in robots.text
    services = {s["service"]: s for s in sim.get_json("/_truth")["services"]}
    assert services["33-gated"]["captcha"] is True and services["33-plenty"]["captcha"] is False
    assert services["33-gated"]["platform"] == "rdvpref"
    assert services["33-gated"]["url"].endswith("/rdvpref/reservation/demarche/2200/")
