"""French départements and overseas collectivities that have a prefecture, by official code.

Every service in the catalogue belongs to one of them; figures are published per département. The
list is held here (not fetched) so that validation works offline and the names are spelled once,
with their accents and hyphens, for the catalogue checker, the reports and the map.
"""

from __future__ import annotations

import difflib
import unicodedata

__all__ = [
    "COLLECTIVITES",
    "DEPARTEMENTS",
    "closest_codes",
    "departement_name",
    "is_departement",
]

# The 101 départements, then the overseas collectivities with a prefect or a high commissioner.
DEPARTEMENTS: dict[str, str] = {
    "01": "Ain",
    "02": "Aisne",
    "03": "Allier",
    "04": "Alpes-de-Haute-Provence",
    "05": "Hautes-Alpes",
    "06": "Alpes-Maritimes",
    "07": "Ardèche",
    "08": "Ardennes",
    "09": "Ariège",
    "10": "Aube",
    "11": "Aude",
    "12": "Aveyron",
    "13": "Bouches-du-Rhône",
    "14": "Calvados",
    "15": "Cantal",
    "16": "Charente",
    "17": "Charente-Maritime",
    "18": "Cher",
    "19": "Corrèze",
    "2A": "Corse-du-Sud",
    "2B": "Haute-Corse",
    "21": "Côte-d'Or",
    "22": "Côtes-d'Armor",
    "23": "Creuse",
    "24": "Dordogne",
    "25": "Doubs",
    "26": "Drôme",
    "27": "Eure",
    "28": "Eure-et-Loir",
    "29": "Finistère",
    "30": "Gard",
    "31": "Haute-Garonne",
    "32": "Gers",
    "33": "Gironde",
    "34": "Hérault",
    "35": "Ille-et-Vilaine",
    "36": "Indre",
    "37": "Indre-et-Loire",
    "38": "Isère",
    "39": "Jura",
    "40": "Landes",
    "41": "Loir-et-Cher",
    "42": "Loire",
    "43": "Haute-Loire",
    "44": "Loire-Atlantique",
    "45": "Loiret",
    "46": "Lot",
    "47": "Lot-et-Garonne",
    "48": "Lozère",
    "49": "Maine-et-Loire",
    "50": "Manche",
    "51": "Marne",
    "52": "Haute-Marne",
    "53": "Mayenne",
    "54": "Meurthe-et-Moselle",
    "55": "Meuse",
    "56": "Morbihan",
    "57": "Moselle",
    "58": "Nièvre",
    "59": "Nord",
    "60": "Oise",
    "61": "Orne",
    "62": "Pas-de-Calais",
    "63": "Puy-de-Dôme",
    "64": "Pyrénées-Atlantiques",
    "65": "Hautes-Pyrénées",
    "66": "Pyrénées-Orientales",
    "67": "Bas-Rhin",
    "68": "Haut-Rhin",
    "69": "Rhône",
    "70": "Haute-Saône",
    "71": "Saône-et-Loire",
    "72": "Sarthe",
    "73": "Savoie",
    "74": "Haute-Savoie",
    "75": "Paris",
    "76": "Seine-Maritime",
    "77": "Seine-et-Marne",
    "78": "Yvelines",
    "79": "Deux-Sèvres",
    "80": "Somme",
    "81": "Tarn",
    "82": "Tarn-et-Garonne",
    "83": "Var",
    "84": "Vaucluse",
    "85": "Vendée",
    "86": "Vienne",
    "87": "Haute-Vienne",
    "88": "Vosges",
    "89": "Yonne",
    "90": "Territoire de Belfort",
    "91": "Essonne",
    "92": "Hauts-de-Seine",
    "93": "Seine-Saint-Denis",
    "94": "Val-de-Marne",
    "95": "Val-d'Oise",
    "971": "Guadeloupe",
    "972": "Martinique",
    "973": "Guyane",
    "974": "La Réunion",
    "976": "Mayotte",
    # Overseas collectivities: not départements, but each has a prefecture (or a high
    # commission) whose counters foreigners must reach, so they are probed the same way.
    "975": "Saint-Pierre-et-Miquelon",
    "977": "Saint-Barthélemy",
    "978": "Saint-Martin",
    "986": "Wallis-et-Futuna",
    "987": "Polynésie française",
    "988": "Nouvelle-Calédonie",
}

COLLECTIVITES: frozenset[str] = frozenset({"975", "977", "978", "986", "987", "988"})


def departement_name(code: str) -> str:
    """Official name for a code; KeyError (with the code) for one that is not in the list."""
    try:
        return DEPARTEMENTS[code]
    except KeyError:
        raise KeyError(f"unknown département code {code!r}") from None


def is_departement(code: str) -> bool:
    """Whether ``code`` is exactly a known code ("2A", not "2a"; "01", not "1")."""
    return code in DEPARTEMENTS


def _fold(text: str) -> str:
    """Lowercase, without accents, spaces, hyphens or apostrophes: how people mistype names."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return "".join(char for char in bare.casefold() if char.isalnum())


_FOLDED_NAMES: dict[str, str] = {_fold(name): code for code, name in DEPARTEMENTS.items()}


def closest_codes(text: str, n: int = 2) -> list[str]:
    """Codes a person probably meant by ``text``, best first; empty when nothing is close.

    Handles the usual slips: lowercase Corsica ("2a"), a missing zero ("1"), the old Corsican
    "20", a near number ("96"), or a name written instead of a code ("Isère", "seine saint denis").
    """
    raw = text.strip()
    upper = raw.upper()
    if upper in DEPARTEMENTS:
        return [upper]
    if upper.isdigit():
        if upper == "20":
            return ["2A", "2B"]
        if len(upper) == 1:
            padded = "0" + upper
            return [padded] if padded in DEPARTEMENTS else []
        if len(upper) in (2, 3):
            value = int(upper)
            near = [
                code
                for code in DEPARTEMENTS
                if code.isdigit() and len(code) == len(upper) and abs(int(code) - value) <= 2
            ]
            near.sort(key=lambda code: (abs(int(code) - value), code))
            return near[:n]
        return []
    folded = _fold(raw)
    if folded in _FOLDED_NAMES:
        return [_FOLDED_NAMES[folded]]
    names = difflib.get_close_matches(folded, _FOLDED_NAMES, n=n, cutoff=0.8)
    if names:
        return [_FOLDED_NAMES[name] for name in names]
    if len(upper) <= 3:
        return difflib.get_close_matches(upper, DEPARTEMENTS, n=n, cutoff=0.5)
    return []
