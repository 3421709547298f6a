"""The alerts' history as people read it: « fermé du 3 au 17 octobre 2026, rouvert le 18 ».

Sentences for the service pages and the feeds, in French and in English, from the alerts table's
rows (``store/alerts.py``). Plain text: the templates and feedgen escape it.
"""

from __future__ import annotations

from datetime import date, datetime

from guichets.model import PARIS
from guichets.site import i18n
from guichets.store.alerts import AlertRecord

__all__ = ["cause_text", "feed_text", "history_line", "span", "summary_line"]

CAUSES: dict[str, tuple[str, str]] = {
    "no_slot": ("aucune date", "no date"),
    "captcha": ("captcha", "captcha"),
    "blocked": ("robot bloqué", "robot blocked"),
    "rate_limited": ("trop de requêtes", "too many requests"),
    "robots": ("interdit par robots.txt", "disallowed by robots.txt"),
    "login": ("connexion exigée", "login required"),
    "site_error": ("site en panne", "site down"),
    "layout_changed": ("page changée", "page changed"),
    "unreadable_grid": ("grille illisible", "unreadable grid"),
    "unexpected_page": ("page inattendue", "unexpected page"),
    "unrecognized": ("pages illisibles", "unreadable pages"),
    "no_probe": ("plus aucun sondage", "no probe any more"),
}


def cause_text(cause: str, lang: str) -> str:
    fr, en = CAUSES.get(cause, ("page illisible", "unreadable page"))
    return fr if lang == "fr" else en


def _day(at: datetime) -> date:
    return at.astimezone(PARIS).date()


def span(first: date, last: date, lang: str) -> str:
    """« du 3 au 17 octobre 2026 », « du 28 septembre au 3 octobre 2026 », « le 3 octobre 2026 »;
    in English « from 3 to 17 October 2026 », « on 3 October 2026 »."""
    if first == last:
        return ("le " if lang == "fr" else "on ") + i18n.fmt_day(first, lang)
    whole = i18n.fmt_day(last, lang)
    if (first.year, first.month) == (last.year, last.month):
        start = i18n.fmt_day(first, lang).split(" ")[0]
    elif first.year == last.year:
        start = " ".join(i18n.fmt_day(first, lang).split(" ")[:2])
    else:
        start = i18n.fmt_day(first, lang)
    return f"du {start} au {whole}" if lang == "fr" else f"from {start} to {whole}"


def _since(day: date, lang: str) -> str:
    return ("depuis le " if lang == "fr" else "since ") + i18n.fmt_day(day, lang)


def _on(day: date, lang: str) -> str:
    return ("le " if lang == "fr" else "on ") + i18n.fmt_day(day, lang)


def history_line(alert: AlertRecord, lang: str) -> str:
    """One episode in a sentence, e.g. « Fermé du 3 au 17 octobre 2026, rouvert le 18 octobre
    2026 », « Robot aveugle (captcha) depuis le 5 octobre 2026 »."""
    fr = lang == "fr"
    first, last = _day(alert.since), _day(alert.last_seen)
    cause = cause_text(alert.cause, lang)
    head = {
        "closed": "Fermé (aucune date trouvée)" if fr else "Closed (no date found)",
        "blind": f"Robot aveugle ({cause})" if fr else f"Robot blind ({cause})",
        "layout_changed": "Pages changées sur la plateforme" if fr else "Platform pages changed",
        "stalled": "Aucun sondage" if fr else "No probe",
    }[alert.kind]
    if alert.closed_at is None:
        return f"{head} {_since(first, lang)}" + (" (en cours)" if fr else " (ongoing)")
    ended = _day(alert.closed_at)
    then = {
        "closed": "rouvert" if fr else "reopened",
        "blind": "lit de nouveau la page" if fr else "reads the page again",
        "layout_changed": "pages lues de nouveau" if fr else "pages read again",
        "stalled": "sondages repris" if fr else "probes resumed",
    }[alert.kind]
    return f"{head} {span(first, last, lang)}, {then} {_on(ended, lang)}"


def summary_line(alert: AlertRecord, change: str, label: str, lang: str = "fr") -> str:
    """A feed entry's title: what happened, to which service."""
    fr = lang == "fr"
    if change == "opened":
        what = {
            "closed": "Guichet fermé" if fr else "Counter closed",
            "blind": (f"Robot aveugle ({cause_text(alert.cause, lang)})" if fr
                      else f"Robot blind ({cause_text(alert.cause, lang)})"),
            "layout_changed": "Pages changées sur une plateforme" if fr else "Platform changed",
            "stalled": "Sondages arrêtés" if fr else "Probes stopped",
        }[alert.kind]  # fmt: skip
    else:
        what = {
            "closed": "Guichet rouvert" if fr else "Counter reopened",
            "blind": "Le robot lit de nouveau" if fr else "The robot reads again",
            "layout_changed": "Pages lues de nouveau" if fr else "Pages read again",
            "stalled": "Sondages repris" if fr else "Probes resumed",
        }[alert.kind]
    return f"{what} : {label}" if fr else f"{what}: {label}"


def feed_text(alert: AlertRecord, change: str, label: str) -> str:
    """A feed entry's text: the episode and the figures behind it, in French."""
    f = alert.figures
    line = history_line(alert, "fr") if change == "closed" else _opened(alert, label)
    probes = int(f.get("probes", 0) or 0)
    hours = f.get("hours")
    if alert.kind == "closed" and probes:
        line += f" {probes} sondages valides sans date"
        shown = f"{float(hours):g}".replace(".", ",") if hours is not None else None
        line += f" sur {shown} heures." if shown is not None else "."
    elif alert.kind == "blind" and probes:
        details = ", ".join(f"{k} × {v}" for k, v in sorted(dict(f.get("details", {})).items()))
        line += f" {probes} sondages sans lecture ({details}). Ce n'est pas une fermeture."
    elif alert.kind == "layout_changed":
        line += f" {int(f.get('services', 0))} services touchés."
    if alert.service is not None:
        line += f" Service : {alert.service}."
    return line


def _opened(alert: AlertRecord, label: str) -> str:
    day = i18n.fmt_day(_day(alert.since), "fr")
    return {
        "closed": f"{label} : aucune date trouvée depuis le {day}.",
        "blind": f"{label} : le robot ne peut plus lire la page "
        f"({cause_text(alert.cause, 'fr')}) depuis le {day}.",
        "layout_changed": f"Pages illisibles sur la plateforme {alert.platform} depuis le {day}.",
        "stalled": f"{label} : aucun sondage depuis le {day}.",
    }[alert.kind]
