"""eAppointment's reader against the simulator: each alert, the datepicker, the error pages."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from guichets.catalogue import check_report
from guichets.http import ForbiddenRequest
from guichets.model import Category, Detail, Extra, Observation, Outcome
from guichets.platforms import Target
from guichets.platforms.eappointment import (
    DatesError,
    EAppointmentReader,
    guard,
    read_dates,
)
from guichets.probe import ProbeSpec, run_probe
from tests.eappointment_sim import (
    ALERT_MOTIVES,
    ALERT_SERVICE,
    START,
    choose,
    office,
    write_scenario,
)
from tests.robotsim import Bench, bench
from tests.simthread import Browser, SimulatorThread


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_scenario(tmp_path_factory.mktemp("eapp-reader"))


async def probe(
    b: Bench, service: str, *, url: str | None = None, motive: str | None = None, horizon: int = 91
) -> Observation:
    spec = ProbeSpec(service, "eappointment", Target(url or b.url(service), motive, horizon), "94")
    return await run_probe(spec, b.gates, b.clock)


def first_day_truth(b: Bench, service: str, at: datetime) -> list[datetime]:
    free = b.world.services[service].counter().free_slots(at)
    return [s.start for s in free if s.start.date() == free[0].start.date()]


async def test_available_days_and_the_first_days_times(scenario: Path) -> None:
    async with bench(scenario) as b:
        obs = await probe(b, "94-creteil-retrait")
        free = b.world.services["94-creteil-retrait"].counter().free_slots(obs.trail[-1].at)
        truth = first_day_truth(b, "94-creteil-retrait", obs.trail[-1].at)
        assert not b.sim.forbidden
    assert (obs.outcome, obs.detail) == (Outcome.AVAILABLE, Detail.SLOTS_SEEN)
    assert list(obs.slots) == truth and obs.category is Category.A
    assert obs.counter == "20"
    shown = sorted({s.start.date().isoformat() for s in free if s.start.month in (10, 11)})
    assert obs.extra[Extra.AVAILABLE_DAYS] == ",".join(shown)
    assert obs.extra[Extra.FIRST_AVAILABLE_DAY] == START.date().isoformat()  # today's cell
    assert [s.method for s in obs.trail] == ["GET", "GET", "POST"]  # robots.txt, office, choice
    assert obs.trail[1].url.endswith("appointment.do?sitekey=P941")  # the fragment stays home


@pytest.mark.parametrize(
    ("service", "wording", "text"),
    [
        ("94-creteil-premiere", "motifs", ALERT_MOTIVES),
        ("94-nogent-retrait", "service", ALERT_SERVICE),
    ],
)
async def test_each_alert_means_no_slot(
    scenario: Path, service: str, wording: str, text: str
) -> None:
    async with bench(scenario) as b:
        obs = await probe(b, service)
        assert not b.world.services[service].counter().free_slots(obs.trail[-1].at)
    assert (obs.outcome, obs.detail) == (Outcome.UNAVAILABLE, Detail.NO_SLOT_PAGE)
    assert obs.extra[Extra.NO_SLOT_MESSAGE] == wording and f"« {text} »" in obs.message
    assert obs.category is Category.E


async def test_soonest_text_is_cross_checked(scenario: Path) -> None:
    async with bench(scenario) as b:
        obs = await probe(b, "95-cergy-passeport")
        truth = first_day_truth(b, "95-cergy-passeport", obs.trail[-1].at)
    assert obs.outcome is Outcome.AVAILABLE and list(obs.slots) == truth
    assert obs.slots[0].date().isoformat() == "2026-10-06"  # a Tuesday


async def test_errors_outages_and_missing_motives(scenario: Path) -> None:
    async with bench(scenario) as b:
        closed = await probe(b, "94-lhay-retrait")
        b.at(START + timedelta(hours=7))  # the outage is over
        reopened = await probe(b, "94-lhay-retrait")
        missing = await probe(b, "94-creteil-retrait", motive="99")
        unknown = await probe(
            b, "94-creteil-retrait", url=b.url("94-creteil-retrait").replace("P941", "X9")
        )
        chosen = await probe(b, "94-creteil-retrait", url=b.url("94-creteil-retrait").split("#")[0])
    assert (closed.outcome, closed.detail) == (Outcome.SITE_ERROR, Detail.APP_ERROR)
    assert closed.kept_page is not None and b"eAppointment - Erreur" in closed.kept_page
    assert reopened.outcome is Outcome.AVAILABLE
    assert (missing.outcome, missing.detail) == (Outcome.UNRECOGNIZED, Detail.COUNTER_MISSING)
    assert "20, 21" in missing.message and missing.counter == "99"
    assert (unknown.outcome, unknown.detail) == (Outcome.UNRECOGNIZED, Detail.COUNTER_MISSING)
    assert chosen.outcome is Outcome.AVAILABLE and chosen.counter == "20"  # the first offered


async def test_an_expired_session_is_session_lost(scenario: Path) -> None:
    async with bench(scenario, gap=25 * 60) as b:  # the office forgets the session in 24 minutes
        obs = await probe(b, "94-creteil-retrait")
    assert (obs.outcome, obs.detail) == (Outcome.UNRECOGNIZED, Detail.SESSION_LOST)
    assert obs.kept_page is not None and "Votre session a expiré".encode() in obs.kept_page


def _date_page(scenario: Path, service: str, motive: str) -> str:
    with SimulatorThread(scenario) as sim:
        browser = Browser()
        return choose(sim, office(sim, service, browser), browser, motive).text


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ('value="05/10/2026"', 'value="06/10/2026"', "not the first available day"),
        ('<option value="09:00">09:00</option>', "", None),  # still in order, still readable
        ('<option value="09:00">09:00</option>', '<option value="9h">9h</option>', "HH:MM"),
        ('data-month="9" data-year="2026"', 'data-month="8" data-year="2026"', "under"),
    ],
)
def test_read_dates_cross_checks(scenario: Path, old: str, new: str, words: str | None) -> None:
    text = _date_page(scenario, "94-creteil-retrait", "20")
    assert old in text
    if words is None:
        _, first, times = read_dates(text.replace(old, new, 1))
        assert first == START.date() and times[0].hour == 9 and times[0].minute == 15
        return
    with pytest.raises(DatesError, match=words):
        read_dates(text.replace(old, new, 1))


def test_soonest_text_must_name_the_first_slot(scenario: Path) -> None:
    text = _date_page(scenario, "95-cergy-passeport", "7")
    days, first, _ = read_dates(text)
    assert first.isoformat() == "2026-10-06" and all(d.weekday() in (1, 3) for d in days)
    with pytest.raises(DatesError, match="is not"):
        read_dates(text.replace("mardi 06 octobre 2026", "jeudi 08 octobre 2026"))


@pytest.mark.parametrize(
    ("method", "url", "data"),
    [
        ("POST", "https://x/eAppointmentpref94/appointment.do", {"dayValue": "05/10/2026"}),
        ("POST", "https://x/eAppointmentpref94/appointment.do", {"hourValue": "09:00"}),
        ("POST", "https://x/eAppointmentpref94/appointment.do", {"method": "saveRdv"}),
        ("GET", "https://x/eAppointmentpref94/appointment.do?sitekey=P941&dayValue=1", {}),
        ("GET", "https://x/eAppointmentpref94/personalInfo.do", {}),
    ],
)
def test_guard_refuses_what_books(method: str, url: str, data: dict[str, str]) -> None:
    with pytest.raises(ForbiddenRequest):
        guard(method, url, data)


def test_guard_lets_the_reading_steps_through() -> None:
    guard("GET", "https://x/eAppointmentpref94/appointment.do?sitekey=P941", {})
    data = {"sitekey": "P941", "method": "selectMotives", "selectedMotiveKeyList": "20"}
    guard("POST", "https://x/eAppointmentpref94/appointment.do", data)


def test_check_url() -> None:
    reader = EAppointmentReader()
    base = "https://rdv-etrangers-94.interieur.gouv.fr/eAppointmentpref94"
    reader.check_url(f"{base}/appointment.do?sitekey=P941#motif=20")
    reader.check_url(f"{base}/appointment.do?sitekey=P941")
    for bad, words in [
        (f"{base}/element/jsp/specific/pref94.jsp", "sitekey"),
        (f"{base}/appointment.do?sitekey=P941#20", "motif="),
        ("https://www.isere.gouv.fr/booking/create/4129?sitekey=1", "not an office"),
    ]:
        with pytest.raises(ValueError, match=words):
            reader.check_url(bad)


@pytest.fixture(scope="module")
def live(scenario: Path) -> Iterator[SimulatorThread]:
    with SimulatorThread(scenario, hosts="loopback", system_clock=True) as sim:
        yield sim


def test_cli_probe_json(live: SimulatorThread) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "guichets", "probe", *args, "--gap", "0", "--json"],
            capture_output=True,
            text=True,
            timeout=120,
        )

    found = cli(live.url("94-creteil-retrait"), "--platform", "eappointment")
    assert found.returncode == 0, found.stderr
    data = json.loads(found.stdout)
    assert data["outcome"] == "available" and data["counter"] == "20"
    assert data["extra"]["available_days"] and data["slots"][0].endswith(("+01:00", "+02:00"))
    none = json.loads(cli(live.url("94-nogent-retrait"), "--platform", "eappointment").stdout)
    assert (none["outcome"], none["detail"], none["category"]) == (
        "unavailable",
        "no_slot_page",
        "E",
    )
    wrong = cli(live.url("94-creteil-retrait").split("?")[0], "--platform", "eappointment")
    assert wrong.returncode == 2 and "sitekey" in wrong.stderr


def test_the_catalogue_checks_urls_with_the_reader(tmp_path: Path) -> None:
    entry = """[[services]]
id = "94-test-service"
departement = "94"
site = "Préfecture"
procedure = "titre-sejour"
platform = "eappointment"
url = "{url}"
cadence = "1h"
"""
    path = tmp_path / "catalogue.toml"
    path.write_text(
        entry.format(
            url="https://rdv-etrangers-94.interieur.gouv.fr/eAppointmentpref94/appointment.do?sitekey=P941#motif=20"
        ),
        encoding="utf-8",
    )
    assert check_report(path)[0] == 0
    path.write_text(
        entry.format(
            url="https://rdv-etrangers-94.interieur.gouv.fr/eAppointmentpref94/element/jsp/specific/pref94.jsp"
        ),
        encoding="utf-8",
    )
    code, text = check_report(path)
    assert code == 2 and text.startswith(f"{path}:7:1: services[0].url: an eappointment URL")
    assert "sitekey" in text
