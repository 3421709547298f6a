"""The site's words in French (first) and English, and how each language writes numbers and dates.

One table of messages rather than gettext catalogues: two languages, a few hundred words, and a
test that every key has both. French formatting reuses the press summary's (``stats/press.py``), so
that the site and the press release print the same figure the same way.
"""

from __future__ import annotations

import functools
from datetime import date, datetime
from types import SimpleNamespace
from typing import Final

from markupsafe import Markup, escape

from guichets.french import MONTHS as MONTHS_FR
from guichets.french import NBSP, day_fr
from guichets.model import PARIS
from guichets.stats.press import number, pct
from guichets.stats.wilson import Share

__all__ = [
    "LANGS",
    "MESSAGES",
    "Lang",
    "fmt_day",
    "fmt_instant",
    "fmt_int",
    "fmt_interval",
    "fmt_month",
    "fmt_pct",
    "message",
    "words",
]

Lang = str  # "fr" or "en"
LANGS: Final = ("fr", "en")
MONTHS_EN: Final = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

MESSAGES: Final[dict[str, tuple[str, str]]] = {
    # -- frame ---
    "site_name": ("Guichets fermés ?", "Closed counters?"),
    "site_tagline": (
        "Observatoire de l'accès aux guichets des préfectures par la prise de rendez-vous en ligne",
        "Observatory of access to prefecture counters through online booking",
    ),
    "skip": ("Aller au contenu", "Skip to content"),
    "nav": ("Navigation principale", "Main navigation"),
    "nav_home": ("Carte", "Map"),
    "nav_method": ("Méthode", "Method"),
    "nav_robot": ("Le robot", "The robot"),
    "nav_data": ("Données ouvertes", "Open data"),
    "nav_archive": ("Archives", "Archive"),
    # -- alerts, feeds and the monthly archive (docs/alerts.md, docs/site.md) ---
    "alerts_title": ("Alertes", "Alerts"),
    "alerts_intro": (
        "Les épisodes relevés par le robot : guichet fermé (aucune date sur plusieurs sondages "
        "valides pendant au moins une journée), robot aveugle (il ne pouvait pas lire la page : "
        "ce n'est pas une fermeture), sondages arrêtés.",
        "The episodes the robot found: counter closed (no date over several valid probes for at "
        "least a day), robot blind (it could not read the page: not a closure), probes stopped.",
    ),
    "no_alerts": ("Aucune alerte pour ce service.", "No alert for this service."),
    "feed_link": ("S'abonner au flux Atom", "Subscribe to the Atom feed"),
    "feed_title": ("Flux des alertes et des bilans mensuels", "Feed of alerts and monthly reports"),
    "feed_subtitle": (
        "Alertes (guichets fermés, rouverts, robot aveugle) et bilans mensuels de l'observatoire",
        "Alerts (counters closed, reopened, robot blind) and the observatory's monthly reports",
    ),
    "archive_title": ("Archives mensuelles", "Monthly archive"),
    "archive_intro": (
        "Chaque mois clos garde sa page : chiffres, carte et communiqué tels qu'ils ont été "
        "publiés à la clôture du mois. Ces pages ne sont plus jamais réécrites, sauf si la "
        "version de la méthode change, et elles le disent alors.",
        "Each closed month keeps its page: figures, map and press summary as published when the "
        "month closed. These pages are never rewritten, unless the method version changes, and "
        "they then say so.",
    ),
    "archive_link": ("Voir les mois précédents (archives)", "See previous months (archive)"),
    "archive_none": ("Aucun mois n'est encore clos.", "No month is closed yet."),
    "archive_frozen": (
        "Page figée à la clôture du mois, le",
        "Page frozen when the month closed, on",
    ),
    "archive_recomputed": (
        "Recalculée selon la méthode version",
        "Recomputed under method version",
    ),
    "archive_was": ("publiée d'abord selon la version", "first published under version"),
    "other_lang": ("English", "Français"),
    "other_lang_name": ("Read this page in English", "Lire cette page en français"),
    "footer_method": ("Méthode version", "Method version"),
    "footer_last": ("chiffres arrêtés au dernier sondage, le", "figures up to the last probe, on"),
    "footer_licence": (
        "Données sous Licence Ouverte 2.0 ; code sous licence AGPL-3.0.",
        "Data under the Licence Ouverte 2.0; code under the AGPL-3.0.",
    ),
    "breadcrumb": ("Fil d'Ariane", "Breadcrumb"),
    # -- home ---
    "home_title": (
        "Peut-on obtenir un rendez-vous en préfecture ?",
        "Can one get an appointment at the prefecture?",
    ),
    "home_intro": (
        "Un robot suit, plusieurs fois par jour, le chemin d'une personne étrangère sur le site de "
        "réservation de chaque préfecture suivie, jusqu'à la page qui montre les rendez-vous "
        "disponibles. Il ne réserve jamais. Cette page dit, département par département, à quelle "
        "fréquence il n'a trouvé aucune date.",
        "Several times a day, a robot walks a foreign person's path on the booking site of each "
        "prefecture followed, up to the page that shows available appointments. It never books. "
        "This page tells, département by département, how often it found no date at all.",
    ),
    "no_data_yet": (
        "Aucun sondage n'est encore enregistré.",
        "No probe is stored yet.",
    ),
    "latest_month": ("Mois le plus récent", "Latest month"),
    "month_so_far": ("en cours, jusqu'au", "so far, up to"),
    "month_probed_until": ("sondages jusqu'au", "probed up to"),
    "headline_failure": (
        "des tentatives n'ont trouvé aucune date de rendez-vous",
        "of attempts found no appointment date at all",
    ),
    "headline_services": ("services suivis", "services followed"),
    "headline_departements": ("départements", "départements"),
    "headline_valid": ("sondages valides", "valid probes"),
    "headline_downtime": ("des sondages : site en panne", "of probes: site down"),
    "headline_barrier": (
        "des sondages : robot bloqué (captcha, blocage…)",
        "of probes: robot blocked (captcha, block…)",
    ),
    "interval": ("intervalle de confiance à 95 %", "95% confidence interval"),
    "map_title": ("Carte des échecs par département", "Map of failures by département"),
    "map_desc": (
        "Part des tentatives sans aucune date de rendez-vous, par département, pour le mois le "
        "plus récent. Le tableau qui suit donne les mêmes chiffres.",
        "Share of attempts with no appointment date at all, by département, for the latest month. "
        "The table below gives the same figures.",
    ),
    "legend": ("Légende", "Legend"),
    "map_table_caption": (
        "Échecs par département, mois le plus récent",
        "Failures by département, latest month",
    ),
    "press_title": ("Le mois en bref (communiqué)", "The month in brief (press summary)"),
    "press_in_french": (
        "Ce résumé est rédigé en français, pour la presse française.",
        "This summary is written in French, for the French press.",
    ),
    "press_open": (
        "Lire le communiqué du mois (chiffres, services les plus fermés, changements)",
        "Read the month's press summary (figures, most closed services, changes)",
    ),
    "last_probe": ("Dernier sondage", "Last probe"),
    # -- tables ---
    "col_departement": ("Département", "Département"),
    "col_service": ("Service", "Service"),
    "col_site": ("Lieu", "Site"),
    "col_procedure": ("Démarche", "Procedure"),
    "col_platform": ("Plateforme", "Platform"),
    "col_failure": ("Échecs", "Failures"),
    "col_interval": ("IC 95 %", "95% CI"),
    "col_valid": ("Sondages valides", "Valid probes"),
    "col_probes": ("Sondages", "Probes"),
    "col_trend": ("Tendance", "Trend"),
    "col_month": ("Mois", "Month"),
    "col_first_slot": ("Première date vue", "First date seen"),
    "col_median_lead": ("Délai médian", "Median lead time"),
    "col_p90_lead": ("Délai P90", "P90 lead time"),
    "col_downtime": ("Site en panne", "Site down"),
    "col_barrier": ("Robot bloqué", "Robot blocked"),
    "col_unrecognized": ("Page illisible", "Unreadable page"),
    "col_time": ("Heure (Paris)", "Time (Paris)"),
    "col_outcome": ("Résultat", "Outcome"),
    "col_screenshot": ("Capture", "Screenshot"),
    "col_closed_days": ("Plus longue série de jours fermés", "Longest run of closed days"),
    "col_blind_days": (
        "Plus longue série de jours sans lecture (robot aveugle)",
        "Longest run of unreadable days (robot blind)",
    ),
    "no_valid": ("aucun sondage valide", "no valid probe"),
    "few_probes": ("peu de sondages, à lire avec prudence", "few probes, read with care"),
    "days": ("jours", "days"),
    "beyond": ("au-delà de", "beyond"),
    "see_screenshot": ("voir la capture", "see the screenshot"),
    "no_screenshot": ("pas de capture", "no screenshot"),
    # -- département and service pages ---
    "departement_title": ("Département", "Département"),
    "services_title": ("Services suivis", "Services followed"),
    "categories_title": (
        "Ce que les tentatives ont trouvé, mois par mois",
        "What attempts found, month by month",
    ),
    "categories_desc": (
        "Pour chaque mois, la part des sondages valides dans chaque catégorie, de A (au moins deux "
        "dates dans le mois) à E (aucune date) ; à part, la part des sondages qui n'ont rien "
        "mesuré (site en panne, robot bloqué, page illisible).",
        "For each month, the share of valid probes in each category, from A (at least two dates "
        "within a month) to E (no date at all); apart, the share of probes that measured nothing "
        "(site down, robot blocked, unreadable page).",
    ),
    "rate_title": ("Part des échecs au fil du temps", "Failure rate over time"),
    "assisted_title": (
        "Tentatives assistées (à part des chiffres du robot)",
        "Assisted attempts (apart from the robot's figures)",
    ),
    "assisted_sampling": (
        "Derrière le captcha, des personnes ont répondu elles-mêmes et guichets a lu la page des "
        "créneaux avec le lecteur du robot. Ces lectures ne sont pas un échantillon aléatoire : "
        "elles ont lieu quand une personne est là, à l'heure qu'elle choisit. Leur part d'échecs "
        "dit ce qu'ont vu ces personnes, pas la part du temps sans rendez-vous ; elle n'est "
        "jamais mêlée aux chiffres du robot.",
        "Behind the captcha, people answered it themselves and guichets read the slot page with "
        "the robot's reader. These reads are not a random sample: they happen when a person is "
        "there, at the time they choose. Their failure rate says what these people saw, not the "
        "share of time without a slot; it is never mixed into the robot's figures.",
    ),
    "col_assisted_probes": ("Lectures assistées", "Assisted reads"),
    "col_assisted_valid": ("dont valides", "of which valid"),
    "col_assisted_rate": ("Part sans date (IC 95 %)", "Share with no date (95% CI)"),
    "rate_desc": (
        "Part des tentatives sans aucune date, par mois, avec son intervalle de confiance à 95 %.",
        "Share of attempts with no date at all, by month, with its 95% confidence interval.",
    ),
    "first_dates_title": ("Premières dates proposées", "First dates offered"),
    "not_measured_title": (
        "Pannes et blocages (comptés à part, jamais comme « pas de rendez-vous »)",
        "Downtime and barriers (counted apart, never as “no slot”)",
    ),
    "changes_title": ("Ce qui a changé", "What changed"),
    "no_changes": (
        "Pas de changement marqué par rapport au mois précédent.",
        "No marked change from the previous month.",
    ),
    "changes_in_french": ("(en français)", "(in French)"),
    "categories_table_caption": ("Catégories par mois", "Categories by month"),
    "category_legend": (
        "A : au moins deux dates dans le mois ; B : une seule date dans le mois ; C : première "
        "date entre un et deux mois ; D : première date au-delà de deux mois ; E : aucune date.",
        "A: at least two dates within a month; B: a single date within a month; C: first date "
        "between one and two months; D: first date beyond two months; E: no date at all.",
    ),
    "latest_probes_title": ("Derniers sondages", "Latest probes"),
    "no_recent_probes": ("Aucun sondage récent.", "No recent probe."),
    "vantage_note": (
        "Ce mois-ci, bloqué depuis {blocked}, lu depuis {read} : le robot était bloqué à "
        "certains endroits, le site répondait.",
        "This month, blocked from {blocked}, read from {read}: the robot was blocked in some "
        "places while the site answered.",
    ),
    "dossier_title": ("Constituer un dossier", "Build a dossier"),
    "dossier_text": (
        "Les opérateurs de l'observatoire peuvent produire, pour un avocat ou une association, le "
        "dossier de ce service (liste des tentatives, captures, archive WARC, empreintes) :",
        "The observatory's operators can produce, for a lawyer or an association, this service's "
        "dossier (list of attempts, screenshots, WARC archive, digests):",
    ),
    "booking_page": ("Page de réservation sondée", "Booking page probed"),
    "booking_page_note": (
        "(adresse donnée à titre d'information ; le robot n'y réserve jamais)",
        "(address given for information; the robot never books there)",
    ),
    # -- outcomes ---
    "outcome_available": ("des dates libres", "dates available"),
    "outcome_unavailable": ("aucune date", "no date"),
    "outcome_barrier": ("robot bloqué", "robot blocked"),
    "outcome_site_error": ("site en panne", "site down"),
    "outcome_unrecognized": ("page illisible", "unreadable page"),
    # -- method, robot, data ---
    "method_title": ("Méthode", "Method"),
    "robot_title": ("Le robot", "The robot"),
    "data_title": ("Données ouvertes", "Open data"),
    "data_intro": (
        "Chaque sondage, mois par mois en CSV compressé (gzip) et en Parquet (le mois en cours "
        "aussi en CSV), et les chiffres mensuels en CSV et en JSON, avec leur dictionnaire des "
        "données (datapackage.json, au format Table Schema de Frictionless). Licence Ouverte 2.0. "
        "Les fichiers sont rangés par version de la méthode : des chiffres calculés selon des "
        "règles différentes ne sont jamais mélangés.",
        "Every probe, month by month as gzip-compressed CSV and Parquet (the current month also as "
        "CSV), and the monthly figures as CSV and JSON, with their data dictionary "
        "(datapackage.json, in the Frictionless Table Schema form). Licence Ouverte 2.0. Files "
        "are kept by method version: figures computed under different rules are never mixed.",
    ),
    "data_file": ("Fichier", "File"),
    "data_rows": ("Lignes", "Rows"),
    "data_size": ("Taille", "Size"),
    "data_dictionary": ("Dictionnaire des données", "Data dictionary"),
}


def message(key: str, lang: Lang) -> str:
    """The text of ``key`` in ``lang``; an unknown key is a bug, so it raises."""
    fr, en = MESSAGES[key]
    return fr if lang == "fr" else en


@functools.cache
def words(lang: Lang) -> SimpleNamespace:
    """Every message of ``lang`` as an attribute, escaped once: what the templates call ``t``
    (``{{ t.nav_home }}``). A page prints some sixty messages and a rebuild renders hundreds of
    pages: a function called from a template goes through Jinja's checks of what it is called
    with, then its text is escaped, each time, and that was a third of rendering a template.
    A key not in :data:`MESSAGES` is undefined, which the site's ``StrictUndefined`` refuses."""
    return SimpleNamespace(**{key: Markup(escape(message(key, lang))) for key in MESSAGES})


def fmt_pct(value: float | None, lang: Lang) -> str:
    """62 %, 99,5 % in French; 62%, 99.5% in English; an en dash when there is no value."""
    if value is None:
        return "–"
    if lang == "fr":
        return pct(value)
    percent = value * 100
    text = f"{percent:.1f}" if 0 < percent < 1 or 99 < percent < 100 else f"{percent:.0f}"
    return text + "%"


def fmt_interval(share: Share, lang: Lang) -> str:
    """``55–68 %``: the 95 % Wilson interval of a share, or an en dash."""
    interval = share.interval
    if interval is None:
        return "–"
    low, high = (fmt_pct(v, lang) for v in interval)
    suffix = NBSP + "%" if lang == "fr" else "%"
    return f"{low.removesuffix(suffix)}–{high}"


def fmt_int(n: int, lang: Lang) -> str:
    return number(n) if lang == "fr" else f"{n:,}"


def fmt_month(day: date, lang: Lang, *, short: bool = False) -> str:
    """``octobre 2026`` / ``October 2026``; short: ``oct. 2026`` / ``Oct 2026``."""
    name = MONTHS_FR[day.month - 1] if lang == "fr" else MONTHS_EN[day.month - 1]
    if short and len(name) > 4:
        name = name[:3] + ("." if lang == "fr" else "")
        if lang == "fr" and day.month == 6:
            name = "juin"
        if lang == "fr" and day.month == 7:
            name = "juil."
    return f"{name} {day.year}"


def fmt_day(day: date, lang: Lang) -> str:
    """``1er octobre 2026`` / ``1 October 2026``."""
    if lang == "fr":
        return day_fr(day, year=True)
    return f"{day.day} {MONTHS_EN[day.month - 1]} {day.year}"


def fmt_instant(at: datetime, lang: Lang) -> str:
    """A moment in Paris time: ``3 octobre 2026 à 14 h 05`` / ``3 October 2026, 14:05``."""
    local = at.astimezone(PARIS)
    # The hour and minute as numbers rather than through strftime: a rebuild formats some
    # 5,000 instants (every page's latest probes), and strftime was half of each.
    day = fmt_day(local, lang)  # a datetime is a date: only its day, month and year are read
    if lang == "fr":
        return f"{day} à {local.hour:02d} h {local.minute:02d}"
    return f"{day}, {local.hour:02d}:{local.minute:02d}"
