"""The simulated RDV-Préfecture's test scenario and a person's way through it (no tests here):
shared by the simulator's own tests, the reader's and the demo's."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from selectolax.lexbor import LexborHTMLParser

from guichets.model import Observation
from guichets.simulator.groundtruth import PARIS, CounterTruth
from tests.simthread import Browser, Page, SimulatorThread

__all__ = [
    "SCENARIO",
    "START",
    "absolute",
    "conditions",
    "expected_slots",
    "slot_page",
    "submit",
    "write_scenario",
]

# A test scenario: each démarche holds one page state at the scenario's start (Monday 5 October
# 2026, 00:00 in Paris).
SCENARIO = """
[scenario]
name = "rdvpref-test"
seed = 11
start = 2026-10-05T00:00:00+02:00

[[sites]]
slug = "rdv-standard"
name = "Préfecture de la Gironde"
host = "www.rdv-prefecture.interieur.gouv.fr"
departement = "33"
platform = "rdvpref"

[[sites.services]]
id = "33-gated"
procedure = "titre-sejour"
title = "Titre de séjour - Bordeaux"
form_id = 2200
counters = [{ id = 22001, label = "Accueil" }]
model = { window_days = 30, demand_per_hour = 0 }

[[sites.services]]
id = "33-plenty"
procedure = "etudiants"
title = "Titre étudiant - Bordeaux"
form_id = 2201
counters = [{ id = 22011, label = "Accueil étudiants" }]
captcha = false
model = { window_days = 30, demand_per_hour = 0 }

[[sites.services]]
id = "33-later"
procedure = "naturalisation"
title = "Naturalisation - Bordeaux"
form_id = 2202
counters = [{ id = 22021, label = "Nationalité" }]
captcha = false
[sites.services.model]  # the first week closed
window_days = 30
demand_per_hour = 0
closed_dates = [2026-10-05, 2026-10-06, 2026-10-07, 2026-10-08, 2026-10-09]

[[sites.services]]
id = "33-never"
procedure = "aes"
title = "Admission exceptionnelle au séjour - Bordeaux"
form_id = 2203
counters = [{ id = 22031, label = "AES" }]
captcha = false
model = { opening_hours = [] }

[[sites.services]]
id = "33-batch"
procedure = "renouvellement"
title = "Renouvellement - Bordeaux"
form_id = 2204
counters = [{ id = 22041, label = "Séjour" }]
captcha = false
[sites.services.model]  # a weekly batch, taken as soon as it is out
window_days = 21
release = "weekly"
release_weekday = "mon"
release_time = "16:00"
demand_per_hour = 500
demand_profile = "flat"
earliest_share = 1.0
cancel_probability = 0

[[sites.services]]
id = "33-firewall"
procedure = "premiere-demande"
title = "Première demande - Bordeaux"
form_id = 2205
counters = [{ id = 22051, label = "Accueil" }]
captcha = false
model = { window_days = 30, demand_per_hour = 0 }

[[sites.services.outages.scheduled]]
start = 2026-10-06T08:00:00+02:00
end = 2026-10-06T10:00:00+02:00
kind = "firewall"

[[sites]]
slug = "rdv-early"
name = "Préfecture du Nord"
host = "www.rdv-prefecture.interieur.gouv.fr"
departement = "59"
platform = "rdvpref"
page_variant = "early"
robots = "disallow"

[[sites.services]]
id = "59-batch"
procedure = "renouvellement"
title = "Renouvellement - Lille"
form_id = 3720
counters = [{ id = 37201, label = "Séjour" }]
captcha = false
[sites.services.model]  # a weekly batch, taken as soon as it is out
window_days = 21
release = "weekly"
release_weekday = "mon"
release_time = "16:00"
demand_per_hour = 500
demand_profile = "flat"
earliest_share = 1.0
cancel_probability = 0

[[sites]]
slug = "rdv-small"
name = "Préfecture des Bouches-du-Rhône"
host = "www.rdv-prefecture.interieur.gouv.fr"
departement = "13"
platform = "rdvpref"
page_variant = "small-screen"

[[sites.services]]
id = "13-plenty"
procedure = "etudiants"
title = "Titre étudiant - Marseille"
form_id = 5230
counters = [{ id = 52301, label = "Étudiants" }]
captcha = false
model = { window_days = 30, demand_per_hour = 0, opening_days = ["mon", "tue", "wed"] }

[[sites.services]]
id = "13-batch"
procedure = "aes"
title = "AES - Marseille"
form_id = 5231
counters = [{ id = 52311, label = "AES" }]
captcha = false
[sites.services.model]  # a weekly batch, taken as soon as it is out
window_days = 21
release = "weekly"
release_weekday = "mon"
release_time = "16:00"
demand_per_hour = 500
demand_profile = "flat"
earliest_share = 1.0
cancel_probability = 0

[[sites]]
slug = "rdv-waf"
name = "Préfecture des Alpes-Maritimes"
host = "www.rdv-prefecture.interieur.gouv.fr"
departement = "06"
platform = "rdvpref"
block = { user_agents = ["(?i)guichets|python"] }

[[sites.services]]
id = "06-nice-titre-sejour"
procedure = "titre-sejour"
title = "Titre de séjour - Nice"
form_id = 1850
counters = [{ id = 18501, label = "Accueil" }]
model = { window_days = 30, demand_per_hour = 0 }
"""

START = datetime(2026, 10, 5, 0, 0, tzinfo=PARIS)


def write_scenario(folder: Path) -> Path:
    path = folder / "rdvpref-test.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    return path


def absolute(sim: SimulatorThread, href: str) -> str:
    return href if href.startswith("http") else sim.base_url + href


def conditions(sim: SimulatorThread, browser: Browser, service: str) -> Page:
    landing = browser.request(sim.url(service))
    link = LexborHTMLParser(landing.text).css_first('a[href$="/cgu/"]')
    assert link is not None, "the landing page leads to the conditions"
    return browser.request(absolute(sim, link.attributes["href"] or ""))


def submit(sim: SimulatorThread, browser: Browser, cgu: Page, **extra: str) -> Page:
    tree = LexborHTMLParser(cgu.text)
    button = tree.css_first("button[formaction]")
    assert button is not None and button.text(strip=True) == "Suivant"
    fields = {
        n.attributes["name"] or "": n.attributes["value"] or ""
        for n in tree.css("form input[type=hidden]")
    }
    return browser.request(
        absolute(sim, button.attributes["formaction"] or ""), {**fields, **extra}, follow=False
    )


def slot_page(sim: SimulatorThread, service: str, browser: Browser | None = None) -> Page:
    """A person's way to the slot page of a démarche without captcha."""
    browser = browser or Browser()
    answer = submit(sim, browser, conditions(sim, browser, service))
    assert answer.status == 302 and answer.headers["Location"].endswith("/creneau/")
    return browser.request(absolute(sim, answer.headers["Location"]))


def expected_slots(counter: CounterTruth, obs: Observation) -> list[datetime]:
    """The slots a probe's slot pages should have shown, from the truth: for each page in its
    trail, the free slots of the seven days from its premierJour (today without one), at the
    instant the page was served, within the probe's horizon. Used by the reader and demo tests."""
    expected: list[datetime] = []
    for step in obs.trail:
        parts = urlsplit(step.url)
        if not parts.path.endswith("/creneau/"):
            continue
        asked = parse_qs(parts.query).get("premierJour")
        first = (
            datetime.strptime(asked[0], "%d/%m/%Y").date()
            if asked
            else step.at.astimezone(PARIS).date()
        )
        expected += [
            s.start
            for s in counter.free_slots(step.at)
            if first <= s.start.date() <= first + timedelta(days=6)
            and obs.horizon_end is not None
            and obs.started_at < s.start <= obs.horizon_end
        ]
    return sorted(set(expected))
