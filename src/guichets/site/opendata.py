"""The site's open data: every probe, month by month, and the monthly figures, described by a
Frictionless Data Package (``datapackage.json``) so that anyone can check the files and read them.

The observation files are exactly what ``guichets export observations --month M`` writes, by the
same code (``store/export.py``), so that the site never publishes a second version of the data.
They are the bulk of a build: a manifest (``.manifest.json``) records what each month's files
hold (how many probes, the last one), and a rebuild rewrites only the months whose probes changed;
a month that only gained recent probes (the current month, after a run) keeps the start of its
files and only its last hour is written again. Every file is written aside and renamed into place:
a reader, or an interrupted build, never sees half a file.

The monthly figures are ``guichets report``'s own CSV and JSON (``stats/render.py``), with the
method's version and the row's key in front: (level, key, period) is their primary key.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import guichets
from guichets.files import partial_path
from guichets.french import MONTHS as MONTHS_FR
from guichets.model import Category, Outcome
from guichets.periods import DateRange, month_range
from guichets.stats.method import METHOD_VERSION
from guichets.stats.render import rows_csv, rows_json
from guichets.stats.report import Level, ReportRow
from guichets.store import Store
from guichets.store.export import (
    EXPORT_COLUMNS,
    Position,
    csv_writer,
    export_count,
    export_extent,
    export_rows,
    jsonl_writer,
    write_rows,
)
from guichets.untrusted import csv_writer as cell_writer

__all__ = ["OpenData", "Resource", "write_open_data"]

MANIFEST: Final = ".manifest.json"
PACKAGE: Final = "datapackage.json"
OBSERVATIONS: Final = "observations"
FIGURES: Final = "chiffres-mensuels"
LICENSE: Final = {
    "name": "etalab-2.0",
    "path": "https://www.etalab.gouv.fr/licence-ouverte-open-licence",
    "title": "Licence Ouverte / Open Licence version 2.0",
}
# What the manifest's entries depend on besides the probes: another layout, another version of
# the code (which may print a column differently) and every month is written again.
_LAYOUT: Final = {
    "format": 1,
    "guichets": guichets.__version__,
    "columns": list(EXPORT_COLUMNS),
}
_MONTH_FILE: Final = re.compile(r"observations-(\d{4}-\d{2})\.(csv|jsonl)")
_CHUNK: Final = 1 << 20
# Probes are saved when they end, and a robot with several workers saves them out of order, but
# none ends this long after it started: what started earlier than that before a month's newest
# probe is settled, and kept by the next build (see _month).
SETTLE: Final = timedelta(hours=1)
_MONTHS: Final = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip


@dataclass(frozen=True)
class Resource:
    """One published file, as the data page lists it."""

    path: str  # relative to the folder, e.g. "observations/observations-2026-10.csv"
    title: str  # French title, e.g. "Sondages d'octobre 2026 (CSV)"
    title_en: str
    rows: int
    bytes: int
    format: str  # "csv" | "jsonl" | "json"


@dataclass(frozen=True)
class OpenData:
    folder: Path
    resources: tuple[Resource, ...]
    rewritten: int  # files of ``resources`` written this time; the rest were up to date


# -- files written aside ----------------------------------------------------------------------


class _Aside:
    """A file written under a hidden name and renamed into place by :meth:`commit`; its size and
    SHA-256 are counted as it is written (the package publishes them)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = partial_path(path)
        self._file = self.partial.open("wb")
        self._hash = hashlib.sha256()
        self._parts: list[str] = []
        self._pending = 0
        self.bytes = 0

    def write(self, text: str) -> int:
        # Rows arrive a line at a time: encoding and hashing them by the megabyte is cheaper.
        self._parts.append(text)
        self._pending += len(text)
        if self._pending >= _CHUNK:
            self._flush()
        return len(text)

    def _flush(self) -> None:
        if self._parts:
            self._put("".join(self._parts).encode("utf-8"))
            self._parts, self._pending = [], 0

    def _put(self, data: bytes) -> None:
        self._hash.update(data)
        self._file.write(data)
        self.bytes += len(data)

    def copy(self, source: Path, size: int) -> str:
        """Start with the first ``size`` bytes of ``source``; returns their SHA-256, to check
        them."""
        self._flush()
        with source.open("rb") as old:
            while size > self.bytes and (data := old.read(min(_CHUNK, size - self.bytes))):
                self._put(data)
        return self._hash.hexdigest()

    def mark(self) -> dict[str, Any]:
        """Size and SHA-256 of what is written so far."""
        self._flush()
        return {"bytes": self.bytes, "sha256": self._hash.copy().hexdigest()}

    def commit(self) -> dict[str, Any]:
        """Rename into place; returns what the manifest and the package say of the file."""
        self._flush()
        self._file.close()
        os.replace(self.partial, self.path)
        return {"bytes": self.bytes, "sha256": self._hash.hexdigest()}

    def reset(self) -> None:
        """Empty again, to start from scratch."""
        self._parts, self._pending = [], 0
        self._file.seek(0)
        self._file.truncate()
        self._hash = hashlib.sha256()
        self.bytes = 0

    def close(self) -> None:
        """Drop the file if it was not committed."""
        self._file.close()
        self.partial.unlink(missing_ok=True)


def _write_text(path: Path, text: str) -> dict[str, Any]:
    out = _Aside(path)
    try:
        out.write(text)
        return out.commit()
    finally:
        out.close()


# -- observations, month by month -------------------------------------------------------------


def _months(store: Store) -> Iterator[tuple[str, DateRange]]:
    """The Paris months from the first stored probe's to the last's."""
    days = store.probe_days()
    if days is None:
        return
    year, month = days.first.year, days.first.month
    while (year, month) <= (days.last.year, days.last.month):
        yield f"{year:04d}-{month:02d}", month_range(year, month)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _position(value: Any) -> Position | None:
    """A manifest's ``[started_at, probe_id]``; None when it is not one."""
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        return None
    try:
        return datetime.fromisoformat(value[0]), value[1]
    except ValueError:
        return None


def _intact(folder: Path, entry: dict[str, Any], paths: dict[str, str]) -> bool:
    """The files the entry describes are there, with their sizes (their hashes are checked when
    they are extended: reading every month at every build would cost what rewriting them does)."""
    files = entry.get("files")
    if not isinstance(files, dict):
        return False
    for kind, path in paths.items():
        file = folder / path
        if not isinstance(files.get(kind), dict) or not file.is_file():
            return False
        if file.stat().st_size != files[kind].get("bytes"):
            return False
    return True


def _settled(entry: dict[str, Any], count: int, paths: dict[str, str]) -> dict[str, Any] | None:
    """The entry's settled part, if it is well formed and could still hold: ``None`` else."""
    settled = entry.get("settled")
    if not isinstance(settled, dict):
        return None
    probes, last, files = settled.get("probes"), settled.get("last"), settled.get("files")
    if not isinstance(probes, int) or not 0 <= probes <= count or not isinstance(files, dict):
        return None
    if (last is None) != (probes == 0) or (last is not None and _position(last) is None):
        return None
    for kind in paths:
        file = files.get(kind)
        if not isinstance(file, dict) or not isinstance(file.get("bytes"), int):
            return None
    return settled


def _month(
    store: Store,
    folder: Path,
    days: DateRange,
    paths: dict[str, str],
    newest: datetime,
    settled: dict[str, Any] | None,
) -> dict[str, Any]:
    """Write one month's files, from scratch or from their settled part; returns the month's new
    entry.

    The entry marks where the probes started more than :data:`SETTLE` before the month's newest
    one end in each file: while the robot runs, probes that started earlier may still be saved,
    but not that much earlier. The next build copies the files up to there, if no probe was
    added before it, and writes the rest again.
    """
    outs = {kind: _Aside(folder / path) for kind, path in paths.items()}
    try:
        count, last, fresh = 0, None, True
        if settled is not None:
            copied = {
                kind: out.copy(folder / paths[kind], settled["files"][kind]["bytes"])
                for kind, out in outs.items()
            }
            if all(copied[kind] == settled["files"][kind].get("sha256") for kind in outs):
                count, last, fresh = settled["probes"], settled["last"], False
            else:  # not the files the manifest describes: start again
                for out in outs.values():
                    out.reset()
        after = None if last is None else _position(last)
        cutoff = newest - SETTLE
        at, probe_id = EXPORT_COLUMNS.index("started_at"), EXPORT_COLUMNS.index("probe_id")
        mark: dict[str, Any] | None = None

        def track(row: Sequence[Any]) -> None:  # before the row is written
            nonlocal count, last, mark
            if mark is None and datetime.fromisoformat(row[at]) > cutoff:
                mark = {"probes": count, "last": last}
                mark["files"] = {kind: out.mark() for kind, out in outs.items()}
            count += 1
            last = [row[at], row[probe_id]]

        write_rows(
            export_rows(store, since=days.start, until=days.end, after=after),
            track,
            csv_writer(outs["csv"], header=fresh),
            jsonl_writer(outs["jsonl"]),
        )
        if mark is None:
            mark = {"probes": count, "last": last}
            mark["files"] = {kind: out.mark() for kind, out in outs.items()}
        files = {kind: out.commit() for kind, out in outs.items()}
    finally:
        for out in outs.values():
            out.close()
    return {"probes": count, "last": last, "files": files, "settled": mark}


def _observations(
    store: Store, folder: Path, manifest: dict[str, Any]
) -> tuple[list[tuple[str, dict[str, Any]]], int]:
    """Bring every month's files up to date; returns (month, entry) in order and the files
    written."""
    entries: dict[str, Any] = dict(manifest["months"])
    done: list[tuple[str, dict[str, Any]]] = []
    written = 0
    for label, days in _months(store):
        count, last = export_extent(store, days.start, days.end)
        if not count or last is None:
            continue
        paths = {kind: f"{OBSERVATIONS}/observations-{label}.{kind}" for kind in ("csv", "jsonl")}
        entry = entries.get(label)
        settled = None
        if isinstance(entry, dict) and _intact(folder, entry, paths):
            if entry.get("probes") == count and _position(entry.get("last")) == last:
                done.append((label, entry))
                continue
            # Kept if no probe was added before its end (the store never drops one; a month
            # that lost probes must be rebuilt by hand, by removing the manifest).
            settled = _settled(entry, count, paths)
            if settled is not None and settled["probes"]:
                upto = _position(settled["last"])
                if upto is None or export_count(store, days.start, upto) != settled["probes"]:
                    settled = None
        entries.pop(label, None)  # forgotten while its files change: a crash rewrites them
        _save_manifest(folder, entries)
        entry = _month(store, folder, days, paths, last[0], settled)
        entries[label] = entry
        _save_manifest(folder, entries)
        done.append((label, entry))
        written += len(paths)
    present = dict(done)
    _save_manifest(folder, present)
    for file in (folder / OBSERVATIONS).iterdir():
        match = _MONTH_FILE.fullmatch(file.name)
        if match and match.group(1) not in present:
            file.unlink()
    return done, written


def _load_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of the last build; an empty one if it is missing, unreadable or of another
    layout (then every month is written again)."""
    try:
        data = json.loads((folder / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict) or data.get("layout") != _LAYOUT:
        return {"layout": _LAYOUT, "months": {}}
    if not isinstance(data.get("months"), dict):
        data["months"] = {}
    return data


def _save_manifest(folder: Path, months: dict[str, Any]) -> None:
    text = json.dumps({"layout": _LAYOUT, "months": months}, indent=1, sort_keys=True)
    _write_text(folder / MANIFEST, text + "\n")


def _sweep(folder: Path) -> None:
    """Files left aside by an interrupted build."""
    for place in (folder, folder / OBSERVATIONS):
        for file in place.glob(".*.partial"):
            file.unlink()


# -- monthly figures --------------------------------------------------------------------------

_LEAD: Final = ("method_version", "key")  # before the columns of ``guichets report``


def _figures_csv(rows: Sequence[ReportRow]) -> str:
    """``rows_csv`` with the method's version and the row's key first: the same cells, parsed
    and written again by the same csv module."""
    table = list(csv.reader(io.StringIO(rows_csv(rows))))
    out = io.StringIO()
    write = cell_writer(out)  # the cells come back escaped already; the key is escaped here
    write([*_LEAD, *table[0]])
    for row, cells in zip(rows, table[1:], strict=True):
        write([METHOD_VERSION, row.key, *cells])
    return out.getvalue()


def _figures_json(rows: Sequence[ReportRow]) -> str:
    """``rows_json`` with the method's version and the row's key first in each row. Its rows are
    one per line, so each line gets the two fields and the rest stays as ``report`` wrote it."""
    text = rows_json(rows)
    if not rows:
        return text + "\n"
    lines = text.split("\n")
    body = lines[1:-1]
    if len(body) != len(rows) or not all(line.startswith("{") for line in body):
        raise ValueError("rows_json no longer writes one row per line; update _figures_json")
    for i, row in enumerate(rows):
        lead = json.dumps({"method_version": METHOD_VERSION, "key": row.key}, ensure_ascii=False)
        body[i] = lead[:-1] + ", " + body[i][1:]
    return "\n".join([lines[0], *body, lines[-1]]) + "\n"


# -- the package ------------------------------------------------------------------------------


def _field(name: str, kind: str, description: str, **more: Any) -> dict[str, Any]:
    field: dict[str, Any] = {"name": name, "type": kind, "description": description}
    if kind == "datetime":
        # ISO 8601 with its offset (and microseconds when there are any): Table Schema's default
        # would want a bare UTC "Z".
        field["format"] = "any"
    field.update(more)
    return field


_OUTCOMES: Final = [o.value for o in Outcome]
_CATEGORIES: Final = [c.value for c in Category]
_LEVELS: Final = [level.value for level in Level]
_Spec = tuple[str, str, dict[str, Any]]  # type, description, constraints
_SHARE: Final[dict[str, Any]] = {"minimum": 0, "maximum": 1}
_COUNT: Final[dict[str, Any]] = {"minimum": 0}

_OBSERVATION_FIELDS: Final[dict[str, _Spec]] = {
    "probe_id": ("string", "Identifiant unique du sondage.", {"required": True, "unique": True}),
    "service": (
        "string",
        "Identifiant du service sondé : un guichet pour une démarche.",
        {"required": True},
    ),
    "departement": ("string", "Code du département du service (01 à 95, 2A, 2B, 971…).", {}),
    "site": (
        "string",
        "Nom d'hôte du site de réservation : le niveau « site » des chiffres.",
        {"required": True},
    ),
    "platform": ("string", "Logiciel de réservation du site.", {"required": True}),
    "counter": ("string", "Guichet (planning) sondé, quand le site en propose plusieurs.", {}),
    "url": ("string", "Page du site où le robot commence le parcours d'une personne.", {}),
    "day": (
        "date",
        "Date de Paris à laquelle le sondage a commencé : le jour et le mois auxquels il compte "
        "(un sondage à 23 h 30 UTC le 31 octobre compte pour le 1er novembre).",
        {"required": True},
    ),
    "started_at": ("datetime", "Début du sondage, en UTC (ISO 8601).", {"required": True}),
    "finished_at": ("datetime", "Fin du sondage, en UTC (ISO 8601).", {"required": True}),
    "outcome": (
        "string",
        "Résultat du sondage : available (des créneaux libres vus), unavailable (preuve "
        "qu'aucun rendez-vous ne peut être pris), barrier (robot bloqué, captcha, connexion "
        "exigée…), site_error (site en panne), unrecognized (page illisible). Seuls available "
        "et unavailable sont des sondages valides.",
        {"required": True, "enum": _OUTCOMES},
    ),
    "detail": (
        "string",
        "Précision du résultat : message du site, type de blocage ou d'erreur (p. ex. "
        "no_slot_page, rate_limited, http_502).",
        {},
    ),
    "category": (
        "string",
        "Catégorie d'un sondage valide selon les dates vues, un mois valant 30 jours : A au "
        "moins deux dates dans le mois, B une seule, C première date entre un et deux mois, D "
        "au-delà de deux mois, E aucune date. Vide pour un sondage non valide.",
        {"enum": _CATEGORIES},
    ),
    "first_slot": (
        "datetime",
        "Premier créneau vu, heure de Paris avec son décalage (ISO 8601).",
        {},
    ),
    "slots_count": ("integer", "Nombre de créneaux lus sur la page.", _COUNT),
    "slots": (
        "string",
        "Créneaux lus (le robot s'arrête après les deux premiers), heure de Paris avec leur "
        "décalage (ISO 8601), séparés par une espace.",
        {},
    ),
    "horizon_end": (
        "datetime",
        "Dernier instant cherché (heure de Paris, ISO 8601) : un sondage sans date est censuré "
        "à cet horizon dans le calcul des délais.",
        {},
    ),
    "requests": ("integer", "Requêtes HTTP faites par le sondage.", _COUNT),
    "http_status": ("integer", "Statut HTTP de la dernière réponse.", {}),
    "duration_seconds": ("number", "Durée du sondage, en secondes.", {}),
    "message": ("string", "Ce que le robot a vu, en une phrase (en anglais).", {}),
    "assisted": (
        "boolean",
        "Vrai pour une lecture faite après qu'une personne a répondu au captcha (guichets "
        "assist) : hors de l'échantillon aléatoire du robot, jamais mêlée à ses chiffres.",
        {"required": True},
    ),
    "person": (
        "string",
        "Identifiant opaque de la personne d'une lecture assistée (jamais un nom) ; vide pour "
        "le robot.",
        {},
    ),
}


def _observations_schema() -> dict[str, Any]:
    missing = [c for c in EXPORT_COLUMNS if c not in _OBSERVATION_FIELDS]
    if missing:
        raise KeyError(f"describe the export's columns {missing} in site/opendata.py")
    fields = []
    for name in EXPORT_COLUMNS:
        kind, description, constraints = _OBSERVATION_FIELDS[name]
        more = {"constraints": dict(constraints)} if constraints else {}
        fields.append(_field(name, kind, description, **more))
    return {"fields": fields, "primaryKey": ["probe_id"], "missingValues": [""]}


_CATEGORY_RULES: Final = {
    "A": "au moins deux dates dans le mois",
    "B": "une seule date dans le mois",
    "C": "première date entre un et deux mois",
    "D": "première date au-delà de deux mois",
    "E": "aucune date",
}
_RATES: Final = {
    "failure_rate": "Taux d'échec : sondages valides de catégorie E ÷ sondages valides.",
    "opening_rate": "Taux d'ouverture : 1 − taux d'échec (catégories A à D ÷ sondages valides).",
    "short_horizon_rate": "Disponibilité à court terme : catégorie A ÷ sondages valides.",
    **{
        f"{c}_rate": f"Part des sondages valides en catégorie {c} ({rule})."
        for c, rule in _CATEGORY_RULES.items()
    },
    "site_error_rate": "Taux de panne : sondages site_error ÷ tous les sondages.",
    "barrier_rate": "Taux de blocage : sondages barrier ÷ tous les sondages.",
    "unrecognized_rate": "Pages illisibles : sondages unrecognized ÷ tous les sondages.",
}
_KINDS: Final = "« type=nombre » séparés par des points-virgules"
_FIGURE_FIELDS: Final[dict[str, _Spec]] = {
    "method_version": (
        "string",
        "Version de la méthode (docs/method.md) selon laquelle la ligne est calculée.",
        {"required": True, "enum": [METHOD_VERSION]},
    ),
    "key": (
        "string",
        "Ce dont parle la ligne : identifiant du service, nom d'hôte du site, code du "
        "département, ou FR pour la France.",
        {"required": True},
    ),
    "level": (
        "string",
        "Niveau : service, site, departement ou france ; au-dessus du service, les sondages "
        "des services sont mis en commun.",
        {"required": True, "enum": _LEVELS},
    ),
    "service": ("string", "Identifiant du service (vide au-dessus du service).", {}),
    "label": ("string", "Nom du service, tiré du catalogue.", {}),
    "site": ("string", "Nom d'hôte du site de réservation.", {}),
    "departement": ("string", "Code du département.", {}),
    "departement_name": ("string", "Nom du département.", {}),
    "period": ("string", "Période, AAAA-MM pour un mois (dates de Paris).", {"required": True}),
    "from": ("date", "Premier jour de la période (date de Paris).", {"required": True}),
    "to": ("date", "Dernier jour de la période, inclus.", {"required": True}),
    "services": ("integer", "Nombre de services de la ligne.", _COUNT),
    "probes": ("integer", "Nombre de sondages.", _COUNT),
    "valid": ("integer", "Sondages valides : available + unavailable.", _COUNT),
    "barrier": ("integer", "Sondages bloqués (barrier).", _COUNT),
    "site_error": ("integer", "Sondages tombés sur un site en panne (site_error).", _COUNT),
    "unrecognized": ("integer", "Sondages sur une page illisible (unrecognized).", _COUNT),
    "available": ("integer", "Sondages qui ont vu des créneaux libres.", _COUNT),
    "unavailable": (
        "integer",
        "Sondages avec la preuve qu'aucun rendez-vous ne pouvait être pris.",
        _COUNT,
    ),
    **{
        c: ("integer", f"Sondages valides de catégorie {c} ({rule}).", _COUNT)
        for c, rule in _CATEGORY_RULES.items()
    },
    "few_probes": (
        "boolean",
        "Moins de 30 sondages valides : les parts sont à lire avec prudence.",
        {},
    ),
    "barrier_by_kind": ("string", f"Sondages bloqués par type de blocage, {_KINDS}.", {}),
    "site_error_by_kind": ("string", f"Pannes par type, {_KINDS}.", {}),
    "unrecognized_by_kind": ("string", f"Pages illisibles par type, {_KINDS}.", {}),
    "first_slot": (
        "datetime",
        "Créneau le plus tôt vu sur la période, heure de Paris avec son décalage (ISO 8601).",
        {},
    ),
    "median_lead_days": (
        "number",
        "Délai médian en jours entre le sondage et la première date (Kaplan-Meier, un sondage "
        "sans date étant censuré à son horizon) ; vide quand plus de la moitié des sondages "
        "valides n'ont rien trouvé jusqu'à l'horizon.",
        _COUNT,
    ),
    "median_lead_beyond_days": (
        "number",
        "Quand le délai médian est au-delà de l'horizon : cet horizon, en jours.",
        _COUNT,
    ),
    "p90_lead_days": (
        "number",
        "90e centile du délai en jours, calculé comme la médiane ; vide au-delà de l'horizon.",
        _COUNT,
    ),
    "p90_lead_beyond_days": (
        "number",
        "Quand le 90e centile est au-delà de l'horizon : cet horizon, en jours.",
        _COUNT,
    ),
    "slots_seen": ("integer", "Créneaux lus en tout (au plus deux par sondage).", _COUNT),
    "days": ("integer", "Jours de la période.", _COUNT),
    "days_probed": ("integer", "Jours où au moins un sondage a été fait.", _COUNT),
    "valid_per_day": ("number", "Sondages valides par jour de la période.", _COUNT),
    "longest_blocked_days": (
        "integer",
        "Plus longue suite de jours consécutifs sondés sans qu'aucun sondage trouve une date ; "
        "un jour sans sondage l'interrompt.",
        _COUNT,
    ),
    "robot_down_hours": (
        "number",
        "Heures de la période où le robot lui-même ne tournait pas : des lacunes, ni ouvert ni "
        "fermé ; vide si aucune exécution n'est enregistrée.",
        _COUNT,
    ),
}


def _figure_field(name: str) -> dict[str, Any]:
    if name in _RATES:
        return _field(name, "number", _RATES[name], constraints=dict(_SHARE))
    for end, bound in (("_ci_low", "basse"), ("_ci_high", "haute")):
        if name.endswith(end) and name[: -len(end)] in _RATES:
            rate = name[: -len(end)]
            text = f"Borne {bound} de l'intervalle de confiance à 95 % (Wilson) de {rate}."
            return _field(name, "number", text, constraints=dict(_SHARE))
    if name not in _FIGURE_FIELDS:
        raise KeyError(f"describe the report's column {name!r} in site/opendata.py")
    kind, description, constraints = _FIGURE_FIELDS[name]
    more: dict[str, Any] = {"constraints": dict(constraints)} if constraints else {}
    if kind == "boolean":
        more |= {"trueValues": ["True"], "falseValues": ["False"]}  # how csv writes a bool
    return _field(name, kind, description, **more)


def _figures_schema() -> dict[str, Any]:
    header = _figures_csv([]).splitlines()[0].split(",")
    return {
        "fields": [_figure_field(name) for name in header],
        "primaryKey": ["level", "key", "period"],
        "missingValues": [""],
    }


def _csv_resource(
    name: str, path: str, title: str, description: str, file: dict[str, Any], schema: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "path": path,
        "profile": "tabular-data-resource",
        "title": title,
        "description": description,
        "format": "csv",
        "mediatype": "text/csv",
        "encoding": "utf-8",
        "bytes": file["bytes"],
        "hash": f"sha256:{file['sha256']}",
        "schema": schema,
    }


def _package(
    created: datetime, figures: dict[str, Any], months: list[tuple[str, dict[str, Any]]]
) -> dict[str, Any]:
    observations = _observations_schema()
    resources = [
        _csv_resource(
            FIGURES,
            f"{FIGURES}.csv",
            "Chiffres mensuels",
            "Les indicateurs de chaque mois par service, département et pour la France, tels que "
            "`guichets report --by month --format csv` les écrit, précédés de la version de la "
            "méthode et de la clé de la ligne. Les parts sont publiées avec leur intervalle de "
            "confiance à 95 %.",
            figures,
            _figures_schema(),
        )
    ]
    for label, entry in months:
        resources.append(
            _csv_resource(
                f"observations-{label}",
                f"{OBSERVATIONS}/observations-{label}.csv",
                _title_fr(label, "CSV").removesuffix(" (CSV)"),
                f"Tous les sondages commencés en {_month_fr(label)} (heure de Paris), un par "
                "ligne, tels que `guichets export observations --month "
                f"{label} --format csv` les écrit. Les mêmes lignes existent en JSON Lines "
                f"(observations-{label}.jsonl).",
                entry["files"]["csv"],
                observations,
            )
        )
    return {
        "profile": "tabular-data-package",
        "name": "guichets-observatoire",
        "title": "Observatoire de l'accès aux guichets des préfectures par la prise de "
        "rendez-vous en ligne",
        "description": "Un robot suit, à intervalles réguliers et à des instants tirés au "
        "hasard, le chemin d'une personne sur les sites de réservation des préfectures jusqu'à "
        "la page des disponibilités, et note ce qu'il y voit. Chaque sondage est publié, ainsi "
        "que les chiffres de chaque mois. La méthode (docs/method.md) dit ce que chaque colonne "
        "veut dire ; sa version est celle de ce paquet.",
        "version": METHOD_VERSION,
        "created": created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "licenses": [dict(LICENSE)],
        "keywords": ["préfectures", "rendez-vous", "titres de séjour", "services publics"],
        "resources": resources,
    }


# -- titles -----------------------------------------------------------------------------------


def _month_fr(label: str) -> str:
    return f"{MONTHS_FR[int(label[5:]) - 1]} {label[:4]}"


def _title_fr(label: str, kind: str) -> str:
    month = _month_fr(label)
    of = "d'" if month[0] in "ao" else "de "  # d'avril, d'août, d'octobre
    return f"Sondages {of}{month} ({kind})"


def _title_en(label: str, kind: str) -> str:
    return f"Probes of {_MONTHS[int(label[5:]) - 1]} {label[:4]} ({kind})"


# -- the whole --------------------------------------------------------------------------------


def write_open_data(
    store: Store, folder: Path, monthly_rows: Sequence[ReportRow], *, created: datetime
) -> OpenData:
    """Write (or bring up to date) the open data in ``folder`` (``SITE/donnees/v<version>/``).

    ``monthly_rows``: the report's rows of every level, by month; ``created``: the build's
    instant, for the package. Months whose probes did not change keep their files.
    """
    if created.utcoffset() is None:
        raise ValueError(f"created={created.isoformat()} is naive; give an aware datetime")
    (folder / OBSERVATIONS).mkdir(parents=True, exist_ok=True)
    _sweep(folder)
    months, written = _observations(store, folder, _load_manifest(folder))
    figures_csv = _write_text(folder / f"{FIGURES}.csv", _figures_csv(monthly_rows))
    figures_json = _write_text(folder / f"{FIGURES}.json", _figures_json(monthly_rows))
    package = _package(created, figures_csv, months)
    _write_text(folder / PACKAGE, json.dumps(package, ensure_ascii=False, indent=1) + "\n")
    resources = [
        Resource(f"{FIGURES}.csv", "Chiffres mensuels (CSV)", "Monthly figures (CSV)",
                 len(monthly_rows), figures_csv["bytes"], "csv"),
        Resource(f"{FIGURES}.json", "Chiffres mensuels (JSON)", "Monthly figures (JSON)",
                 len(monthly_rows), figures_json["bytes"], "json"),
    ]  # fmt: skip
    for label, entry in months:
        for kind, name in (("csv", "CSV"), ("jsonl", "JSON Lines")):
            resources.append(
                Resource(
                    f"{OBSERVATIONS}/observations-{label}.{kind}",
                    _title_fr(label, name),
                    _title_en(label, name),
                    entry["probes"],
                    entry["files"][kind]["bytes"],
                    kind,
                )
            )
    return OpenData(folder, tuple(resources), written + 2)
