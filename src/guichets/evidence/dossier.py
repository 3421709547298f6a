"""A court dossier for one service and period: a ZIP a lawyer can attach to a référé.

Judges ask for several attempts not made within the same week, over weeks, each showing the URL,
the date and the time (Conseil d'État, 10 June 2020, n°435594). The dossier holds, for one service
and a period of Paris dates:

    tentatives.csv        every attempt: date, hour, outcome, first slot, digests, screenshot
    tentatives.html       the same list, readable and printable
    captures/*.png        a screenshot of the archived page of each attempt (or of each
                          unavailable attempt), with URL, date and time in a banner
    archive/*.warc.gz     the attempts' WARC records, byte for byte as archived
    enregistrements.csv   every record: its id, kind, URL and SHA-256
    registre.csv          the attempts' ledger entries and the service's chain head
    note-methode.html     the method note, in French, in the spirit of NF Z67-147
    SHA256SUMS            the SHA-256 of every file above (``sha256sum -c SHA256SUMS``)

It is built only from evidence that verifies (``guichets evidence verify --service``), and written
to a temporary file first, so a failure never leaves half a dossier.
"""

from __future__ import annotations

import hashlib
import html
import io
import os
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from guichets import __version__
from guichets.evidence import layout
from guichets.evidence.screenshot import (
    Renderer,
    ScreenshotError,
    load_probe,
    read_row,
    screenshot_name,
)
from guichets.evidence.verify import Verification, verify
from guichets.evidence.warc import warcinfo_record
from guichets.model import PARIS, Observation, Outcome
from guichets.periods import DateRange
from guichets.store import EvidenceFile, EvidenceRecord, LedgerEntry, Store
from guichets.untrusted import csv_writer

__all__ = ["CSV_COLUMNS", "Dossier", "DossierError", "build_dossier", "weeks_spanned"]

CSV_COLUMNS = (
    "date",
    "heure",
    "instant_utc",
    "resultat",
    "detail",
    "premier_creneau",
    "categorie",
    "creneaux_vus",
    "url",
    "requetes",
    "sondage",
    "entree_registre",
    "empreinte_registre",
    "capture",
)
MIN_WEEKS = 3
_OUTCOMES_FR = {
    Outcome.AVAILABLE: "créneau disponible",
    Outcome.UNAVAILABLE: "aucun créneau",
    Outcome.BARRIER: "obstacle (blocage, captcha…)",
    Outcome.SITE_ERROR: "site en erreur",
    Outcome.UNRECOGNIZED: "page non reconnue",
}


class DossierError(Exception):
    """The dossier cannot be built; the message says why and what to do."""

    def __init__(self, message: str, verification: Verification | None = None) -> None:
        super().__init__(message)
        self.verification = verification


@dataclass
class Dossier:
    path: Path
    attempts: int
    screenshots: int
    records: int
    weeks: int
    warnings: list[str] = field(default_factory=list)


def weeks_spanned(observations: Sequence[Observation]) -> int:
    """How many different ISO weeks (Paris dates) the attempts fall in."""
    return len({o.started_at.astimezone(PARIS).isocalendar()[:2] for o in observations})


def _paris(at: datetime) -> datetime:
    return at.astimezone(PARIS)


def _csv(rows: Sequence[Sequence[object]]) -> bytes:
    out = io.StringIO()
    write = csv_writer(out, lineterminator="\r\n")  # text cells inert for spreadsheets (OWASP)
    for row in rows:
        write(["" if v is None else v for v in row])
    return out.getvalue().encode("utf-8")


def _attempt_row(o: Observation, entry: LedgerEntry | None, shot: str | None) -> list[object]:
    local = _paris(o.started_at)
    first = None if o.first_slot is None else _paris(o.first_slot).isoformat(timespec="minutes")
    return [
        f"{local:%Y-%m-%d}",
        f"{local:%H:%M:%S}",
        o.started_at.astimezone(UTC).isoformat(),
        str(o.outcome),
        o.detail,
        first,
        None if o.category is None else str(o.category),
        len(o.slots),
        o.url,
        o.requests,
        o.probe_id,
        None if entry is None else entry.seq,
        None if entry is None else entry.entry_sha256,
        shot,
    ]


def _read_members(home: Path, records: Sequence[EvidenceRecord]) -> bytes:
    """The records' gzip members, byte for byte, in the order given."""
    folder = layout.warc_dir(home)
    out = bytearray()
    handles: dict[str, io.BufferedReader] = {}
    try:
        for record in records:
            if record.position is None or record.size is None:
                continue
            handle = handles.get(record.file)
            if handle is None:
                handle = handles[record.file] = (folder / record.file).open("rb")
            handle.seek(record.position)
            out += handle.read(record.size)
    finally:
        for handle in handles.values():
            handle.close()
    return bytes(out)


def _page(title: str, body: str) -> bytes:
    return (
        "<!doctype html>\n<html lang=fr><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:'DejaVu Sans',sans-serif;font-size:13px;margin:2em;max-width:70em}"
        "table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 6px;"
        "vertical-align:top}th{background:#eee}.warn{background:#fff4c2;padding:.5em;"
        "border-left:4px solid #b00}code{font-size:12px}"
        f"</style></head><body>{body}</body></html>\n"
    ).encode()


def _attempts_html(
    service: str,
    days: DateRange,
    observations: Sequence[Observation],
    rows: Sequence[Sequence[object]],
    warnings: Sequence[str],
) -> bytes:
    counts = {o: sum(1 for x in observations if x.outcome is o) for o in Outcome}
    summary = ", ".join(f"{_OUTCOMES_FR[o]} : {n}" for o, n in counts.items() if n)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in CSV_COLUMNS[:10])
    lines = []
    for obs, row in zip(observations, rows, strict=True):
        cells = [html.escape("" if v is None else str(v)) for v in row[:10]]
        cells[3] = html.escape(_OUTCOMES_FR[obs.outcome])
        cells[8] = f"<code>{cells[8]}</code>"
        shot = row[-1]
        link = f' — <a href="captures/{shot}">capture</a>' if shot else ""
        trail = "<br>".join(
            html.escape(f"{s.at.astimezone(PARIS):%H:%M:%S} {s.method} {s.url} → {s.status}")
            for s in obs.trail
        )
        lines.append(
            "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
            f"<tr><td colspan=10><small>sondage <code>{obs.probe_id}</code>{link}<br>"
            f"{html.escape(obs.message)}<br>{trail}{_refused_html(obs)}</small></td></tr>"
        )
    warn = "".join(f"<p class=warn>{html.escape(w)}</p>" for w in warnings)
    body = (
        f"<h1>Tentatives de prise de rendez-vous — {html.escape(service)}</h1>"
        f"<p>Du {days.first:%d/%m/%Y} au {days.last:%d/%m/%Y} (dates et heures de Paris). "
        f"{len(observations)} tentatives ; {summary}. Voir la note de méthode "
        f'(<a href="note-methode.html">note-methode.html</a>).</p>{warn}'
        f"<table><tr>{head}</tr>{''.join(lines)}</table>"
    )
    return _page(f"Tentatives — {service}", body)


def _refused_html(observation: Observation) -> str:
    """An assisted read's requests that guichets refused to send (none for the robot's probes)."""
    count = observation.extra.get("refused_requests")
    if not count:
        return ""
    told = "<br>".join(
        html.escape(line) for line in observation.extra.get("refused", "").splitlines()
    )
    return (
        f"<br>Requêtes de la page refusées par guichets, jamais envoyées au site "
        f"({html.escape(count)}) :<br>{told}"
    )


def _method_note(
    service: str,
    days: DateRange,
    observations: Sequence[Observation],
    files: Sequence[EvidenceFile],
    robot_ips: Sequence[str],
    server_ips: Sequence[str],
    user_agents: Sequence[str],
    head: tuple[int, str] | None,
    warnings: Sequence[str],
    pruned: int,
    screenshots: str,
) -> bytes:
    clocks = sorted({f.clock for f in files})
    software = sorted({f.software for f in files})
    hosts = sorted({f.hostname for f in files})
    simulated = "simulated" in clocks
    first = observations[0]
    path = "".join(
        f"<li><code>{html.escape(s.method)} {html.escape(s.url)}</code> → "
        f"{s.status if s.status is not None else html.escape(s.note or 'sans réponse')}</li>"
        for s in first.trail
    )
    clock_text = {
        "system": "l'horloge système de la machine, en temps universel (UTC) ; sa "
        "synchronisation (NTP) relève de l'administration de la machine et n'est pas vérifiée "
        "par le logiciel",
        "simulated": "une horloge simulée : ce sont des données de démonstration, produites "
        "contre les sites simulés du logiciel ; elles ne décrivent aucune préfecture réelle",
    }
    demo = (
        "<p class=warn><b>Données de démonstration.</b> Ces tentatives ont été faites contre le "
        "simulateur de guichets (sites fictifs sur l'adresse de bouclage de la machine), sur une "
        "horloge simulée. Elles servent à montrer la forme d'un dossier, non à prouver quoi que ce "
        "soit sur une préfecture.</p>"
        if simulated
        else ""
    )
    warn = "".join(f"<p class=warn>{html.escape(w)}</p>" for w in warnings)
    chain = (
        f"entrée {head[0]}, empreinte <code>{head[1]}</code>" if head is not None else "inconnue"
    )
    items = [
        ("Objet", f"Tentatives automatiques d'accès à la prise de rendez-vous en ligne du service "
                  f"<b>{html.escape(service)}</b> (<code>{html.escape(first.url)}</code>), du "
                  f"{days.first:%d/%m/%Y} au {days.last:%d/%m/%Y} : {len(observations)} "
                  "tentatives, toutes celles enregistrées sur la période."),
        ("Logiciel", f"guichets {html.escape(__version__)}, logiciel libre (AGPL-3.0-or-later). "
                     "Versions ayant écrit l'archive : "
                     + "; ".join(html.escape(s) for s in software) + "."),
        ("Machine", "Nom de la machine : " + ", ".join(html.escape(h) for h in hosts) + "."),
        ("Adresse IP du robot", "Adresse(s) source de la machine vers le site, telles que la "
                                "machine les connaît : "
                                + (", ".join(robot_ips) or "non connue")
                                + ". Une traduction d'adresse (NAT) en amont, s'il y en a une, "
                                "n'est pas connue du logiciel. Adresse(s) IP du site jointes : "
                                + (", ".join(server_ips) or "non connue") + "."),
        ("Mandataire (proxy)", "Aucun : le client HTTP du robot ignore les variables "
                               "d'environnement de mandataire et se connecte directement à "
                               "l'adresse du site, inscrite dans chaque enregistrement WARC "
                               "(champ WARC-IP-Address)."),
        ("Session", "Une session neuve à chaque tentative : nouveaux cookies, aucun cache, "
                    "nouvelle connexion ; rien n'est conservé d'une tentative à l'autre."),
        ("Identification", "Le robot s'annonce par son User-Agent : "
                           + "; ".join(f"<code>{html.escape(u)}</code>" for u in user_agents)
                           + ". Il ne réserve jamais, ne résout aucun captcha et n'envoie aucune "
                           "donnée personnelle ; il respecte robots.txt et attend entre deux "
                           "requêtes à un même site."),
        ("Chemin suivi", "Le chemin d'une personne jusqu'à la page qui montre les "
                         "disponibilités, sans aller au-delà. Celui de la première tentative "
                         f"({_paris(first.started_at):%d/%m/%Y %H:%M:%S}) :<ol>{path}</ol>"
                         "Chaque tentative a le sien dans tentatives.html."),
        ("Horloge", "Les dates et heures sont celles de l'envoi de chaque requête, lues sur "
                    + "; ".join(clock_text.get(c, html.escape(c)) for c in clocks)
                    + ". Elles sont données en heure de Paris et en UTC."),
        ("Conservation et intégrité", "Chaque requête et chaque réponse sont archivées telles "
                                      "qu'envoyées et reçues, au format WARC (ISO 28500), avant "
                                      "d'enregistrer la tentative. Chaque enregistrement a son "
                                      "empreinte SHA-256 ; chaque tentative a une entrée dans "
                                      "un registre chaîné par service (chaque entrée contient "
                                      "l'empreinte de la précédente). Tête de la chaîne du "
                                      f"service au moment du dossier : {chain}."
                                      + (f" {pruned} enregistrements ont été effacés par la "
                                         "politique de conservation ; leurs empreintes restent."
                                         if pruned else "")),
        ("Captures d'écran", "Chaque capture est un rendu de la page archivée (et non une "
                             "nouvelle visite) par le navigateur Chromium sans JavaScript, "
                             "toute autre requête étant refusée : images et feuilles de style "
                             "non archivées n'apparaissent pas. Le bandeau indique l'URL, la "
                             "date et l'heure, le service, la tentative et l'empreinte de "
                             f"l'enregistrement. {screenshots}"),
        ("Vérifier", "<code>sha256sum -c SHA256SUMS</code> vérifie chaque fichier de ce dossier ; "
                     "les empreintes des enregistrements (enregistrements.csv) et les entrées du "
                     "registre (registre.csv) se vérifient contre l'archive du robot avec "
                     "<code>guichets evidence verify</code>."),
    ]  # fmt: skip
    rows = "".join(f"<tr><th>{name}</th><td>{text}</td></tr>" for name, text in items)
    body = (
        f"<h1>Note de méthode</h1>{demo}{warn}"
        "<p>Cette note décrit comment les tentatives de ce dossier ont été faites et conservées, "
        "dans l'esprit de la norme NF Z67-147 (mode opératoire de constat sur internet).</p>"
        f"<table>{rows}</table>"
        f"<p><small>Dossier produit le {datetime.now(PARIS):%d/%m/%Y à %H:%M} (heure de Paris) "
        f"par guichets {html.escape(__version__)}.</small></p>"
    )
    return _page(f"Note de méthode — {service}", body)


async def build_dossier(
    home: Path,
    store: Store,
    *,
    service: str,
    days: DateRange,
    out: Path,
    unavailable_only: bool = False,
    renderer: Callable[[], Renderer] = Renderer,
) -> Dossier:
    """Write the dossier of ``service`` over ``days`` to ``out`` (a ZIP)."""
    observations = list(
        store.observations(service=service, since=days.start, until=days.end, assisted=False)
    )
    if not observations:
        raise DossierError(
            f"no probe of {service!r} from {days.first} to {days.last}; `guichets report` lists "
            "the services and their probes"
        )
    checked = verify(home, store, service=service)
    if not checked.intact:
        raise DossierError(
            f"the evidence of {service!r} does not verify ({len(checked.problems)} problems): "
            "a dossier is made only of evidence that does; see `guichets evidence verify "
            f"--service {service}`",
            checked,
        )
    ids = [o.probe_id for o in observations]
    entries = {e.probe_id: e for e in store.ledger(probe_ids=ids)}
    records = store.evidence_records(probe_ids=ids)
    files = [f for f in store.evidence_files() if f.name in {r.file for r in records}]
    weeks = weeks_spanned(observations)
    warnings = []
    if weeks < MIN_WEEKS:
        warnings.append(
            f"Les tentatives couvrent {weeks} semaine(s) seulement : les juges demandent des "
            f"tentatives faites sur plusieurs semaines (au moins {MIN_WEEKS} semaines "
            "différentes, d'après les décisions publiées)."
        )
    wanted = [o for o in observations if not unavailable_only or o.outcome is Outcome.UNAVAILABLE]
    shots = await _screenshots(home, store, wanted, renderer, warnings, "la tentative")
    rows = _attempt_rows(observations, entries, shots)
    ordered = _in_probe_order(records, ids)
    members = _read_members(home, ordered)
    stamp = f"{days.first:%Y%m%d}-{days.last:%Y%m%d}"
    warc_name = f"{service}_{stamp}.warc.gz"
    info = warcinfo_record(
        warc_name,
        {
            "software": f"guichets {__version__}",
            "description": f"extract of the guichets archive: every record of the {len(ids)} "
            f"probes of {service} from {days.first} to {days.last}, byte for byte",
        },
        at=datetime.now(UTC),
    )
    robot_ips, server_ips, agents = _from_records(home, ordered)
    pruned = sum(1 for r in ordered if r.position is None)
    head = store.ledger_heads().get(service)
    shots_text = (
        "Une capture par tentative sans créneau (option --unavailable-only)."
        if unavailable_only
        else "Une capture par tentative."
    )
    record_rows = _record_rows(ordered)
    ledger_rows = _ledger_rows(entries.values())
    if head is not None:
        ledger_rows.append((service, head[0], "tete-de-chaine", "", "", "", head[1]))
    note = _method_note(
        service, days, observations, files, robot_ips, server_ips, agents, head, warnings, pruned,
        shots_text,
    )  # fmt: skip
    contents: dict[str, bytes] = {
        "tentatives.csv": _csv([CSV_COLUMNS, *rows]),
        "tentatives.html": _attempts_html(service, days, observations, rows, warnings),
        f"archive/{warc_name}": info.member + members,
        "enregistrements.csv": _csv(record_rows),
        "registre.csv": _csv(ledger_rows),
        "note-methode.html": note,
    }
    _write_zip(out, _with_sums(contents, shots))
    return Dossier(out, len(observations), len(shots), len(ordered), weeks, warnings)


async def _screenshots(
    home: Path,
    store: Store,
    observations: Sequence[Observation],
    renderer: Callable[[], Renderer],
    warnings: list[str],
    what: str,
) -> dict[str, tuple[str, bytes]]:
    """Each observation's archived page rendered with its banner, by probe id; a page that cannot
    be rendered is named in ``warnings`` (``what``: "la tentative", "la lecture")."""
    shots: dict[str, tuple[str, bytes]] = {}
    async with renderer() as browser:
        for obs in observations:
            try:
                png = await browser.render(load_probe(home, store, obs.probe_id))
            except ScreenshotError as exc:
                warnings.append(f"Pas de capture pour {what} {obs.probe_id} : {exc}")
                continue
            shots[obs.probe_id] = (screenshot_name(obs), png)
    return shots


def _attempt_rows(
    observations: Sequence[Observation],
    entries: Mapping[str, LedgerEntry],
    shots: Mapping[str, tuple[str, bytes]],
) -> list[list[object]]:
    return [
        _attempt_row(o, entries.get(o.probe_id), shots[o.probe_id][0] if o.probe_id in shots
                     else None)
        for o in observations
    ]  # fmt: skip


def _in_probe_order(records: Sequence[EvidenceRecord], ids: Sequence[str]) -> list[EvidenceRecord]:
    by_probe = {pid: i for i, pid in enumerate(ids)}
    return sorted(records, key=lambda r: (by_probe[r.probe_id or ""], r.ordinal))


def _record_rows(ordered: Sequence[EvidenceRecord]) -> list[Sequence[object]]:
    """enregistrements.csv: every record, with the day its body was pruned if it was."""
    rows: list[Sequence[object]] = [
        ("sondage", "ordre", "enregistrement", "type", "url", "statut_http", "sha256", "efface_le")
    ]
    rows += [
        (r.probe_id, r.ordinal, r.record_id, r.kind, r.uri, r.status, r.sha256,
         None if r.pruned_at is None else r.pruned_at.isoformat())
        for r in ordered
    ]  # fmt: skip
    return rows


def _ledger_rows(entries: Iterable[LedgerEntry]) -> list[Sequence[object]]:
    """registre.csv: the ledger entries, by service and position in its chain."""
    rows: list[Sequence[object]] = [
        ("service", "entree", "sondage", "enregistrements", "sha256_enregistrements",
         "sha256_sondage", "sha256_entree")
    ]  # fmt: skip
    rows += [
        (e.service, e.seq, e.probe_id, e.records, e.records_sha256, e.probe_sha256, e.entry_sha256)
        for e in sorted(entries, key=lambda e: (e.service, e.seq))
    ]
    return rows


def _with_sums(
    contents: dict[str, bytes], shots: Mapping[str, tuple[str, bytes]]
) -> dict[str, bytes]:
    """The dossier's files with its screenshots and, last, SHA256SUMS over all of them."""
    files = dict(contents)
    for name, png in shots.values():
        files[f"captures/{name}"] = png
    sums = (f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in files.items())
    files["SHA256SUMS"] = "".join(sums).encode()
    return files


def _from_records(
    home: Path, records: Sequence[EvidenceRecord]
) -> tuple[list[str], list[str], list[str]]:
    """The robot's addresses, the servers' and the User-Agents, read from the records."""
    robot: set[str] = set()
    server: set[str] = set()
    agents: set[str] = set()
    for row in records:
        if row.position is None or row.kind != "request":
            continue
        record = read_row(home, row)
        if ip := record.fields.get("Guichets-Robot-IP"):
            robot.add(ip)
        if ip := record.fields.get("WARC-IP-Address"):
            server.add(ip)
        if agent := record.header("User-Agent"):
            agents.add(agent)
    return sorted(robot), sorted(server), sorted(agents)


def _write_zip(out: Path, contents: dict[str, bytes]) -> None:
    """Write the ZIP beside ``out`` and rename it: never half a dossier, never a clobbered one
    before the new one is complete."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".part")
    with zipfile.ZipFile(partial, "w") as archive:
        for name, data in contents.items():
            stored = name.endswith((".png", ".gz"))
            archive.writestr(
                name, data, compress_type=zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            )
    with partial.open("rb") as handle:
        os.fsync(handle.fileno())
    partial.replace(out)
