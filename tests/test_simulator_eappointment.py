"""The simulated eAppointment, as a person's browser sees it: postcode entry, an office's reasons,
the no-slot alerts (typos included), the datepicker of available days, error pages.

Written from the platform's description, independently of the robot's reader, and compared with
the simulator's own truth.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from selectolax.lexbor import LexborHTMLParser

from tests.eappointment_sim import (
    ALERT_MOTIVES,
    ALERT_SERVICE,
    START,
    choose,
    office,
    write_scenario,
)
from tests.simthread import Browser, Page, SimulatorThread


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorThread]:
    with SimulatorThread(write_scenario(tmp_path_factory.mktemp("eapp"))) as running:
        yield running


def alerts(page: Page) -> list[str]:
    return re.findall(r'alert\("([^"]*)"\)', page.text)


def _forbidden(sim: SimulatorThread) -> list[dict[str, str]]:
    found = sim.get_json("/_forbidden")["requests"]
    assert isinstance(found, list)
    return found


def test_postcode_entry_leads_to_the_office(sim: SimulatorThread) -> None:
    browser = Browser()
    entry = browser.request(
        sim.base_url + "/eapp/eAppointmentpref94/element/jsp/specific/pref94.jsp"
    )
    tree = LexborHTMLParser(entry.text)
    assert tree.css_first("form[name=frm]") is not None
    field = tree.css_first("#CPId")
    assert field is not None and field.attributes["name"] == "CP"
    assert tree.css_first('input[type=button][value="Continuer"]') is not None
    routes = json.loads(re.search(r"var SITES = (\{.*?\});", entry.text).group(1))  # type: ignore[union-attr]
    assert routes == {"94000": "P941", "94010": "P941", "94130": "P942", "94240": "P943"}
    assert "/eapp/eAppointmentpref94/appointment.do?sitekey=" in entry.text
    page = browser.request(f"{sim.base_url}/eapp/eAppointmentpref94/appointment.do?sitekey=P941")
    boxes = LexborHTMLParser(page.text).css("input[type=checkbox][name=selectedMotiveKeyList]")
    assert [b.attributes["value"] for b in boxes] == ["20", "21"]
    assert "Retrait de titre" in page.text and "Première demande" in page.text
    assert LexborHTMLParser(page.text).css_first("#nextButtonId") is not None
    cookie = next(c for c in browser.jar if c.name == "JSESSIONID")
    assert cookie.path == "/eapp/eAppointmentpref94"


def test_the_two_no_slot_alerts_typos_included(sim: SimulatorThread) -> None:
    browser = Browser()
    page = choose(sim, office(sim, "94-creteil-premiere", browser), browser, "21")
    assert alerts(page) == [ALERT_MOTIVES]  # another reason of the office has slots
    day = LexborHTMLParser(page.text).css_first("#dayValueId")
    assert day is not None and "disabled" in day.attributes
    assert "ui-datepicker-group" not in page.text
    browser = Browser()
    page = choose(sim, office(sim, "94-nogent-retrait", browser), browser, "20")
    assert alerts(page) == [ALERT_SERVICE]  # nothing at all in that office


def _picker(page: Page) -> tuple[list[str], list[date], dict[date, str]]:
    """Month titles, clickable days, and the class of every day cell of its month."""
    tree = LexborHTMLParser(page.text)
    months, days, classes = [], [], {}
    names = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
             "septembre", "octobre", "novembre", "décembre"]  # fmt: skip
    for group in tree.css("div.ui-datepicker-group"):
        name = group.css_first("span.ui-datepicker-month").text()  # type: ignore[union-attr]
        year = int(group.css_first("span.ui-datepicker-year").text())  # type: ignore[union-attr]
        months.append(f"{name} {year}")
        for cell in group.css("td"):
            css = cell.attributes.get("class") or ""
            if "ui-datepicker-other-month" in css:
                continue
            number = int(cell.text(strip=True))
            day = date(year, names.index(name) + 1, number)
            classes[day] = css
            if cell.attributes.get("data-handler") == "selectDay":
                assert cell.css_first("a") is not None
                days.append(day)
    return months, days, classes


def test_date_page_shows_the_truth(sim: SimulatorThread) -> None:
    browser = Browser()
    page = choose(sim, office(sim, "94-creteil-retrait", browser), browser, "20")
    assert alerts(page) == []
    now = sim.clock.now()
    truth = sim.world.services["94-creteil-retrait"].counter().free_slots(now)
    first = truth[0].start.date()
    months, days, classes = _picker(page)
    assert months == ["octobre 2026", "novembre 2026"]
    assert days == sorted({s.start.date() for s in truth if s.start.month in (10, 11)})
    # Plain available days carry the literal class " undefined"; today, the chosen day and
    # weekends carry more, so a reader looking for that class alone would miss them.
    assert all(classes[d] == " undefined" for d in days if d != first and d.weekday() < 5)
    assert first == START.date() and "ui-datepicker-today" in classes[first]
    assert "ui-datepicker-days-cell-over" in classes[first]
    tree = LexborHTMLParser(page.text)
    day = tree.css_first("#dayValueId")
    assert day is not None and day.attributes["value"] == first.strftime("%d/%m/%Y")
    assert "disabled" not in day.attributes
    hours = [o.attributes["value"] for o in tree.css("#hourValueId option")]
    assert hours == [f"{s.start:%H:%M}" for s in truth if s.start.date() == first]
    assert tree.css_first("#saveRdvId") is not None and tree.css_first(".soonestText") is None


def test_soonest_text_variant(sim: SimulatorThread) -> None:
    browser = Browser()
    page = choose(sim, office(sim, "95-cergy-passeport", browser), browser, "7")
    soonest = LexborHTMLParser(page.text).css_first(".soonestText")
    truth = sim.world.services["95-cergy-passeport"].counter().free_slots(sim.clock.now())
    assert soonest is not None
    assert soonest.text(strip=True) == (
        f"Prochain rendez-vous disponible le mardi 06 octobre 2026 à {truth[0].start:%H:%M}"
    )
    _, days, _ = _picker(page)
    assert days and all(d.weekday() in (1, 3) for d in days)  # Tuesdays and Thursdays only


def test_booking_requests_are_forbidden(sim: SimulatorThread) -> None:
    browser = Browser()
    page = choose(sim, office(sim, "94-creteil-retrait", browser), browser, "20")
    action = sim.base_url + "/eapp/eAppointmentpref94/appointment.do"
    hour = LexborHTMLParser(page.text).css_first("#hourValueId option").attributes["value"]  # type: ignore[union-attr]
    base = {"sitekey": "P941", "selectedMotiveKeyList": "20"}
    assert browser.request(action, {**base, "dayValue": "05/10/2026"}).status == 403
    assert browser.request(action, {**base, "hourValue": hour or ""}).status == 403
    assert browser.request(action, {**base, "method": "saveRdv"}).status == 403
    assert browser.request(sim.base_url + "/eapp/eAppointmentpref94/personalInfo.do").status == 403
    reasons = [r["reason"] for r in _forbidden(sim)]
    assert len(reasons) == 4 and any("#saveRdvId" in r for r in reasons)
    urllib.request.urlopen(urllib.request.Request(sim.base_url + "/_forbidden", method="DELETE"))


def test_error_pages(sim: SimulatorThread) -> None:
    unknown = Browser().request(sim.base_url + "/eapp/eAppointmentpref94/appointment.do?sitekey=X9")
    assert "<title>eAppointment - Erreur</title>" in unknown.text
    assert "Le site demandé n'existe pas." in unknown.text
    stranger = Browser().request(
        sim.base_url + "/eapp/eAppointmentpref94/appointment.do",
        {"sitekey": "P941", "selectedMotiveKeyList": "20", "method": "selectMotives"},
    )
    assert "Erreur" in stranger.text and "Votre session a expiré" in stranger.text
    browser = Browser()
    page = office(sim, "94-lhay-retrait", browser)  # the reasons page serves every motive
    assert "Erreur" not in page.text
    closed = choose(sim, page, browser, "20")  # the motive's own page is in its outage
    assert closed.status == 200 and "<title>eAppointment - Erreur</title>" in closed.text
    assert sim.get_json("/_truth/94-lhay-retrait")["state"] == "closed"
    assert (
        "Disallow: /eAppointmentpref95/"
        in Browser().request(sim.base_url + "/eapp-mairie/robots.txt").text
    )


def test_truth_listing(sim: SimulatorThread) -> None:
    services = {s["service"]: s for s in sim.get_json("/_truth")["services"]}
    url = services["94-creteil-retrait"]["url"]
    assert url.endswith("/eapp/eAppointmentpref94/appointment.do?sitekey=P941#motif=20")
    assert services["94-creteil-retrait"]["platform"] == "eappointment"
    assert services["94-creteil-retrait"]["captcha"] is False
    assert timedelta(0) <= sim.clock.now() - START < timedelta(minutes=1)
