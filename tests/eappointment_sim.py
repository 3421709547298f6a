"""The simulated eAppointment's test scenario and a person's steps through it (no tests here):
shared by the simulator's own tests and the reader's."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from selectolax.lexbor import LexborHTMLParser

from guichets.simulator.groundtruth import PARIS
from tests.simthread import Browser, Page, SimulatorThread

__all__ = [
    "ALERT_MOTIVES",
    "ALERT_SERVICE",
    "SCENARIO",
    "START",
    "choose",
    "office",
    "write_scenario",
]

SCENARIO = """
[scenario]
name = "eappointment-test"
seed = 5
start = 2026-10-05T00:00:00+02:00

[[sites]]
slug = "eapp"
name = "Préfecture du Val-de-Marne"
host = "rdv-etrangers-94.interieur.gouv.fr"
departement = "94"
platform = "eappointment"

[[sites.services]]
id = "94-creteil-retrait"
procedure = "retrait-titre"
title = "Retrait de titre"
form_id = 20
sitekey = "P941"
postcodes = ["94000", "94010"]
counters = [{ id = 9411, label = "Préfecture - Créteil" }]
model = { window_days = 40, demand_per_hour = 0 }

[[sites.services]]
id = "94-creteil-premiere"
procedure = "premiere-demande"
title = "Première demande"
form_id = 21
sitekey = "P941"
counters = [{ id = 9412, label = "Préfecture - Créteil" }]
model = { opening_hours = [] }

[[sites.services]]
id = "94-nogent-retrait"
procedure = "retrait-titre"
title = "Retrait de titre"
form_id = 20
sitekey = "P942"
postcodes = ["94130"]
counters = [{ id = 9421, label = "Sous-préfecture de Nogent-sur-Marne" }]
model = { opening_hours = [] }

[[sites.services]]
id = "94-lhay-retrait"
procedure = "retrait-titre"
title = "Retrait de titre"
form_id = 20
sitekey = "P943"
postcodes = ["94240"]
counters = [{ id = 9431, label = "Sous-préfecture de L'Haÿ-les-Roses" }]
model = { window_days = 30, demand_per_hour = 0 }

[[sites.services.outages.scheduled]]
start = 2026-10-05T00:00:00+02:00
end = 2026-10-05T06:00:00+02:00
kind = "closed"

[[sites]]
slug = "eapp-mairie"
name = "Mairie de Cergy"
host = "rdv.cergy.example"
departement = "95"
platform = "eappointment"
page_variant = "soonest"
robots = "disallow"

[[sites.services]]
id = "95-cergy-passeport"
procedure = "passeport"
title = "Passeport"
form_id = 7
sitekey = "M951"
postcodes = ["95000"]
counters = [{ id = 9511, label = "Hôtel de ville" }]
model = { window_days = 20, demand_per_hour = 0, opening_days = ["tue", "thu"] }
"""

START = datetime(2026, 10, 5, 0, 0, tzinfo=PARIS)
ALERT_MOTIVES = (
    "Aucun rendez-vous n'est possible pour les motifs selectionnnés ou le créneau horaire "
    "séléctionné."
)
ALERT_SERVICE = "Il n'y a pas de rendez-vous disponible pour ce service."


def write_scenario(folder: Path) -> Path:
    path = folder / "eappointment-test.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    return path


def office(sim: SimulatorThread, service: str, browser: Browser) -> Page:
    return browser.request(sim.url(service).split("#")[0])


def choose(sim: SimulatorThread, page: Page, browser: Browser, motive: str) -> Page:
    """Tick one reason and press « Suivant », as a person does."""
    form = LexborHTMLParser(page.text).css_first("form#appointmentFormId")
    assert form is not None
    fields = {
        n.attributes["name"] or "": n.attributes["value"] or ""
        for n in form.css("input[type=hidden]")
    }
    action = form.attributes["action"] or ""
    return browser.request(sim.base_url + action, {**fields, "selectedMotiveKeyList": motive})
