"""An applicant's dossier: one person's assisted attempts, for their référé « mesures utiles ».

The Conseil d'État orders an appointment when repeated attempts, not made within the same week,
failed (CE, 10 June 2020, n° 435594); anonymous screenshots of the no-slot page are admissible
(CE, 21 April 2021, n° 448178). The ZIP holds, for one person (an opaque id) and a period:

    note-couverture.html  the cover note, in French: the attempts, the criteria (at least three
                          different weeks, over at least three weeks) met or what is missing,
                          and the robot's figures for the same démarches and period as context
    tentatives.csv/.html  every read of every attempt, dated, with its URL and digests
    captures/*.png        each read's archived page, with URL, date and time in the banner
    archive/*.warc.gz     the attempts' WARC records, byte for byte
    enregistrements.csv   every record: id, kind, URL, SHA-256
    registre.csv          the reads' ledger entries
    SHA256SUMS            the SHA-256 of every file above

No name appears unless the person types one at export (``--name``): the dossier says "personne
p-…" otherwise. Captcha images, sounds and answers were never kept, so none is in it.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from guichets import __version__
from guichets.evidence.dossier import (
    _OUTCOMES_FR,
    CSV_COLUMNS,
    MIN_WEEKS,
    DossierError,
    _attempt_rows,
    _attempts_html,
    _csv,
    _in_probe_order,
    _ledger_rows,
    _page,
    _read_members,
    _record_rows,
    _screenshots,
    _with_sums,
    _write_zip,
    weeks_spanned,
)
from guichets.evidence.screenshot import Renderer
from guichets.evidence.verify import verify
from guichets.evidence.warc import warcinfo_record
from guichets.model import PARIS, PERSON_ID, Observation, Outcome
from guichets.periods import DateRange
from guichets.store import Store
from guichets.store.assisted import Attempt, attempts

__all__ = ["Context", "ContextRow", "Criteria", "PersonDossier", "build_person_dossier", "criteria"]

# The robot's figures for a démarche over the period, as the cover note prints them: service,
# probes, failure rate with its interval, barrier rate (computed by the caller, from the report).
ContextRow = tuple[str, int, str, str]
Context = Callable[[Sequence[str], DateRange], Sequence[ContextRow]]

MIN_SPAN_DAYS = 14  # first to last attempt: they then reach into a third week at least


@dataclass(frozen=True)
class Criteria:
    """The Conseil d'État's criteria, as checked on the attempts' dates (Paris)."""

    weeks: int  # different ISO weeks holding an attempt
    span_days: int  # days from the first attempt to the last
    no_slot: int  # reads that found no slot

    @property
    def enough_weeks(self) -> bool:
        return self.weeks >= MIN_WEEKS

    @property
    def long_enough(self) -> bool:
        return self.span_days >= MIN_SPAN_DAYS

    @property
    def met(self) -> bool:
        return self.enough_weeks and self.long_enough

    def missing(self) -> list[str]:
        found = []
        if not self.enough_weeks:
            found.append(
                f"des tentatives dans {MIN_WEEKS - self.weeks} semaine(s) de plus "
                f"({self.weeks} semaine(s) différente(s) sur les {MIN_WEEKS} attendues)"
            )
        if not self.long_enough:
            found.append(
                f"une tentative au moins {MIN_SPAN_DAYS - self.span_days} jour(s) plus tard "
                f"(les tentatives s'étendent sur {self.span_days} jour(s) ; il en faut "
                f"{MIN_SPAN_DAYS} entre la première et la dernière pour couvrir trois semaines)"
            )
        return found


def criteria(observations: Sequence[Observation]) -> Criteria:
    if not observations:
        return Criteria(0, 0, 0)
    days = [o.started_at.astimezone(PARIS).date() for o in observations]
    return Criteria(
        weeks_spanned(observations),
        (max(days) - min(days)).days,
        sum(1 for o in observations if o.outcome is Outcome.UNAVAILABLE),
    )


@dataclass
class PersonDossier:
    path: Path
    attempts: int
    reads: int
    screenshots: int
    records: int
    criteria: Criteria
    warnings: list[str] = field(default_factory=list)


def _context_table(rows: Sequence[ContextRow], services: Sequence[str]) -> str:
    """The robot's own figures for the same démarches and period: the context of the attempts."""
    found = {row[0]: row for row in rows}
    lines = []
    for service in services:
        row = found.get(service)
        if row is None:
            lines.append(f"<tr><td>{html.escape(service)}</td><td colspan=3>aucun sondage du "
                         "robot sur la période</td></tr>")  # fmt: skip
            continue
        _, probes, failure, barrier = row
        lines.append(
            f"<tr><td>{html.escape(service)}</td><td>{probes}</td>"
            f"<td>{html.escape(failure)}</td><td>{html.escape(barrier)}</td></tr>"
        )
    return (
        "<table><tr><th>Démarche</th><th>Sondages du robot</th><th>Part des sondages valides "
        "sans aucune date (IC 95 %)</th><th>Part des sondages bloqués (captcha, pare-feu…)</th>"
        f"</tr>{''.join(lines)}</table>"
    )


def _cover(
    person: str,
    name: str | None,
    days: DateRange,
    made: Sequence[Attempt],
    observations: Sequence[Observation],
    checked: Criteria,
    context: str,
    warnings: Sequence[str],
    simulated: bool,
) -> bytes:
    who = (
        f"{html.escape(name)} (identifiant anonyme <code>{html.escape(person)}</code>)"
        if name
        else f"la personne d'identifiant anonyme <code>{html.escape(person)}</code>"
    )
    rows = []
    for attempt in made:
        reads = [o for o in observations if o.extra.get("attempt") == attempt.attempt_id]
        found = "; ".join(_OUTCOMES_FR[o.outcome] for o in reads) or "aucune lecture"
        rows.append(
            f"<tr><td>{attempt.started_at.astimezone(PARIS):%d/%m/%Y %H:%M}</td>"
            f"<td>{html.escape(attempt.service)}</td><td><code>{html.escape(attempt.url)}</code>"
            f"</td><td>{attempt.answers} ({attempt.wrong_answers} refusée(s))</td>"
            f"<td>{html.escape(found)}</td><td><code>{attempt.attempt_id[:8]}</code></td></tr>"
        )
    verdict = (
        "<p><b>Les critères sont remplis</b> : des tentatives dans "
        f"{checked.weeks} semaines différentes, sur {checked.span_days} jours.</p>"
        if checked.met
        else "<p class=warn><b>Les critères ne sont pas encore remplis.</b> Il manque : "
        + " ; ".join(html.escape(m) for m in checked.missing())
        + ".</p>"
    )
    demo = (
        "<p class=warn><b>Données de démonstration</b> (simulateur de guichets, horloge "
        "simulée) : ce dossier montre la forme d'un dossier, il ne prouve rien sur une "
        "préfecture.</p>"
        if simulated
        else ""
    )
    warn = "".join(f"<p class=warn>{html.escape(w)}</p>" for w in warnings)
    body = f"""<h1>Tentatives de prise de rendez-vous en préfecture</h1>{demo}{warn}
<p>Ce dossier rassemble les tentatives faites par {who} du {days.first:%d/%m/%Y} au
{days.last:%d/%m/%Y} (heure de Paris), avec le logiciel libre guichets {html.escape(__version__)} :
à chaque tentative, la personne a elle-même lu et recopié le captcha du site ; guichets a suivi
le chemin d'une personne jusqu'à la page des créneaux, l'a lue et s'est arrêté sans rien
réserver ni saisir aucune donnée personnelle. Chaque page lue est archivée (WARC, empreintes
SHA-256, registre chaîné) et rendue en capture avec son adresse, sa date et son heure.</p>
<h2>Les critères du Conseil d'État</h2>
<p>Le juge des référés ordonne qu'un rendez-vous soit donné lorsque des tentatives répétées,
faites à des semaines différentes, ont échoué (CE, 10 juin 2020, n° 435594) ; des captures de la
page sans créneau sont recevables (CE, 21 avril 2021, n° 448178). Vérification sur ce dossier :</p>
<ul>
<li>tentatives dans au moins {MIN_WEEKS} semaines différentes : {checked.weeks} —
{"oui" if checked.enough_weeks else "non"} ;</li>
<li>sur au moins trois semaines (au moins {MIN_SPAN_DAYS} jours entre la première et la
dernière) : {checked.span_days} jour(s) — {"oui" if checked.long_enough else "non"} ;</li>
<li>lectures où le site ne proposait aucun créneau : {checked.no_slot} sur {len(observations)}.</li>
</ul>
{verdict}
<h2>Les tentatives</h2>
<table><tr><th>Début</th><th>Démarche</th><th>Adresse</th><th>Réponses au captcha</th>
<th>Ce que la page montrait</th><th>Tentative</th></tr>{"".join(rows)}</table>
<p>Le détail de chaque lecture (heure, adresse, empreintes, capture) est dans
<a href="tentatives.html">tentatives.html</a> ; les pages telles que reçues, dans archive/.</p>
<h2>Pour situer : les chiffres du robot sur les mêmes démarches et la même période</h2>
<p>Le robot de l'observatoire sonde ces démarches à des instants tirés au hasard ; derrière un
captcha, il ne peut que constater le blocage. Ses chiffres sont un autre échantillon, jamais
mêlé à ces tentatives.</p>
{context}
<h2>Vérifier</h2>
<p><code>sha256sum -c SHA256SUMS</code> vérifie chaque fichier ; les empreintes des
enregistrements (enregistrements.csv) et du registre (registre.csv) se vérifient contre
l'archive avec <code>guichets evidence verify</code>. Aucune image ni aucun son de captcha n'a
été conservé, ni aucune réponse.</p>
<p><small>Dossier produit le {datetime.now(PARIS):%d/%m/%Y à %H:%M} (heure de Paris).</small></p>
"""
    return _page("Tentatives assistées — note de couverture", body)


async def build_person_dossier(
    home: Path,
    store: Store,
    *,
    person: str,
    days: DateRange,
    out: Path,
    service: str | None = None,
    name: str | None = None,
    context: Context | None = None,
    renderer: Callable[[], Renderer] = Renderer,
) -> PersonDossier:
    """Write the dossier of ``person``'s assisted attempts over ``days`` to ``out`` (a ZIP)."""
    if not PERSON_ID.fullmatch(person):  # it names a ZIP member: no path, no markup
        raise DossierError(f"{person!r} is not a person id (p- and letters or digits)")
    observations = list(
        store.observations(
            service=service, since=days.start, until=days.end, assisted=True, person=person
        )
    )
    made = attempts(store, person=person, service=service, since=days.start, until=days.end)
    if not observations:
        raise DossierError(
            f"no assisted attempt of person {person!r} from {days.first} to {days.last}"
            + (f" on {service!r}" if service else "")
        )
    services = sorted({o.service for o in observations})
    for one in services:
        checked = verify(home, store, service=one)
        if not checked.intact:
            raise DossierError(
                f"the evidence of {one!r} does not verify ({len(checked.problems)} problems); "
                f"see `guichets evidence verify --service {one}`",
                checked,
            )
    ids = [o.probe_id for o in observations]
    entries = {e.probe_id: e for e in store.ledger(probe_ids=ids)}
    records = store.evidence_records(probe_ids=ids)
    files = [f for f in store.evidence_files() if f.name in {r.file for r in records}]
    simulated = any(f.clock == "simulated" for f in files)
    checked_criteria = criteria(observations)
    warnings: list[str] = []
    shots = await _screenshots(home, store, observations, renderer, warnings, "la lecture")
    rows = _attempt_rows(observations, entries, shots)
    ordered = _in_probe_order(records, ids)
    stamp = f"{days.first:%Y%m%d}-{days.last:%Y%m%d}"
    warc_name = f"{person}_{stamp}.warc.gz"
    info = warcinfo_record(
        warc_name,
        {
            "software": f"guichets {__version__}",
            "description": f"extract of the guichets archive: every record of the {len(ids)} "
            f"assisted reads of person {person} from {days.first} to {days.last}, byte for byte",
        },
        at=datetime.now(UTC),
    )
    title = f"personne {person}" + (f" — {', '.join(services)}" if services else "")
    contents: dict[str, bytes] = {
        "note-couverture.html": _cover(
            person,
            name,
            days,
            made,
            observations,
            checked_criteria,
            _context_table(context(services, days) if context else [], services),
            warnings,
            simulated,
        ),
        "tentatives.csv": _csv([CSV_COLUMNS, *rows]),
        "tentatives.html": _attempts_html(title, days, observations, rows, warnings),
        f"archive/{warc_name}": info.member + _read_members(home, ordered),
        "enregistrements.csv": _csv(_record_rows(ordered)),
        "registre.csv": _csv(_ledger_rows(entries.values())),
    }
    _write_zip(out, _with_sums(contents, shots))
    return PersonDossier(
        out, len(made), len(observations), len(shots), len(ordered), checked_criteria, warnings
    )
