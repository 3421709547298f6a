"""What an alert says, in French: the service, the figures behind it, where to look.

Labels come from the catalogue and details from the sites: both are untrusted. Every piece of
text is cleaned here (control characters removed, length bounded); each channel then escapes for
its own format (JSON encoding, the e-mail's HTML part by Apprise, feeds by feedgen, pages by
Jinja2's autoescape). The message is plain text, never markup.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Final

from guichets import french
from guichets.alerts.rules import Event

if TYPE_CHECKING:
    from guichets.alerts.monitor import Digest
from guichets.departements import DEPARTEMENTS
from guichets.model import PARIS
from guichets.store.alerts import AlertRecord
from guichets.untrusted import clean_text

__all__ = [
    "CAUSES_FR",
    "Message",
    "Names",
    "clean",
    "day_fr",
    "describe",
    "digest_message",
    "instant_fr",
    "message",
]

LABEL_LIMIT: Final = 160
DIGEST_LINES: Final = 40  # alerts listed in a digest, per part; the rest counted

CAUSES_FR: Final = {
    "no_slot": "aucune date",
    "captcha": "captcha",
    "blocked": "robot bloqué",
    "rate_limited": "trop de requêtes",
    "robots": "interdit par robots.txt",
    "login": "connexion exigée",
    "site_error": "site en panne",
    "layout_changed": "page changée",
    "unreadable_grid": "grille illisible",
    "unexpected_page": "page inattendue",
    "unrecognized": "pages illisibles",
    "no_probe": "plus aucun sondage",
}

KINDS_FR: Final = {
    "closed": "Guichet fermé",
    "blind": "Robot aveugle",
    "layout_changed": "Pages changées sur une plateforme",
    "stalled": "Sondages arrêtés",
}


def clean(text: str | None, limit: int = LABEL_LIMIT) -> str:
    """One line of untrusted text: no control, bidi or invisible characters, spaces collapsed,
    bounded (the project's cleaning, :func:`guichets.untrusted.clean_text`); every other format
    character (soft hyphens, tag characters) goes too, as a message shows nothing unseen."""
    if not text:
        return ""
    return clean_text("".join(" " if unicodedata.category(c) == "Cf" else c for c in text), limit)


def day_fr(day: date) -> str:
    """``1er octobre 2026``."""
    return french.day_fr(day, year=True)


def instant_fr(at: datetime) -> str:
    local = at.astimezone(PARIS)
    return f"{day_fr(local.date())} à {local:%H} h {local:%M}"


def cause_fr(cause: str) -> str:
    return CAUSES_FR.get(cause, f"page illisible ({clean(cause, 40)})")


@dataclass(frozen=True)
class Names:
    """How to name services and where the public site is (for links)."""

    labels: Mapping[str, str]  # service id → label
    site_url: str | None = None  # the published site's address, e.g. https://guichets.example/

    def label(self, alert: AlertRecord) -> str:
        if alert.service is None:
            return f"plateforme {clean(alert.platform, 40)}"
        return clean(self.labels.get(alert.service) or alert.service)

    def service_link(self, service: str) -> str:
        path = f"services/{service}.html"
        return path if self.site_url is None else self.site_url.rstrip("/") + "/" + path


@dataclass(frozen=True)
class Message:
    """One notification: its title and plain-text body, and what it is about."""

    title: str
    body: str
    alert_id: str
    change: str
    kind: str
    cause: str
    service: str | None


def _place(alert: AlertRecord) -> str:
    code = alert.departement
    if not code:
        return ""
    return f"{DEPARTEMENTS.get(code, clean(code, 8))} ({clean(code, 8)})"


def _iso(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def describe(alert: AlertRecord, change: str) -> str:
    """The sentence of what happened, with its figures (also the feeds' entry text)."""
    f = alert.figures
    probes = int(f.get("probes", 0))
    hours = f.get("hours", 0)
    if alert.kind == "closed":
        if change == "closed":
            first = _iso(f.get("first_slot"))
            seen = f" (première date vue : {instant_fr(first)})" if first else ""
            return (
                f"Des dates sont de nouveau proposées depuis le {instant_fr(alert.ended_at)}"
                f"{seen}. Aucune date n'avait été trouvée du {instant_fr(alert.since)} au "
                f"{instant_fr(alert.last_seen)}."
            )
        others = int(f.get("not_measured", 0))
        last = _iso(f.get("last_available"))
        text = (
            f"Aucune date de rendez-vous sur les {probes} derniers sondages valides, "
            f"du {instant_fr(alert.since)} au {instant_fr(alert.opened_at)} ({hours_fr(hours)})."
        )
        if others:
            text += f" {others} sondages entre-temps n'ont rien mesuré (blocage, panne ou page "
            text += "illisible) : ils ne comptent ni pour ni contre."
        text += (
            f" Dernière date vue : le {instant_fr(last)}."
            if last
            else " Aucune date vue depuis le début du suivi."
        )
        return text
    if alert.kind == "blind":
        if change == "closed":
            return (
                f"Le robot lit de nouveau la page depuis le {instant_fr(alert.ended_at)} ; "
                f"il n'avait rien pu lire ({cause_fr(alert.cause)}) du "
                f"{instant_fr(alert.since)} au {instant_fr(alert.last_seen)}."
            )
        details = f.get("details", {})
        shown = ", ".join(
            f"{clean(str(k), 40)} × {int(v)}" for k, v in sorted(dict(details).items())
        )
        last_valid = _iso(f.get("last_valid"))
        text = (
            f"Les {probes} derniers sondages n'ont rien pu lire : {cause_fr(alert.cause)}"
            f" ({shown}), depuis le {instant_fr(alert.since)}."
            " Ce n'est pas une fermeture : on ne sait pas s'il y a des dates."
        )
        text += (
            f" Dernier sondage valide : le {instant_fr(last_valid)}."
            if last_valid
            else " Aucun sondage valide jusqu'ici."
        )
        return text
    if alert.kind == "layout_changed":
        if change == "closed":
            return (
                f"Le robot lit de nouveau les pages de la plateforme {clean(alert.platform, 40)} "
                f"depuis le {instant_fr(alert.ended_at)}."
            )
        return (
            f"Pages illisibles sur {int(f.get('services', 0))} services de la plateforme "
            f"{clean(alert.platform, 40)} depuis le {instant_fr(alert.since)} : le site a "
            "sans doute changé ; le lecteur du robot est à revoir."
        )
    last = _iso(f.get("last_probe")) or alert.since
    if change == "closed":
        return f"Les sondages ont repris le {instant_fr(alert.ended_at)}."
    cadence = int(f.get("cadence_seconds", 0))
    return (
        f"Aucun sondage enregistré depuis le {instant_fr(last)} "
        f"({hours_fr(f.get('hours_without_probe', 0))}, pour une cadence de "
        f"{_duration(cadence)}) : le robot ne tourne plus, ou plus pour ce service."
    )


def hours_fr(value: object) -> str:
    """``3``, ``27,5``: hours as the figures hold them, written the French way."""
    number = float(value) if isinstance(value, int | float | str) else 0.0
    text = f"{number:.0f}" if number == int(number) else f"{number:.1f}".replace(".", ",")
    return f"{text} heure" + ("s" if number >= 2 else "")


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min"


def title_of(alert: AlertRecord, change: str, names: Names) -> str:
    label = names.label(alert)
    if change == "closed":
        ended = {
            "closed": "Guichet rouvert",
            "blind": "Le robot lit de nouveau",
            "layout_changed": "Pages lues de nouveau",
            "stalled": "Sondages repris",
        }[alert.kind]
        return f"{ended} : {label}"
    head = KINDS_FR[alert.kind]
    if alert.kind == "blind":
        head += f" ({cause_fr(alert.cause)})"
    return f"{head} : {label}"


def message(event: Event, names: Names) -> Message:
    """The notification of ``event``, in French."""
    alert = event.alert
    lines = [describe(alert, event.change), ""]
    if alert.service is not None:
        lines.append(f"Service : {clean(alert.service, 120)} — {names.label(alert)}")
        place = _place(alert)
        if place:
            lines.append(f"Département : {place}")
        lines.append(f"Page du service : {names.service_link(clean(alert.service, 120))}")
    if alert.kind == "layout_changed":
        for sample in alert.figures.get("samples", []):
            sample_id = clean(str(sample.get("probe_id", "")), 64)
            lines.append(
                f"Exemple : {clean(str(sample.get('service', '')), 120)} "
                f"({clean(str(sample.get('detail', '')), 40)}) — page archivée : "
                f"guichets evidence screenshot {sample_id}"
            )
    probe = event.probe.probe_id if event.probe is not None else None
    if probe is None and alert.opened_by:
        probe = alert.opened_by[-1]
    if probe is not None and alert.kind != "layout_changed":
        lines.append(f"Page archivée : sondage {probe} (guichets evidence screenshot {probe})")
    lines.append(
        f"Alerte {alert.kind} · cause {clean(alert.cause, 40)} · "
        f"{'ouverte' if event.change == 'opened' else 'close'} · id {alert.id}"
    )
    return Message(
        title=title_of(alert, event.change, names),
        body="\n".join(lines),
        alert_id=alert.id,
        change=event.change,
        kind=alert.kind,
        cause=alert.cause,
        service=alert.service,
    )


def _listed(lines: list[str]) -> list[str]:
    shown = [f"- {line}" for line in lines[:DIGEST_LINES]]
    if len(lines) > DIGEST_LINES:
        shown.append(f"- … et {len(lines) - DIGEST_LINES} autres")
    return shown


def digest_message(digest: Digest, names: Names) -> Message:
    """The optional daily digest: the alerts open now, and what opened or closed since the last
    digest, each in one line (``guichets alerts list`` has the figures)."""
    opened = sum(1 for e in digest.events if e.change == "opened")
    closed = len(digest.events) - opened
    day = day_fr(digest.at.astimezone(PARIS).date())
    lines = [
        f"{len(digest.open)} alertes en cours ; depuis le {instant_fr(digest.since)}, "
        f"{opened} ouvertes et {closed} closes.",
    ]
    if digest.open:
        lines += ["", "En cours :"]
        lines += _listed(
            [f"{title_of(a, 'opened', names)} ({clean(a.subject, 120)}), depuis le "
             f"{instant_fr(a.since)}" for a in digest.open]
        )  # fmt: skip
    if digest.events:
        lines += ["", "Depuis le dernier résumé :"]
        lines += _listed(
            [f"{instant_fr(e.alert.ended_at if e.change == 'closed' else e.alert.opened_at)} — "
             f"{title_of(e.alert, e.change, names)}" for e in digest.events]
        )  # fmt: skip
    lines += ["", "Le détail : guichets alerts list --open"]
    return Message(
        title=f"Résumé des alertes du {day}",
        body="\n".join(lines),
        alert_id=f"digest-{digest.at.astimezone(PARIS):%Y-%m-%d}",
        change="digest",
        kind="digest",
        cause="",
        service=None,
    )
