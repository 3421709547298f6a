"""The legacy module as the simulator serves it: a person's path, its variants and its errors."""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from guichets.simulator.groundtruth import PARIS, ServiceTruth
from tests.ezpages import NO_SLOT, form_text, read_grids, walk
from tests.simthread import Browser, SimulatorThread


def _instant_where(service: ServiceTruth, predicate, start: datetime, days: int = 30) -> datetime:  # type: ignore[no-untyped-def]
    """The first hour of the period at which the truth satisfies ``predicate``."""
    for hour in range(days * 24):
        at = start + timedelta(hours=hour, minutes=7)
        if predicate(service, at):
            return at
    raise AssertionError(f"no such instant for {service.id}")


def _up(service: ServiceTruth, at: datetime) -> bool:
    return service.outages.at(at) is None and service.layout_at(at) == "v1"


@pytest.fixture
def sim() -> SimulatorThread:
    with SimulatorThread("france-demo") as running:
        yield running  # type: ignore[misc]


def test_closed_service_ends_on_the_exact_no_slot_sentence(sim: SimulatorThread) -> None:
    browser = Browser()
    result = walk(browser, sim.url("63-clermont-renouvellement"))
    assert result.kind == "no_slot"
    assert form_text(result.page) == NO_SLOT
    tree = HTMLParser(result.page.text)
    assert tree.css_first("input[name=finishButton]").attributes["value"] == "Terminer"
    assert result.page.url.endswith("/booking/create/7001/2")
    assert [c.name for c in browser.jar] == ["eZSESSID"]
    assert sim.get_json("/_forbidden")["count"] == 0


def test_conditions_page_has_the_real_form(sim: SimulatorThread) -> None:
    page = Browser().request(sim.url("38-grenoble-renouvellement"))
    tree = HTMLParser(page.text)
    form = tree.css_first("form#FormBookingCreate")
    assert form.attributes["name"] == "create" and form.attributes["method"] == "post"
    checkbox = tree.css_first("#condition_Booking input#condition")
    assert checkbox.attributes["type"] == "checkbox" and checkbox.attributes["name"] == "condition"
    label = tree.css_first("#condition_Booking label").text()
    assert label.startswith("Veuillez cocher la case pour accepter les conditions d'utilisation")
    button = tree.css_first("#submit_Booking input[name=nextButton]")
    assert button.attributes["value"] == "Effectuer une demande de rendez-vous"
    assert tree.css_first("#cookies-banner") is not None
    assert "etape_0r.png" in page.text


def test_posting_conditions_redirects_with_302(sim: SimulatorThread) -> None:
    browser = Browser()
    url = sim.url("38-grenoble-renouvellement")
    browser.request(url)
    page = browser.request(url + "/0", {"condition": "on", "nextButton": "x"}, follow=False)
    assert page.status == 302 and page.headers["Location"].endswith("/booking/create/4129/1")
    single = sim.url("69-lyon-etudiants")
    browser.request(single)
    page = browser.request(single + "/0", {"condition": "on", "nextButton": "x"}, follow=False)
    assert page.status == 302 and page.headers["Location"].endswith("/booking/create/2201/2")


def test_counter_choice_lists_plannings_and_redirects_to_step_2(sim: SimulatorThread) -> None:
    browser = Browser()
    url = sim.url("92-nanterre-remise-titre")
    browser.request(url)
    page = browser.request(url + "/0", {"condition": "on", "nextButton": "x"})
    assert page.url.endswith("/1")
    tree = HTMLParser(page.text)
    radios = tree.css("#fchoix_Booking p.Bligne input.radio[name=planning]")
    assert [r.attributes["value"] for r in radios] == ["14673", "14806", "14932"]
    assert tree.css_first("label[for=planning14806]").text() == "Guichet 4"
    moved = browser.request(
        url + "/1", {"planning": "14806", "nextButton": "Etape suivante"}, follow=False
    )
    assert moved.status == 302 and moved.headers["Location"].endswith("/booking/create/12083/2")


def test_without_the_session_cookie_the_module_starts_over(sim: SimulatorThread) -> None:
    url = sim.url("69-lyon-etudiants")
    for step in (1, 2, 3, 4):
        page = Browser().request(f"{url}/{step}", follow=False)
        assert page.status == 302
        assert page.headers["Location"].endswith("/booking/create/2201/0")


def test_a_session_cannot_skip_ahead(sim: SimulatorThread) -> None:
    browser = Browser()
    url = sim.url("69-lyon-etudiants")
    browser.request(url)
    page = browser.request(url + "/4", follow=False)
    assert page.status == 302 and page.headers["Location"].endswith("/0")


def test_step_4_shows_etape_4r_and_the_button_never_to_press(sim: SimulatorThread) -> None:
    result = walk(Browser(), sim.url("69-lyon-etudiants"))
    assert result.kind == "dates"
    assert result.page.url.endswith("/booking/create/2201/4")
    tree = HTMLParser(result.page.text)
    assert any(i.attributes["src"].endswith("/etape_4r.png") for i in tree.css("img"))
    values = [b.attributes.get("value") for b in tree.css("input[name=nextButton]")]
    assert "Première plage horaire libre" in values


def test_notice_step_and_step_2_page_variants(sim: SimulatorThread) -> None:
    start = sim.world.start
    service = sim.world.services["34-montpellier-titre-sejour"]
    at = _instant_where(service, lambda s, t: _up(s, t) and bool(s.counter().free_slots(t)), start)
    sim.set_time(at)
    result = walk(Browser(), sim.url(service.id))
    assert result.kind == "dates"
    assert [u.rsplit("/", 1)[1] for u in result.steps] == ["27396", "1", "2", "3", "4"]
    notice = [u for u in result.steps if u.endswith("/3")]
    assert notice


def test_week_grid_header_cells_and_legend(sim: SimulatorThread) -> None:
    browser = Browser()
    result = walk(browser, sim.url("69-lyon-etudiants"))
    weeks = read_grids(browser, result.page, 3)
    today = sim.clock.now().astimezone(PARIS).date()
    assert weeks[0].monday == today - timedelta(days=today.weekday())
    assert sum(len(w.free) for w in weeks) > 0
    fragment = browser.request(
        result.page.url.rsplit("/booking/", 1)[0]
        + "/ezjscore/call/bookingserver::planning::assign::2201::2202::0"
    ).text
    assert ">libre<" in fragment and "Légende" in fragment
    assert "Semaine du lundi" in fragment
    links = HTMLParser(fragment).css("td.status-1.free a")
    assert all(a.attributes["href"].split("/")[-4:-1] == ["2201", "5", "2202"] for a in links)
    assert HTMLParser(fragment).css("td.status-2, td.status-0")


def test_half_english_header(sim: SimulatorThread) -> None:
    browser = Browser()
    result = walk(browser, sim.url("67-strasbourg-etrangers-malades"))
    fragment = browser.request(
        result.page.url.rsplit("/booking/", 1)[0]
        + "/ezjscore/call/bookingserver::planning::assign::27623::27624::0"
    ).text
    assert "Week from lundi" in fragment and " to dimanche " in fragment


def test_week_offsets_have_a_per_site_origin(sim: SimulatorThread) -> None:
    """Hauts-de-Seine counts offsets from 2020-01-06: first offset not 0, dates still right."""
    start = sim.world.start
    service = sim.world.services["92-nanterre-naturalisation"]
    at = _instant_where(service, lambda s, t: _up(s, t) and bool(s.counter().free_slots(t)), start)
    sim.set_time(at)
    browser = Browser()
    result = walk(browser, sim.url(service.id))
    assert result.kind == "dates"
    assert "::0'" not in result.page.text
    weeks = read_grids(browser, result.page, 2)
    today = at.astimezone(PARIS).date()
    assert weeks[0].monday == today - timedelta(days=today.weekday())


def test_index_php_prefix_variant(sim: SimulatorThread) -> None:
    url = sim.url("93-le-raincy-titre-sejour")
    assert "/index.php/booking/create/10317" in url
    page = Browser().request(url)
    assert page.status == 200 and 'id="FormBookingCreate"' in page.text
    bare = url.replace("/index.php", "")
    assert Browser().request(bare).status == 404


def test_outage_pages(sim: SimulatorThread) -> None:
    """Each outage kind gives its page: gateway errors, 'Service surchargé', the closed page."""
    start = sim.world.start
    seen: dict[str, tuple[int, str]] = {}
    spells = sorted(
        (spell.start, spell.end, spell.kind, service_id)
        for service_id in (
            "93-bobigny-titre-sejour",
            "75-paris-aes-travail",
            "78-versailles-naturalisation",
        )
        for spell in sim.world.services[service_id].outages.between(
            start, start + timedelta(days=30)
        )
    )
    for begin, end, kind, service_id in spells:
        if kind in seen or begin < sim.clock.now():
            continue
        sim.set_time(begin + (end - begin) / 2)
        page = Browser().request(sim.url(service_id))
        seen[kind] = (page.status, page.text)
    assert seen["http_502"][0] == 502 and "502 Bad Gateway" in seen["http_502"][1]
    assert seen["http_503"][0] == 503
    assert seen["http_504"][0] == 504 and "Gateway Time-out" in seen["http_504"][1]
    assert "<h1>Service surchargé</h1>" in seen["overloaded"][1]
    assert "Attention : Cette page n'est pas disponible pour le moment !" in seen["closed"][1]


def test_user_agent_block_gives_403(sim: SimulatorThread) -> None:
    url = sim.url("94-creteil-titre-sejour")
    assert (
        Browser(user_agent="guichets/0.1 (+https://example.org/robot)").request(url).status == 403
    )
    assert Browser().request(url).status == 200


def test_burst_block_then_release(sim: SimulatorThread) -> None:
    url = sim.url("31-toulouse-renouvellement")
    browser = Browser()
    statuses = [browser.request(url).status for _ in range(25)]
    assert statuses[:20] == [200] * 20 and statuses[20:] == [403] * 5
    sim.set_time(sim.clock.now() + timedelta(minutes=119))
    assert browser.request(url).status == 403
    sim.set_time(sim.clock.now() + timedelta(minutes=2))
    assert browser.request(url).status == 200


def test_throttling_answers_502_with_retry_after(sim: SimulatorThread) -> None:
    url = sim.url("93-le-raincy-titre-sejour")
    browser = Browser()
    pages = [browser.request(url) for _ in range(31)]
    assert [p.status for p in pages[:30]] == [200] * 30
    assert pages[30].status == 502 and pages[30].headers["Retry-After"] == "30"
    sim.set_time(sim.clock.now() + timedelta(seconds=10))
    assert browser.request(url).status == 200


def test_layout_changes_at_its_date(sim: SimulatorThread) -> None:
    service = sim.world.services["95-sarcelles-vie-privee"]
    change = service.config.layout_change_at
    assert change is not None
    sim.set_time(change - timedelta(minutes=1))
    assert walk(Browser(), sim.url(service.id)).kind in ("dates", "no_slot")
    sim.set_time(change)
    page = Browser().request(sim.url(service.id))
    assert page.status == 200
    assert 'id="FormBookingCreate"' not in page.text and 'name="accept_cgu"' in page.text
    assert walk(Browser(), sim.url(service.id)).kind == "other"


def test_forbidden_requests_are_logged(sim: SimulatorThread) -> None:
    browser = Browser()
    result = walk(browser, sim.url("69-lyon-etudiants"))
    assert sim.get_json("/_forbidden")["count"] == 0
    url = result.page.url
    browser.request(url, {"nextButton": "Première plage horaire libre"})
    browser.request(url.rsplit("/", 1)[0] + "/5/2202/1791356400")
    browser.request(url.rsplit("/", 1)[0] + "/8", {"email": "x@example.org", "lastname": "X"})
    browser.request(url.rsplit("/", 1)[0] + "/2", {"eZBookingAdditionalField_value_7": "x"})
    log = sim.get_json("/_forbidden")
    assert log["count"] == 4
    reasons = " | ".join(r["reason"] for r in log["requests"])
    assert "Première plage horaire libre" in reasons and "step 5" in reasons
    assert "'email'" in reasons and "eZBookingAdditionalField_value_7" in reasons
    request = urllib_delete(sim.base_url + "/_forbidden")
    assert request == 200 and sim.get_json("/_forbidden")["count"] == 0


def urllib_delete(url: str) -> int:
    import urllib.request

    with urllib.request.urlopen(urllib.request.Request(url, method="DELETE")) as response:
        return int(response.status)


def test_date_header_is_the_simulated_time(sim: SimulatorThread) -> None:
    at = sim.world.start + timedelta(days=3, hours=5)
    sim.set_time(at)
    page = Browser().request(sim.url("69-lyon-etudiants"))
    assert parsedate_to_datetime(page.headers["Date"]) == at


def test_robots_txt_per_host(demo_sim_hosts: SimulatorThread) -> None:
    sim = demo_sim_hosts
    url = sim.sim.site_url("isere")
    assert url.startswith("http://127.1.")
    page = Browser().request(url + "/robots.txt")
    assert page.status == 200 and "User-agent: *" in page.text
    assert walk(Browser(), sim.url("63-clermont-renouvellement")).kind == "no_slot"
