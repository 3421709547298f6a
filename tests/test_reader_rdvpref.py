"""RDV-Préfecture's reader against the simulator: every page state gets its honest outcome.

A captcha is a barrier with its page kept, never passed; a firewall page is a barrier even with
HTTP 200; a slot page is read from its JSON and cross-checked with its markup, and a page whose
two disagree (made so by a proxy that alters the simulator's pages) is unrecognized.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web

from guichets.catalogue import check_report
from guichets.http import ForbiddenRequest
from guichets.model import Category, Detail, Extra, Observation, Outcome
from guichets.platforms import Target
from guichets.platforms.rdvpref import PageError, RdvPrefReader, guard, parse_creneau
from guichets.probe import ProbeSpec, run_probe
from guichets.stats.summary import summarise
from guichets.store import Store
from tests.rdvpref_sim import START, expected_slots, slot_page, write_scenario
from tests.robotsim import LOCAL_AGENT, Bench, bench
from tests.simthread import Browser, SimulatorThread


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_scenario(tmp_path_factory.mktemp("rdvpref-reader"))


async def probe(
    b: Bench, service: str, horizon_days: int = 91, url: str | None = None
) -> Observation:
    spec = ProbeSpec(service, "rdvpref", Target(url or b.url(service), None, horizon_days), "33")
    return await run_probe(spec, b.gates, b.clock)


def _paths(obs: Observation) -> list[str]:
    return [urlsplit(s.url).path.rsplit("/demarche/", 1)[-1] for s in obs.trail]


def _week_truth(b: Bench, service: str, obs: Observation) -> list[datetime]:
    """What the slot pages of a probe should have shown: for each one, the truth's free slots of
    its seven days (from its premierJour, or today), at the instant it was served."""
    return expected_slots(b.world.services[service].counter(), obs)


async def test_captcha_is_a_barrier_and_is_never_passed(scenario: Path) -> None:
    async with bench(scenario) as b:
        obs = await probe(b, "33-gated")
    assert (obs.outcome, obs.detail) == (Outcome.BARRIER, Detail.CAPTCHA)
    assert obs.category is None and obs.slots == ()
    assert obs.kept_page is not None and b"<rdv-captchetat" in obs.kept_page
    assert obs.extra == {Extra.CAPTCHA: "captchetat", Extra.CAPTCHA_STYLE: "captchaFR"}
    assert _paths(obs) == ["/robots.txt", "2200/", "2200/cgu/"]  # and not one step further
    assert not b.sim.forbidden


async def test_slots_are_the_truth_of_the_first_week(scenario: Path) -> None:
    async with bench(scenario) as b:
        obs = await probe(b, "33-plenty")
        truth = _week_truth(b, "33-plenty", obs)
    assert (obs.outcome, obs.detail) == (Outcome.AVAILABLE, Detail.SLOTS_SEEN)
    assert list(obs.slots) == truth and len(truth) > 5 * 5  # more than the markup shows
    assert obs.category is Category.A and obs.extra[Extra.WEEKS_READ] == "1"
    assert _paths(obs) == [
        "/robots.txt",
        "2201/",
        "2201/cgu/",
        "2201/_validerCaptcha",
        "2201/creneau/",
    ]
    assert obs.trail[3].method == "POST" and obs.horizon_end is not None
    assert not b.sim.forbidden


async def test_an_empty_week_is_followed_to_the_next_availability(scenario: Path) -> None:
    async with bench(scenario) as b:
        obs = await probe(b, "33-later")
        truth = [s.start for s in b.world.services["33-later"].counter().free_slots(obs.started_at)]
    assert obs.outcome is Outcome.AVAILABLE
    assert obs.slots[:2] == tuple(truth[:2]) and obs.slots[0].date().isoformat() == "2026-10-12"
    assert obs.extra[Extra.WEEKS_READ] == "2"
    assert obs.extra[Extra.FIRST_AVAILABLE_DAY] == "2026-10-12"
    assert "premierJour=12/10/2026" in obs.trail[-1].url
    assert not b.sim.forbidden


async def test_first_availability_beyond_the_horizon(scenario: Path) -> None:
    async with bench(scenario) as b:
        obs = await probe(b, "33-later", horizon_days=3)
    assert (obs.outcome, obs.detail) == (Outcome.UNAVAILABLE, Detail.NONE_WITHIN_HORIZON)
    assert obs.category is Category.E and obs.extra[Extra.WEEKS_READ] == "1"


async def test_no_calendar_is_no_slot(scenario: Path) -> None:
    async with bench(scenario) as b:
        obs = await probe(b, "33-never")
    assert (obs.outcome, obs.detail) == (Outcome.UNAVAILABLE, Detail.NO_SLOT_PAGE)
    assert obs.extra[Extra.NO_SLOT_MESSAGE] == "retry_only"


@pytest.mark.parametrize(
    ("service", "wording"),
    [("33-batch", "from_date"), ("59-batch", "separate_nodes"), ("13-batch", "from_date")],
)
async def test_each_no_slot_wording_then_the_batch(
    scenario: Path, service: str, wording: str
) -> None:
    async with bench(scenario) as b:
        b.at(START + timedelta(days=7, hours=3))  # Monday 12 October: last week's batch is gone
        empty = await probe(b, service)
        b.at(START + timedelta(days=7, hours=16, seconds=20))  # the batch is out, going fast
        batch = await probe(b, service)
        truth = _week_truth(b, service, batch)
        assert not b.sim.forbidden
    assert (empty.outcome, empty.detail) == (Outcome.UNAVAILABLE, Detail.NO_SLOT_PAGE)
    assert empty.extra[Extra.NO_SLOT_MESSAGE] == wording
    assert empty.extra[Extra.NEXT_RELEASE] == "2026-10-12T16:00:00+02:00"
    assert empty.extra[Extra.LAST_RELEASE] == "2026-10-05T16:00:00+02:00"
    assert "next release announced for 2026-10-12T16:00:00+02:00" in empty.message
    assert batch.outcome is Outcome.AVAILABLE and list(batch.slots) == truth
    assert batch.slots[0].date().isoformat() == "2026-10-27"  # the batch's first day (R + 21 - 6)
    assert batch.extra[Extra.LAST_RELEASE] == "2026-10-12T16:00:00+02:00"


async def test_small_screen_layout_reads_the_same(scenario: Path) -> None:
    async with bench(scenario) as b:
        obs = await probe(b, "13-plenty")
        truth = _week_truth(b, "13-plenty", obs)
    assert obs.outcome is Outcome.AVAILABLE and list(obs.slots) == truth
    assert {s.weekday() for s in obs.slots} == {0, 1, 2}


async def test_firewall_pages_are_barriers_even_with_http_200(scenario: Path) -> None:
    async with bench(scenario) as b:
        b.at(START + timedelta(days=1, hours=9))
        spell = await probe(b, "33-firewall")
        waf = await probe(b, "06-nice-titre-sejour")  # the robot says who it is; the WAF refuses
    for obs in (spell, waf):
        assert (obs.outcome, obs.detail) == (Outcome.BARRIER, Detail.BLOCKED)
        assert obs.http_status == 200 and obs.extra[Extra.FIREWALL] == "imperva"
        assert obs.extra[Extra.FIREWALL_INCIDENT] and obs.kept_page is not None
    async with bench(scenario, user_agent=LOCAL_AGENT) as b:
        obs = await probe(b, "06-nice-titre-sejour")
    assert (obs.outcome, obs.detail) == (Outcome.BARRIER, Detail.CAPTCHA)


async def test_an_expired_session_is_session_lost(scenario: Path) -> None:
    # 25 minutes between two requests to the host: the platform forgets the session (24 minutes)
    # between the conditions page and « Suivant ».
    async with bench(scenario, gap=25 * 60) as b:
        obs = await probe(b, "33-plenty")
    assert (obs.outcome, obs.detail) == (Outcome.UNRECOGNIZED, Detail.SESSION_LOST)
    assert obs.trail[-1].url.endswith("/cgu/?error=errorSessionInvalide")
    assert obs.kept_page is not None and "Votre session a expiré".encode() in obs.kept_page


# -- pages made inconsistent by a proxy ------------------------------------------------------


@asynccontextmanager
async def tampering(
    upstream: str, change: Callable[[str], str], moved: Callable[[str], str] = str
) -> AsyncIterator[str]:
    """A proxy in front of the simulator that alters its slot pages with ``change`` and its
    redirects with ``moved``."""
    client = aiohttp.ClientSession(auto_decompress=True)
    keep = ("cookie", "content-type", "user-agent")

    async def forward(request: web.Request) -> web.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() in keep}
        async with client.request(
            request.method, upstream + request.path_qs, data=await request.read(),
            headers=headers, allow_redirects=False,
        ) as answer:  # fmt: skip
            body = await answer.read()
            if "/creneau/" in request.path and answer.status == 200:
                body = change(body.decode()).encode()
            response = web.Response(body=body, status=answer.status)
            for name in ("Location", "Content-Type", "Set-Cookie"):
                for value in answer.headers.getall(name, []):
                    response.headers.add(name, moved(value) if name == "Location" else value)
            return response

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
        await client.close()


def _first(old: str, new: str) -> Callable[[str], str]:
    def change(text: str) -> str:
        assert old in text, f"{old!r} not in the page"
        return text.replace(old, new, 1)

    return change


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        (lambda text: text, None),  # the proxy alone changes nothing
        (_first(">09h00</label>", ">09h15</label>"), Detail.INCONSISTENT_PAGE),
        (
            _first('class="row cellule justify-center radio-card"><input', 'class="x"><b'),
            Detail.INCONSISTENT_PAGE,
        ),
        (
            _first('"datePremiereDispo": "05/10/2026"', '"datePremiereDispo": "06/10/2026"'),
            Detail.INCONSISTENT_PAGE,
        ),
        (_first("Voir plus de créneaux", "Plus"), Detail.INCONSISTENT_PAGE),
        (
            _first(
                '<nav class="rdv-semaines">',
                "<div>Aucun créneau disponible sur cette semaine</div><nav>",
            ),
            Detail.INCONSISTENT_PAGE,
        ),
        (_first('"critere"', '"criteres"'), Detail.LAYOUT_CHANGED),
    ],
    ids=[
        "untouched",
        "label",
        "radio-removed",
        "first-day",
        "more-hidden",
        "no-slot-injected",
        "no-json",
    ],
)
async def test_json_and_markup_must_agree(
    scenario: Path, change: Callable[[str], str], detail: str | None
) -> None:
    async with bench(scenario) as b, tampering(b.sim.base_url, change) as proxy:
        url = b.url("33-plenty").replace(b.sim.base_url, proxy)
        obs = await probe(b, "33-plenty", url=url)
        assert not b.sim.forbidden
    if detail is None:
        assert obs.outcome is Outcome.AVAILABLE
        return
    assert (obs.outcome, obs.detail) == (Outcome.UNRECOGNIZED, detail), obs.message
    assert obs.kept_page is not None and b"VUiPage.init" in obs.kept_page


async def test_a_captcha_error_without_a_captcha_is_unexpected(scenario: Path) -> None:
    def moved(location: str) -> str:
        return location.replace("/creneau/", "/cgu/?error=invalidCaptcha")

    async with bench(scenario) as b, tampering(b.sim.base_url, str, moved) as proxy:
        obs = await probe(b, "33-plenty", url=b.url("33-plenty").replace(b.sim.base_url, proxy))
    assert (obs.outcome, obs.detail) == (Outcome.UNRECOGNIZED, Detail.UNEXPECTED_PAGE)
    assert "invalidCaptcha" in obs.message


def test_a_release_announcement_must_match_its_data(scenario: Path) -> None:
    with SimulatorThread(scenario) as sim:
        sim.set_time(START + timedelta(days=7, hours=3))
        text = slot_page(sim, "33-batch").text
    assert parse_creneau(text).releases[Extra.NEXT_RELEASE] == "2026-10-12T16:00:00+02:00"
    with pytest.raises(PageError, match="next_release"):
        parse_creneau(text.replace("le 12/10/2026 à 16:00", "le 12/10/2026 à 17:00"))


# -- the guard, the stored barrier, the command line ---------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "data"),
    [
        ("POST", "https://x/rdvpref/reservation/demarche/1/creneau/", {"CTX": "a"}),
        ("GET", "https://x/rdvpref/reservation/demarche/1/formulaire/", {}),
        ("GET", "https://x/rdvpref/reservation/demarche/1/recapitulatif/", {}),
        ("POST", "https://x/rdvpref/reservation/demarche/1/_validerCreneau", {}),
        ("GET", "https://x/rdvpref/reservation/demarche/1/creneau/?trhId=7", {}),
        ("POST", "https://x/rdvpref/reservation/demarche/1/_validerCaptcha", {"captchaId": "1"}),
        (
            "POST",
            "https://x/rdvpref/reservation/demarche/1/_validerCaptcha",
            {"BDC_VCID_captchaFR": "1"},
        ),
        ("GET", "https://x/piste/captcha/simple-captcha-endpoint?get=image&c=captchaFR", {}),
    ],
)
def test_guard_refuses_what_books_or_answers_a_captcha(
    method: str, url: str, data: dict[str, str]
) -> None:
    with pytest.raises(ForbiddenRequest):
        guard(method, url, data)


def test_guard_lets_the_reading_steps_through() -> None:
    base = "https://x/p/rdvpref/reservation/demarche/1"
    for method, url, data in [
        ("GET", f"{base}/", {}),
        ("GET", f"{base}/cgu/?error=invalidCaptcha", {}),
        ("POST", f"{base}/_validerCaptcha", {"CTX": "abc"}),
        ("GET", f"{base}/creneau/?premierJour=12/10/2026", {}),
    ]:
        guard(method, url, data)


def test_check_url() -> None:
    reader = RdvPrefReader()
    reader.check_url(
        "https://www.rdv-prefecture.interieur.gouv.fr/rdvpref/reservation/demarche/3720/"
    )
    reader.check_url("http://127.1.0.3:8765/rdvpref/reservation/demarche/3720")
    for bad, words in [
        ("https://www.isere.gouv.fr/booking/create/4129", "demarche/{id}/"),
        (
            "https://www.rdv-prefecture.interieur.gouv.fr/rdvpref/reservation/demarche/3720/creneau/",
            "landing",
        ),
        ("ftp://x/rdvpref/reservation/demarche/1/", "http(s)"),
    ]:
        with pytest.raises(
            ValueError,
            match=words.replace("(", r"\(")
            .replace(")", r"\)")
            .replace("{", r"\{")
            .replace("}", r"\}"),
        ):
            reader.check_url(bad)


async def test_the_barrier_kind_is_stored_and_counted(scenario: Path, tmp_path: Path) -> None:
    async with bench(scenario) as b:
        observations = [await probe(b, "33-gated") for _ in range(3)]
        b.at(START + timedelta(days=1, hours=9))
        observations.append(await probe(b, "33-firewall"))
    with Store.open(None, home=tmp_path) as store:
        for obs in observations:
            store.save(obs)
        stored = {o.probe_id: o for o in store.observations()}
    for obs in observations:
        again = stored[obs.probe_id]
        assert (again.outcome, again.detail, again.extra) == (obs.outcome, obs.detail, obs.extra)
    rows = {r.service: r for r in summarise(stored.values())}
    assert rows["33-gated"].details == {"barrier/captcha": 3}
    assert rows["33-firewall"].details == {"barrier/blocked": 1}
    assert rows["33-gated"].valid == 0  # a barrier never counts as "no slot"


@pytest.fixture(scope="module")
def live(scenario: Path) -> Iterator[SimulatorThread]:
    with SimulatorThread(scenario, hosts="loopback", system_clock=True) as sim:
        yield sim


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "guichets", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_probe_json(live: SimulatorThread) -> None:
    gated = _cli("probe", live.url("33-gated"), "--platform", "rdvpref", "--gap", "0", "--json")
    assert gated.returncode == 0, gated.stderr
    data = json.loads(gated.stdout)
    assert (data["outcome"], data["detail"], data["category"]) == ("barrier", "captcha", None)
    assert data["extra"]["captcha"] == "captchetat" and data["platform"] == "rdvpref"
    plenty = _cli("probe", live.url("33-plenty"), "--platform", "rdvpref", "--gap", "0", "--json")
    data = json.loads(plenty.stdout)
    assert (
        data["outcome"] == "available" and data["slots"] and data["first_slot"] == data["slots"][0]
    )
    wrong = _cli("probe", live.url("33-plenty"), "--platform", "ezbooking", "--json")
    assert wrong.returncode == 2 and "/booking/create/" in wrong.stderr and wrong.stdout == ""
    assert not Browser().request(live.base_url + "/_forbidden").text.count('"reason"')


def test_the_catalogue_checks_urls_with_the_reader(tmp_path: Path) -> None:
    entry = """[[services]]
id = "94-test-service"
departement = "94"
site = "Préfecture"
procedure = "titre-sejour"
platform = "rdvpref"
url = "{url}"
cadence = "1h"
"""
    path = tmp_path / "catalogue.toml"
    path.write_text(
        entry.format(
            url="https://www.rdv-prefecture.interieur.gouv.fr/rdvpref/reservation/demarche/3720/"
        ),
        encoding="utf-8",
    )
    assert check_report(path)[0] == 0
    path.write_text(
        entry.format(
            url="https://www.rdv-prefecture.interieur.gouv.fr/rdvpref/reservation/demarche/3720/creneau/"
        ),
        encoding="utf-8",
    )
    code, text = check_report(path)
    assert code == 2 and text.startswith(f"{path}:7:1: services[0].url: an rdvpref URL")
    assert "points into the flow" in text
