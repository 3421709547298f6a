"""A scenario with the three captchas an assisted attempt meets, for the simulator's and the
console's tests: an RDV-Préfecture démarche behind CaptchEtat, a legacy form with its « Contrôle de
sécurité », and a Préfecture-de-police-like form with its own image captcha."""

from __future__ import annotations

SCENARIO = """
[scenario]
name = "assisted-test"
seed = 12
start = 2026-10-05T09:00:00+02:00

[[sites]]
slug = "rdv-gironde"
name = "Préfecture de la Gironde"
host = "www.rdv-prefecture.interieur.gouv.fr"
departement = "33"
platform = "rdvpref"

[[sites.services]]
id = "33-bordeaux-titre"
procedure = "titre-sejour"
title = "Titre de séjour - Bordeaux"
form_id = 2200
counters = [{ id = 22001, label = "Accueil" }]
model = { window_days = 30, demand_per_hour = 0 }

[[sites]]
slug = "isere"
name = "Préfecture de l'Isère"
host = "www.isere.gouv.fr"
departement = "38"

[[sites.services]]
id = "38-grenoble-renouvellement"
procedure = "renouvellement"
title = "Renouvellement de titre de séjour"
form_id = 4129
counters = [{ id = 41291, label = "Guichet 1" }]
security_check = "controle"
model = { window_days = 30, demand_per_hour = 0 }

[[sites]]
slug = "police"
name = "Préfecture de police"
host = "ppoletrangers.interieur.gouv.fr"
departement = "75"

[[sites.services]]
id = "75-paris-titre"
procedure = "titre-sejour"
title = "Titre de séjour - Paris"
form_id = 7501
counters = [{ id = 75011, label = "Centre de réception" }]
security_check = "ppolice"
model = { window_days = 30, demand_per_hour = 0, opening_hours = [] }
"""
