"""The readers act like a person: the simulator's presentation variants change the markup, never
what a person sees, and the robot reads them as it reads the standard pages."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from guichets.model import Detail, Observation, Outcome
from guichets.platforms import Target
from guichets.probe import ProbeSpec, run_probe
from tests.robotsim import Bench, bench

ALL = '["button-tag", "script-url", "english", "reordered", "time-cells"]'


def _scenario(tmp_path: Path, variants: str, site_extra: str = "", counters: int = 1) -> Path:
    lines = ", ".join(f'{{ id = {20 + n}, label = "Guichet {n + 1}" }}' for n in range(counters))
    path = tmp_path / "scenario.toml"
    path.write_text(
        f"""
[scenario]
name = "person"
start = 2026-10-07T00:00:00+02:00

[[sites]]
slug = "person"
name = "Préfecture de test"
host = "www.person.gouv.fr"
departement = "38"
variants = {variants}
{site_extra}

[[sites.services]]
id = "38-person-titre"
procedure = "titre"
title = "Titre de séjour"
form_id = 10
notice = true
counters = [{lines}]
model = {{ demand_per_hour = 0.1, window_days = 40 }}
""",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("variants", "extra", "counters", "asked"),
    [
        (ALL, "", 2, None),  # counter chosen on step 1, grid URL built in script
        (ALL, 'offset_origin = 2025-01-08\nindex_php = true\nheader_language = "en"', 2, "21"),
        (ALL, "offset_origin = 2024-03-13", 1, "20"),  # one counter, named by the catalogue
        ('["script-url"]', "", 1, "20"),
        ('["button-tag", "reordered"]', "offset_origin = 2025-06-04", 1, None),
    ],
)
async def test_variants_give_the_truth(
    tmp_path: Path, variants: str, extra: str, counters: int, asked: str | None
) -> None:
    async with bench(_scenario(tmp_path, variants, extra, counters)) as b:
        service = b.world.services["38-person-titre"]
        for hours in (9, 24 * 20 + 3):
            b.at(b.world.start + timedelta(hours=hours))
            obs = await b.probe(service.id, counter=asked)
            wanted = int(asked) if asked else 20
            truth = service.counter(wanted).free_slots(b.clock.now())
            assert obs.counter == str(wanted)
            if truth:
                assert obs.outcome is Outcome.AVAILABLE, obs.message
                assert list(obs.slots[:2]) == [s.start for s in truth[:2]]
            else:
                assert obs.outcome is Outcome.UNAVAILABLE, obs.message
        assert not b.sim.forbidden


async def test_a_single_counter_site_reads_its_counter_from_the_script(tmp_path: Path) -> None:
    async with bench(_scenario(tmp_path, '["script-url"]', "", 1)) as b:
        b.at(b.world.start + timedelta(hours=9))
        obs = await b.probe("38-person-titre")
        truth = b.world.services["38-person-titre"].counter().free_slots(b.clock.now())
    assert obs.counter == "20"
    assert obs.outcome is (Outcome.AVAILABLE if truth else Outcome.UNAVAILABLE), obs.message


async def test_a_built_grid_without_any_named_counter_is_not_guessed() -> None:
    from guichets.platforms.ezbooking import EzBookingReader
    from tests.pagesession import NOW, PageSession, page, read, redirect

    create = "/booking/create/10"
    conditions = (
        '<form id="FormBookingCreate" method="post"><input type="checkbox" name="condition" '
        'id="condition" /><label for="condition">J\'accepte les conditions</label>'
        '<button name="nextButton">Effectuer une demande de rendez-vous</button></form>'
    )
    dates = (
        '<img src="/etape_4r.png" /><form id="FormBookingCreate" method="post">'
        '<div id="planning_Booking"></div></form><script>load(gridUrl(readCounter(), 0));</script>'
    )
    site = PageSession(
        "https://www.test.gouv.fr",
        {
            ("GET", create): page(conditions),
            ("POST", create): redirect(f"{create}/4"),
            ("GET", f"{create}/4"): page(dates),
        },
    )
    reading = await read(EzBookingReader(), site, "https://www.test.gouv.fr" + create, NOW)
    assert (reading.outcome, reading.detail) == (Outcome.UNRECOGNIZED, Detail.UNREADABLE_GRID)
    assert "--planning" in reading.message and reading.kept_page
    assert not [s for s in site.sent if "assign" in s[1]]  # nothing asked of any counter


async def test_offsets_origin_is_learnt_once_then_reused(tmp_path: Path) -> None:
    async with bench(_scenario(tmp_path, '["script-url"]', "offset_origin = 2024-03-13", 2)) as b:
        b.at(b.world.start + timedelta(hours=9))
        first = await b.probe("38-person-titre", counter="20")
        second = await b.probe("38-person-titre", counter="20")
    grids = lambda obs: [s.url for s in obs.trail if "assign" in s.url]  # noqa: E731
    assert len(grids(first)) == len(grids(second)) + 1  # the first probe asked one extra week
    assert grids(second)[0] == grids(first)[1]


RDVPREF = """
[scenario]
name = "person-rdvpref"
seed = 3
start = 2026-10-05T00:00:00+02:00

[[sites]]
slug = "rdv"
name = "Préfecture de la Gironde"
host = "www.rdv-prefecture.interieur.gouv.fr"
departement = "33"
platform = "rdvpref"
variants = {variants}

[[sites.services]]
id = "33-open"
procedure = "etudiants"
title = "Titre étudiant"
form_id = 2201
counters = [{{ id = 22011, label = "Accueil" }}]
captcha = false
model = {{ window_days = 30, demand_per_hour = 0 }}

[[sites.services]]
id = "33-gated"
procedure = "titre-sejour"
title = "Titre de séjour"
form_id = 2200
counters = [{{ id = 22001, label = "Accueil" }}]
model = {{ window_days = 30, demand_per_hour = 0 }}
"""


async def _rdvpref(b: Bench, service: str) -> Observation:
    spec = ProbeSpec(service, "rdvpref", Target(b.url(service), None, 91), "33")
    return await run_probe(spec, b.gates, b.clock)


@pytest.mark.parametrize(
    "variants",
    ['["form-action"]', '["input-submit", "form-action"]', '["accept-box", "input-submit"]', "[]"],
)
async def test_rdvpref_suivant_whatever_its_form(tmp_path: Path, variants: str) -> None:
    path = tmp_path / "rdv.toml"
    path.write_text(RDVPREF.format(variants=variants), encoding="utf-8")
    async with bench(path) as b:
        opened = await _rdvpref(b, "33-open")
        gated = await _rdvpref(b, "33-gated")
        truth = b.world.services["33-open"].counter().free_slots(b.clock.now())
    assert (opened.outcome, opened.detail) == (Outcome.AVAILABLE, Detail.SLOTS_SEEN)
    assert opened.slots[0] == truth[0].start
    assert (gated.outcome, gated.detail) == (Outcome.BARRIER, Detail.CAPTCHA)
    assert not b.sim.forbidden


async def test_eappointment_suivant_as_a_button_and_alerts_in_single_quotes(
    tmp_path: Path,
) -> None:
    from tests.eappointment_sim import SCENARIO

    text = SCENARIO.replace(
        'platform = "eappointment"\n',
        'platform = "eappointment"\nvariants = ["button-tag", "reordered"]\n',
        1,
    )
    path = tmp_path / "eapp.toml"
    path.write_text(text, encoding="utf-8")
    async with bench(path) as b:
        results = {}
        for service in ("94-creteil-retrait", "94-creteil-premiere", "94-nogent-retrait"):
            target = Target(b.url(service), None, 91)
            spec = ProbeSpec(service, "eappointment", target, "94")
            results[service] = await run_probe(spec, b.gates, b.clock)
        first = b.world.services["94-creteil-retrait"].counter().free_slots(b.clock.now())[0]
        assert not b.sim.forbidden
    assert results["94-creteil-retrait"].outcome is Outcome.AVAILABLE
    assert results["94-creteil-retrait"].slots[0] == first.start
    for service, wording in (("94-creteil-premiere", "motifs"), ("94-nogent-retrait", "service")):
        obs = results[service]
        assert (obs.outcome, obs.detail) == (Outcome.UNAVAILABLE, Detail.NO_SLOT_PAGE)
        assert obs.extra["no_slot_message"] == wording


async def test_labels_with_arrows_a_notice_box_and_a_landing_form_are_a_persons_way() -> None:
    """« Suivant › » is « Suivant »; a notice whose box says it was read is ticked; a landing
    page whose « Prendre rendez-vous » is a form leads to the conditions as a link would."""
    from guichets.platforms.ezbooking import EzBookingReader
    from guichets.platforms.rdvpref import RdvPrefReader
    from tests.pagesession import NOW, PageSession, page, read, redirect

    create = "/booking/create/10"
    conditions = (
        '<form id="FormBookingCreate" method="post"><input type="checkbox" name="condition" '
        'id="c" /><label for="c">J\'accepte les conditions</label>'
        "<button>Effectuer une demande de rendez-vous &raquo;</button></form>"
    )
    notice = (
        '<form id="FormBookingCreate" method="post" action="/booking/create/10/3"><p>Attention'
        '</p><label><input type="checkbox" name="lu" required> J\'accepte cet avertissement'
        "</label><button>Etape suivante &rsaquo;</button></form>"
    )
    no_slot = (
        '<form id="FormBookingCreate">Il n\'existe plus de plage horaire libre pour votre demande'
        " de rendez-vous. Veuillez recommencer ultérieurement.</form>"
    )

    def after_notice(fields: dict[str, str]) -> tuple[int, str, str | None]:
        return (302, "", f"{create}/2") if fields.get("lu") == "on" else (200, notice, None)

    legacy = PageSession(
        "https://www.test.gouv.fr",
        {
            ("GET", create): page(conditions),
            ("POST", create): redirect(f"{create}/3"),
            ("GET", f"{create}/3"): page(notice),
            ("POST", f"{create}/3"): after_notice,
            ("GET", f"{create}/2"): page(no_slot),
        },
    )
    reading = await read(EzBookingReader(), legacy, "https://www.test.gouv.fr" + create, NOW)
    assert (reading.outcome, reading.detail) == (Outcome.UNAVAILABLE, Detail.NO_SLOT_PAGE)

    base = "/rdvpref/reservation/demarche/7"
    landing = (
        f'<form action="{base}/cgu/"><button type="submit">Prendre rendez-vous</button></form>'
    )
    cgu = (
        f'<form method="post" action="{base}/_validerCaptcha"><input type="hidden" name="CTX" '
        'value="1" /><button class="fr-btn">Suivant <span aria-hidden="true">›</span></button>'
        "</form>"
    )
    creneau = (
        "<h1>Choisissez votre créneau</h1><div>Aucun créneau disponible à partir de cette date."
        '<br/>Veuillez réessayer ultérieurement.</div><script>init({"critere": {"premierJour": '
        '"07/10/2026", "dateMin": "07/10/2026", "dateMax": "05/01/2027", '
        '"datePremiereDispo": ""}});</script>'
    )
    rdv = PageSession(
        "https://www.rdv-prefecture.interieur.gouv.fr",
        {
            ("GET", f"{base}/"): page(landing),
            ("GET", f"{base}/cgu/"): page(cgu),
            ("POST", f"{base}/_validerCaptcha"): redirect(f"{base}/creneau/"),
            ("GET", f"{base}/creneau/"): page(creneau),
        },
    )
    url = f"https://www.rdv-prefecture.interieur.gouv.fr{base}/"
    reading = await read(RdvPrefReader(), rdv, url, NOW)
    assert (reading.outcome, reading.detail) == (Outcome.UNAVAILABLE, Detail.NO_SLOT_PAGE)
