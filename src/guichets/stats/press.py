"""The monthly press summary, in French: the figures an association puts in a press release.

It follows the register of the press releases of La Cimade's robot (2016-2017): a headline share
per service with what it means for people, the worst and the best services, what changed since the
previous month, and how it was measured. Every share carries its sample size and its 95 % interval,
and a share over few probes says so. The words are this project's own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from guichets import french
from guichets.departements import DEPARTEMENTS
from guichets.french import NBSP, day_fr
from guichets.french import WEEKDAYS as WEEKDAYS_FR
from guichets.model import Category, Outcome
from guichets.periods import DateRange
from guichets.stats.indicators import barrier_rate, downtime_rate, failure_rate, short_horizon_rate
from guichets.stats.releases import Release
from guichets.stats.report import ReportRow
from guichets.stats.wilson import FEW, Share
from guichets.tally import Tally
from guichets.untrusted import markdown_inline

__all__ = [
    "Change",
    "ChangeKind",
    "ServiceName",
    "change_text",
    "changes",
    "interval_text",
    "pct",
    "press_summary",
]

CLOSED = 0.95  # a failure rate from which a service is described as closed
SHIFT = 0.10  # a change of failure rate worth a line, when the intervals also do not overlap
MOVE_DAYS = 7.0  # a change of median lead time worth a line
TOP = 5  # services in the worst and best lists


@dataclass(frozen=True)
class ServiceName:
    """How people name a service: from the catalogue, when there is one."""

    label: str
    site: str | None = None
    procedure: str | None = None


class ChangeKind(StrEnum):
    CLOSED = "closed"
    REOPENED = "reopened"
    WORSE = "worse"
    BETTER = "better"
    WINDOW_MOVED = "window_moved"
    BLOCKED = "blocked"
    NEW = "new"
    GONE = "gone"


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    service: str
    now: ReportRow | None
    before: ReportRow | None


# -- French numbers and dates ----------------------------------------------------------------------


def pct(value: float) -> str:
    """46 %, 99,5 %, 0,4 %: one decimal only near the ends, a comma, a non-breaking space."""
    percent = value * 100
    text = f"{percent:.1f}" if 0 < percent < 1 or 99 < percent < 100 else f"{percent:.0f}"
    return text.replace(".", ",") + NBSP + "%"


def number(n: int) -> str:
    return f"{n:,}".replace(",", NBSP)


def interval_text(share: Share) -> str:
    """``(IC 95 % : 42 à 50 % ; 712 sondages)``, saying when the sample is small."""
    interval = share.interval
    if interval is None:
        return "(aucun sondage valide)"
    low, high = (pct(v).removesuffix(NBSP + "%") for v in interval)
    few = " ; peu de sondages, à lire avec prudence" if share.few else ""
    return f"(IC 95{NBSP}% : {low} à {high}{NBSP}% ; {number(share.total)} sondages{few})"


def of(words: str) -> str:
    """``de`` before ``words``, elided before a vowel: « d'octobre », « de mars »."""
    return ("d'" if words[:1].lower() in "aeiouéèêâîôûh" else "de ") + words


def month_fr(days: DateRange) -> str:
    """``octobre 2026``: the month ``days`` starts in."""
    return french.month_fr(days.first)


def _days(value: float) -> str:
    """40 jours, 1,5 jour, 7 heures."""
    if value >= 1.95:
        return f"{value:.0f}{NBSP}jours"
    if value >= 0.95:
        return f"{value:.1f}".replace(".", ",").removesuffix(",0") + f"{NBSP}jour"
    hours = value * 24
    return f"{hours:.0f}{NBSP}heures" if hours >= 1.5 else "moins de deux heures"


def _name(row: ReportRow, names: Mapping[str, ServiceName]) -> str:
    """The catalogue's label (untrusted), inert in Markdown."""
    named = names.get(row.key)
    return markdown_inline(named.label if named is not None else row.key)


def _where(row: ReportRow) -> str:
    code = row.departement or "?"
    return markdown_inline(f"{DEPARTEMENTS.get(code, code)} ({code})")


# -- sentences ------------------------------------------------------------------------------------


def headline(row: ReportRow) -> str:
    """What the month's probes of one service mean for a person trying to book."""
    t = row.tally
    failure = failure_rate(t)
    if failure.value is None:
        errors, barriers = downtime_rate(t), barrier_rate(t)
        if barriers.count >= errors.count and barriers.count:
            return (
                f"aucun sondage n'a pu lire le calendrier : sur {number(t.probes)} tentatives, "
                f"{pct(barriers.value or 0)} ont été refusées à notre robot"
            )
        return (
            f"aucun sondage n'a pu lire le calendrier : le site était en erreur pour "
            f"{pct(errors.value or 0)} des {number(t.probes)} tentatives"
        )
    if failure.count == failure.total and not failure.few:
        return (
            f"sur {number(failure.total)} tentatives, aucune n'a permis d'obtenir une "
            f"proposition de rendez-vous ({pct(1.0)} d'échec ; {interval_text(failure)[1:-1]}). "
            "Le système ne fonctionne simplement pas"
        )
    a_share = short_horizon_rate(t)
    if failure.count == 0 and (a_share.value or 0) >= 0.9:
        return (
            f"{pct(a_share.value or 0)} des sondages montrent au moins deux rendez-vous "
            f"disponibles au plus tard un mois après {interval_text(a_share)}"
        )
    return (
        f"{pct(failure.value)} des tentatives n'ont trouvé aucun rendez-vous disponible "
        f"{interval_text(failure)}"
    )


def details(row: ReportRow) -> str:
    """First date seen, median lead time, errors and barriers, when there is something to say."""
    parts: list[str] = []
    first = row.first_slot
    if first is not None:
        parts.append(f"première date vue : le {day_fr(first.date(), year=True)}")
    median = row.lead(0.5)
    if median is not None:
        if median.days is not None:
            parts.append(f"délai médian pour une première date : {_days(median.days)}")
        elif row.tally.found_a_date:
            parts.append(
                f"plus de la moitié des tentatives sans aucune date à "
                f"{median.beyond_days or 0:.0f}{NBSP}jours"
            )
    errors, barriers = downtime_rate(row.tally), barrier_rate(row.tally)
    if errors.count:
        parts.append(f"site en panne lors de {pct(errors.value or 0)} des tentatives")
    if barriers.count:
        parts.append(f"robot bloqué lors de {pct(barriers.value or 0)} des tentatives")
    return " ; ".join(parts)


def _release_text(release: Release) -> str:
    day, start, end = release.opens_at()
    when = f"chaque {WEEKDAYS_FR[day]}" if day is not None else "chaque jour"
    start, end = start.replace(":", f"{NBSP}h{NBSP}"), end.replace(":", f"{NBSP}h{NBSP}")
    mean = release.lasts_mean_minutes
    lasting = (
        f"disparaissent en {_minutes(mean)} en moyenne (au moins "
        if mean is not None
        else "disparaissent en "
    )
    bounds = (
        f"{_minutes(release.lasts_at_least_minutes)}, au plus "
        f"{_minutes(release.lasts_at_most_minutes)}"
    )
    close = ")" if mean is not None else ""
    return (
        f"les créneaux sont mis en ligne {when} entre {start} et {end}, et {lasting}"
        f"{bounds}{close} ; médianes sur {release.agreeing} lâchers observés"
    )


def _minutes(minutes: float) -> str:
    if minutes < 90:
        return f"{minutes:.0f}{NBSP}min"
    return f"{minutes / 60:.1f}".replace(".", ",") + f"{NBSP}h"


# -- changes since the previous month -------------------------------------------------------------


def _disjoint(a: Share, b: Share) -> bool:
    ia, ib = a.interval, b.interval
    return ia is not None and ib is not None and (ia[1] < ib[0] or ib[1] < ia[0])


def changes(now: Sequence[ReportRow], before: Sequence[ReportRow]) -> list[Change]:
    """What changed between two months of service rows, most serious first."""
    if not before:
        return []
    old = {r.key: r for r in before}
    new = {r.key: r for r in now}
    found: list[Change] = []
    for key in sorted(new.keys() - old.keys()):
        found.append(Change(ChangeKind.NEW, key, new[key], None))
    for key in sorted(old.keys() - new.keys()):
        found.append(Change(ChangeKind.GONE, key, None, old[key]))
    for key in sorted(new.keys() & old.keys()):
        a, b = old[key], new[key]
        fa, fb = failure_rate(a.tally), failure_rate(b.tally)
        if not fa.few and not fb.few and fa.value is not None and fb.value is not None:
            if _disjoint(fa, fb):
                if fb.value >= CLOSED > fa.value:
                    found.append(Change(ChangeKind.CLOSED, key, b, a))
                elif fa.value >= CLOSED > fb.value:
                    found.append(Change(ChangeKind.REOPENED, key, b, a))
                elif abs(fb.value - fa.value) >= SHIFT:
                    kind = ChangeKind.WORSE if fb.value > fa.value else ChangeKind.BETTER
                    found.append(Change(kind, key, b, a))
            la, lb = a.lead(0.5), b.lead(0.5)
            da = None if la is None else la.days
            db = None if lb is None else lb.days
            if da is not None and db is not None and abs(db - da) >= MOVE_DAYS:
                found.append(Change(ChangeKind.WINDOW_MOVED, key, b, a))
        ba, bb = barrier_rate(a.tally), barrier_rate(b.tally)
        if not bb.few and (bb.value or 0) >= 0.5 and (ba.value or 0) < 0.1 and _disjoint(ba, bb):
            found.append(Change(ChangeKind.BLOCKED, key, b, a))
    order = list(ChangeKind)
    return sorted(found, key=lambda c: (order.index(c.kind), c.service))


def change_text(change: Change, previous: str, names: Mapping[str, ServiceName]) -> str:
    """One change as a sentence in French (Markdown); ``previous`` names the earlier month."""
    row = change.now or change.before
    assert row is not None
    who = f"**{_where(row)} — {_name(row, names)}**"
    if change.kind is ChangeKind.NEW:
        return f"{who} : sondé pour la première fois ce mois-ci."
    if change.kind is ChangeKind.GONE:
        return f"{who} : n'a plus été sondé ce mois-ci."
    assert change.now is not None and change.before is not None
    now, before = change.now.tally, change.before.tally
    fn, fb = failure_rate(now).value or 0, failure_rate(before).value or 0
    if change.kind is ChangeKind.CLOSED:
        return (
            f"{who} : le guichet s'est fermé : {pct(fn)} d'échec, contre {pct(fb)} en {previous}."
        )
    if change.kind is ChangeKind.REOPENED:
        return (
            f"{who} : des rendez-vous sont de nouveau proposés : {pct(fn)} d'échec, contre "
            f"{pct(fb)} en {previous}."
        )
    if change.kind is ChangeKind.WORSE:
        return (
            f"{who} : la situation se dégrade : {pct(fn)} d'échec, contre {pct(fb)} en {previous}."
        )
    if change.kind is ChangeKind.BETTER:
        return f"{who} : amélioration sensible : {pct(fn)} d'échec, contre {pct(fb)} en {previous}."
    if change.kind is ChangeKind.WINDOW_MOVED:
        ln, lb = change.now.lead(0.5), change.before.lead(0.5)
        assert ln is not None and lb is not None and ln.days is not None and lb.days is not None
        way = "plus tôt" if ln.days < lb.days else "plus tard"
        return (
            f"{who} : les dates proposées se sont déplacées ({way}) : délai médian de "
            f"{_days(ln.days)}, contre {_days(lb.days)} en {previous}. La fenêtre de "
            "réservation semble avoir été décalée ; un tel changement peut n'être que "
            "temporaire."
        )
    bn, bb = barrier_rate(now).value or 0, barrier_rate(before).value or 0
    return (
        f"{who} : le site bloque désormais notre robot : {pct(bn)} des tentatives refusées, "
        f"contre {pct(bb)} en {previous}."
    )


# -- the whole text -------------------------------------------------------------------------------

METHOD = (
    "Chaque service (un guichet pour une démarche) est sondé une fois par heure, jour et nuit, à "
    "une minute tirée au hasard dans l'heure, par un robot qui suit le chemin d'une personne sur "
    "le site de la préfecture jusqu'à la page qui montre les disponibilités. Il ne réserve "
    "jamais, ne répond à aucun captcha et n'envoie aucune donnée personnelle. Une tentative est "
    "un échec quand le site dit lui-même qu'il n'y a plus de plage horaire libre, ou quand le "
    "calendrier lu jusqu'à son horizon n'en montre aucune ; une panne du site, un blocage du "
    "robot ou une page illisible sont comptés à part et jamais comme « pas de rendez-vous ». "
    "Chaque pourcentage est donné avec le nombre de sondages qui le fondent et son intervalle de "
    "confiance à 95 % (Wilson). Les tirages à minute aléatoire ont été comparés, sur un "
    "simulateur dont on connaît la vérité, à la part exacte du temps sans rendez-vous : voir "
    "docs/method.md."
)


def press_summary(
    now: Sequence[ReportRow],
    before: Sequence[ReportRow],
    releases: Sequence[Release],
    month: DateRange,
    names: Mapping[str, ServiceName],
) -> str:
    """The month's summary in Markdown, from service rows of the month and of the month before."""
    title = month_fr(month)
    previous = month_fr(DateRange(*_previous(month)))
    lines = [f"# Prise de rendez-vous en préfecture : les chiffres {of(title)}", ""]
    lines.append(
        f"*Observatoire guichets — données du {day_fr(month.first)} au "
        f"{day_fr(month.last, year=True)}.*"
    )
    lines.append("")
    if not now:
        lines += [f"Aucun sondage n'a été enregistré en {title}.", "", "## Méthode", "", METHOD, ""]
        return "\n".join(lines)
    total = Tally()
    for row in now:
        total += row.tally
    departements = {r.departement for r in now}
    failure = failure_rate(total)
    lines.append(
        f"En {title}, notre robot a sondé méthodiquement {number(len(now))} services "
        f"préfectoraux dans {number(len(departements))} départements : "
        f"{number(total.probes)} tentatives de prise de rendez-vous, dont "
        f"{number(total.valid)} ont pu lire l'état du calendrier. Dans l'ensemble, "
        f"{pct(failure.value or 0)} de ces tentatives n'ont trouvé aucun rendez-vous disponible "
        f"{interval_text(failure)}."
    )
    errors, barriers = downtime_rate(total), barrier_rate(total)
    if errors.count or barriers.count:
        lines.append(
            f"À cela s'ajoutent les pannes des sites ({pct(errors.value or 0)} des tentatives) "
            f"et les blocages de notre robot ({pct(barriers.value or 0)}), comptés à part."
        )
    lines.append("")
    measured = [r for r in now if r.valid]
    worst = sorted(
        (r for r in measured if (r.failure.value or 0) >= 0.5),
        key=lambda r: (-(r.failure.value or 0), -r.valid, r.key),
    )[:TOP]
    best = sorted(
        (r for r in measured if (r.failure.value or 0) < 0.5),
        key=lambda r: (r.failure.value or 0, -r.tally.categories[Category.A], r.key),
    )
    if worst:
        lines += ["## Là où l'on ne peut pas prendre rendez-vous", ""]
        lines += [f"- **{_where(r)} — {_name(r, names)}** : {headline(r)}." for r in worst]
        lines.append("")
    if best:
        lines += ["## Là où l'on obtient un rendez-vous", ""]
        lines += [f"- **{_where(r)} — {_name(r, names)}** : {headline(r)}." for r in best[:TOP]]
        lines.append("")
    lines += ["## Département par département", ""]
    for code in sorted(departements, key=lambda c: c or ""):
        rows = [r for r in now if r.departement == code]
        lines += [f"### {_where(rows[0])}", ""]
        for row in rows:
            extra = details(row)
            lines.append(
                f"- **{_name(row, names)}** : {headline(row)}"
                + (f". {extra[0].upper()}{extra[1:]}." if extra else ".")
            )
        lines.append("")
    lines += [f"## Ce qui a changé depuis {previous}", ""]
    if not before:
        lines.append(f"Aucun sondage en {previous} : pas de comparaison possible.")
    else:
        found = changes(now, before)
        if found:
            lines += [f"- {change_text(c, previous, names)}" for c in found]
        else:
            lines.append(f"Pas de changement marqué par rapport à {previous}.")
    lines.append("")
    by_service = {r.key: r for r in now}
    batches = [r for r in releases if r.service in by_service]
    if batches:
        lines += ["## Des rendez-vous mis en ligne par lots", ""]
        for release in batches:
            row = by_service[release.service]
            lines.append(f"- **{_where(row)} — {_name(row, names)}** : {_release_text(release)}.")
        lines += [
            "",
            (
                "Quand les créneaux partent en quelques minutes, une personne qui ne se "
                "connecte pas au bon moment n'en voit aucun."
            ),
            "",
        ]
    unreadable = sum(r.tally.outcomes[Outcome.UNRECOGNIZED] for r in now)
    lines += ["## Méthode", "", METHOD]
    if unreadable:
        lines.append(
            f"Ce mois-ci, {number(unreadable)} pages n'ont pas pu être lues par le robot ; "
            "elles sont conservées et exclues des pourcentages."
        )
    lines.append(f"Un pourcentage fondé sur moins de {FEW} sondages est signalé comme tel.")
    lines.append("")
    return "\n".join(lines)


def _previous(month: DateRange) -> tuple[date, date]:
    end = month.first.replace(day=1) - timedelta(days=1)
    return end.replace(day=1), end
