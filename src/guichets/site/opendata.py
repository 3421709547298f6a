"""The site's open data: every probe, month by month, and the monthly figures, described by a
Frictionless Data Package (``datapackage.json``) so that anyone can check the files and read them.

Each month's probes are gzip-compressed CSV, whose content is exactly what ``guichets export
observations --month M`` writes, and Parquet with the same columns; the current month also plain
CSV (``site/opendata_files.py`` writes them, from columns, kept in the data directory and linked
into the site). The monthly figures are ``guichets report``'s own CSV and JSON
(``stats/render.py``), with the method's version and the row's key in front: (level, key,
period) is their primary key. Every file is written aside and renamed into place, and only when
its bytes change (the package's ``created`` aside): a reader, or an interrupted build, never
sees half a file, and a mirror copies only what changed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol

from guichets.files import atomic_file, remove_stale_partials, write_atomic
from guichets.french import MONTHS as MONTHS_FR
from guichets.model import Category, Outcome
from guichets.runlock import HeldLock
from guichets.site.opendata_files import (
    OBSERVATIONS,
    InBackground,
    MonthFiles,
    can_fork,
    has_kept_months,
    hold_months,
    link_into,
    month_file,
    months_to_analyse,
    observation_files,
)
from guichets.stats.method import METHOD_VERSION
from guichets.stats.render import rows_csv, rows_json
from guichets.stats.report import Level, ReportRow
from guichets.store import Store
from guichets.store.export import EXPORT_COLUMNS
from guichets.untrusted import csv_writer as cell_writer

__all__ = [
    "Chunked",
    "MonthWriter",
    "OpenData",
    "Resource",
    "Text",
    "observation_types",
    "start_months",
    "write_open_data",
]

PACKAGE: Final = "datapackage.json"
FIGURES: Final = "chiffres-mensuels"
LICENSE: Final = {
    "name": "etalab-2.0",
    "path": "https://www.etalab.gouv.fr/licence-ouverte-open-licence",
    "title": "Licence Ouverte / Open Licence version 2.0",
}
_MONTHS: Final = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
# Each kind of month file: (French, English) names in titles, Table Schema's format, media
# type, compression.
_CHUNK: Final = 1 << 20
_KIND_NAMES: Final = {
    "csv.gz": ("CSV compressé (gzip)", "gzip-compressed CSV", "csv", "text/csv", "gz"),
    "parquet": ("Parquet", "Parquet", "parquet", "application/vnd.apache.parquet", None),
    "csv": ("CSV", "CSV", "csv", "text/csv", None),
}


@dataclass(frozen=True)
class Resource:
    """One published file, as the data page lists it."""

    path: str  # relative to the folder, e.g. "observations/observations-2026-10.csv.gz"
    title: str  # French title, e.g. "Sondages d'octobre 2026 (Parquet)"
    title_en: str
    rows: int
    bytes: int
    format: str  # "csv.gz" | "parquet" | "csv" | "json"


@dataclass(frozen=True)
class OpenData:
    folder: Path
    resources: tuple[Resource, ...]
    rewritten: int  # files of ``resources`` written this time; the rest were up to date


# -- files written when their bytes change -------------------------------------------------------


def _digest(data: bytes) -> dict[str, Any]:
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _holds(path: Path, data: bytes) -> bool:
    """Whether the file holds ``data``, read a megabyte at a time (the monthly figures' JSON is
    tens of MB at three years of 500 services: never a second copy in memory)."""
    view = memoryview(data)
    with path.open("rb") as file:
        if os.fstat(file.fileno()).st_size != len(data):
            return False
        at = 0
        while chunk := file.read(_CHUNK):
            if view[at : at + len(chunk)] != chunk:
                return False
            at += len(chunk)
    return at == len(data)


class Chunked(Protocol):
    """A file's bytes given a chunk at a time (:class:`Text`, ``figures_text.Merged``)."""

    def chunks(self) -> Iterator[bytes]: ...


@dataclass(frozen=True)
class Text:
    """A file's text as ``head + sep.join(lines) + tail``, never put together whole: the
    monthly figures' CSV and JSON are each about 30 MB at three years of 500 services, and
    joining then encoding them held two more copies besides their lines."""

    head: str
    lines: Sequence[str] = ()
    sep: str = ""
    tail: str = ""

    def chunks(self, size: int = _CHUNK) -> Iterator[bytes]:
        """The file's bytes, about ``size`` characters at a time."""
        yield self.head.encode("utf-8")
        batch: list[str] = []
        held = 0
        for i, line in enumerate(self.lines):
            if i:
                batch.append(self.sep)
            batch.append(line)
            held += len(line)
            if held >= size:
                yield "".join(batch).encode("utf-8")
                batch, held = [], 0
        batch.append(self.tail)
        yield "".join(batch).encode("utf-8")

    def __str__(self) -> str:
        return self.head + self.sep.join(self.lines) + self.tail


def _stream_if_changed(path: Path, text: Chunked) -> tuple[bool, dict[str, Any]]:
    """Write ``text`` to ``path`` (aside, then renamed) unless the file holds it already,
    comparing and writing a chunk at a time; (written, its size and SHA-256)."""
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("rb") as file:
            for chunk in text.chunks():
                if file.read(len(chunk)) != chunk:
                    break
                digest.update(chunk)
                size += len(chunk)
            else:
                if not file.read(1):
                    return False, {"bytes": size, "sha256": digest.hexdigest()}
    except FileNotFoundError:
        pass
    digest, size = hashlib.sha256(), 0
    with atomic_file(path) as out:
        for chunk in text.chunks():
            out.write(chunk)
            digest.update(chunk)
            size += len(chunk)
    return True, {"bytes": size, "sha256": digest.hexdigest()}


def _write_if_changed(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` (aside, then renamed) unless the file holds it already."""
    try:
        if _holds(path, data):
            return False
    except FileNotFoundError:
        pass
    write_atomic(path, data)
    return True


def observation_types() -> dict[str, str]:
    """The Table Schema's type of each column of the export (one place: the Parquet files'
    types follow)."""
    return {field["name"]: field["type"] for field in _observations_schema()["fields"]}


# -- monthly figures --------------------------------------------------------------------------

_LEAD: Final = ("method_version", "key")  # before the columns of ``guichets report``


def figures_csv(rows: Sequence[ReportRow]) -> str:
    """``rows_csv`` with the method's version and the row's key first: the same cells, parsed
    and written again by the same csv module."""
    header, lines = figures_csv_lines(rows)
    return header + "".join(lines)


class _Taken:
    """A text sink that gives back what was written since it was last asked."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def take(self) -> str:
        text = "".join(self.parts)
        self.parts.clear()
        return text


def figures_csv_lines(rows: Sequence[ReportRow]) -> tuple[str, list[str]]:
    """:func:`figures_csv`'s header, and each row's line (a quoted cell may hold a line break):
    the file is their concatenation. One pass for every row (the monthly figures' lines are
    kept row by row: ``site/figures_text.py``)."""
    table = list(csv.reader(io.StringIO(rows_csv(rows))))
    out = _Taken()
    write = cell_writer(out)  # the cells come back escaped already; the key is escaped here
    write([*_LEAD, *table[0]])
    header = out.take()
    lines = []
    for row, cells in zip(rows, table[1:], strict=True):
        write([METHOD_VERSION, row.key, *cells])
        lines.append(out.take())
    return header, lines


def figures_json(rows: Sequence[ReportRow]) -> str:
    """``rows_json`` with the method's version and the row's key first in each row. Its rows are
    one per line, so each line gets the two fields and the rest stays as ``report`` wrote it."""
    if not rows:
        return rows_json(rows) + "\n"
    return "[\n" + ",\n".join(figures_json_lines(rows)) + "\n]\n"


def figures_json_lines(rows: Sequence[ReportRow]) -> list[str]:
    """Each row's line of :func:`figures_json` (without the comma between two): one pass for
    every row."""
    if not rows:
        return []
    lines = rows_json(rows).split("\n")
    body = lines[1:-1]
    if (
        len(body) != len(rows)
        or not all(line.startswith("{") and line.endswith("},") for line in body[:-1])
        or not (body[-1].startswith("{") and body[-1].endswith("}"))
    ):
        raise ValueError("rows_json no longer writes one row per line; update figures_json")
    for i, row in enumerate(rows):
        lead = json.dumps({"method_version": METHOD_VERSION, "key": row.key}, ensure_ascii=False)
        line = body[i] if i + 1 == len(rows) else body[i][:-1]  # without the comma between
        body[i] = lead[:-1] + ", " + line[1:]
    return body


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
        more: dict[str, Any] = {"constraints": dict(constraints)} if constraints else {}
        if kind == "boolean":
            more |= {"trueValues": ["True"], "falseValues": ["False"]}  # how csv writes a bool
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
    "assisted_failure_rate": (
        "Lectures assistées (une personne a répondu au captcha) : lectures valides sans date ÷ "
        "lectures valides. Pas un échantillon aléatoire : jamais mêlé aux chiffres du robot."
    ),
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
    "assisted_probes": (
        "integer",
        "Lectures assistées : une personne a répondu au captcha, guichets a lu la page des "
        "créneaux ; comptées à part, jamais dans « probes ».",
        _COUNT,
    ),
    "assisted_valid": ("integer", "Lectures assistées valides.", _COUNT),
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
        "Plus longue suite de jours consécutifs sondés sans qu'aucun sondage trouve une date, "
        "jours fermés et jours sans lecture confondus (voir longest_closed_days et "
        "longest_blind_days) ; un jour sans sondage l'interrompt.",
        _COUNT,
    ),
    "longest_closed_days": (
        "integer",
        "Plus longue suite de jours fermés : chaque jour, des sondages valides et aucun n'a trouvé "
        "de date, comme une personne l'aurait constaté ; un jour sans sondage valide l'interrompt.",
        _COUNT,
    ),
    "longest_blind_days": (
        "integer",
        "Plus longue suite de jours sans lecture : chaque jour, des sondages, mais aucun valide "
        "(panne, blocage, captcha, page illisible) ; ce ne sont pas des jours fermés.",
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
    header = figures_csv([]).splitlines()[0].split(",")
    return {
        "fields": [_figure_field(name) for name in header],
        "primaryKey": ["level", "key", "period"],
        "missingValues": [""],
    }


def _resource(
    name: str,
    path: str,
    title: str,
    description: str,
    file: Mapping[str, Any],
    schema: Any,
    kind: str = "csv",
) -> dict[str, Any]:
    _, _, fmt, mediatype, compression = _KIND_NAMES[kind]
    resource: dict[str, Any] = {
        "name": name,
        "path": path,
        "profile": "tabular-data-resource",
        "title": title,
        "description": description,
        "format": fmt,
        "mediatype": mediatype,
    }
    if compression is not None:
        resource["compression"] = compression
    if fmt == "csv":
        resource["encoding"] = "utf-8"
    if fmt != "parquet":  # Frictionless reads Parquet whole, not as bytes: it could not count
        resource["bytes"] = file["bytes"]
    resource |= {"hash": f"sha256:{file['sha256']}", "schema": schema}
    return resource


def _package(
    created: datetime, figures: Mapping[str, Any], months: list[MonthFiles]
) -> dict[str, Any]:
    observations = _observations_schema()
    resources = [
        _resource(
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
    for month in months:
        for kind in month.files:
            label = month.label
            resources.append(
                _resource(
                    f"observations-{label}-{kind.replace('.', '-')}",
                    f"{OBSERVATIONS}/{month_file(label, kind)}",
                    _title_fr(label, _KIND_NAMES[kind][0]),
                    f"Tous les sondages commencés en {_month_fr(label)} (heure de Paris), un par "
                    "ligne, tels que `guichets export observations --month "
                    f"{label} --format csv` les écrit"
                    + (
                        " (décompressé)." if kind == "csv.gz" else
                        " : les mêmes colonnes, typées." if kind == "parquet" else "."
                    ),
                    month.files[kind],
                    observations,
                    kind,
                )
            )  # fmt: skip
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


def _package_bytes(path: Path, package: dict[str, Any]) -> bytes:
    """The package as written; with the ``created`` of the file already there when nothing
    else changed, so that a build with nothing new leaves it alone."""
    try:
        before = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        before = None
    if (
        isinstance(before, dict)
        and isinstance(before.get("created"), str)
        and json.loads(json.dumps({**package, "created": before["created"]})) == before
    ):
        package = before
    return (json.dumps(package, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


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


class MonthWriter(Protocol):
    """The month files being written. ``analysing``: the closed months whose batch releases
    come with them (``MonthFiles.releases``), unless they could not be told from that read."""

    analysing: frozenset[str]

    def result(self) -> tuple[list[MonthFiles], int]: ...

    def busy(self) -> bool:
        """Whether every month's files are still being written (a first build), by other
        processes on the other cores."""
        ...

    def remember(self, fingerprints: Mapping[str, str] | None) -> None: ...

    def stop(self) -> None: ...


class _Now:
    def __init__(self, found: tuple[list[MonthFiles], int], analysing: frozenset[str]) -> None:
        self.found = found
        self.analysing = analysing

    def result(self) -> tuple[list[MonthFiles], int]:
        return self.found

    def busy(self) -> bool:
        return False  # written before this was made

    def remember(self, fingerprints: Mapping[str, str] | None) -> None:
        pass  # written with them already

    def stop(self) -> None:
        pass


class _Deferred:
    """Written in this process when the result is first asked, with the fingerprints given by
    then (a build that cannot fork: they are known by then), under the month files' lock."""

    def __init__(
        self, store: Store, kept: Path, workers: int, analysing: frozenset[str], lock: HeldLock
    ) -> None:
        self._store, self._kept, self._workers = store, kept, workers
        self.analysing = analysing
        self._lock: HeldLock | None = lock
        lock.keep_from_children()  # no process of the build writes them but this one
        self._prints: Mapping[str, str] | None = None
        self._found: tuple[list[MonthFiles], int] | None = None

    def result(self) -> tuple[list[MonthFiles], int]:
        if self._found is None:
            try:
                self._found = observation_files(
                    self._store, self._kept, observation_types(), workers=self._workers,
                    fingerprints=self._prints, analyse=self.analysing,
                )  # fmt: skip
            finally:
                self.stop()
        return self._found

    def busy(self) -> bool:
        return False  # written when asked

    def remember(self, fingerprints: Mapping[str, str] | None) -> None:
        if self._found is None:
            self._prints = fingerprints

    def stop(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def start_months(
    store: Store,
    folder: Path,
    *,
    keep: Path | None,
    workers: int,
    background: bool = True,
    fingerprints: Mapping[str, str] | None = None,
    later: bool | None = False,
    held: HeldLock | None = None,
    defer: bool = False,
) -> MonthWriter:
    """Bring the month files up to date: in a child process when ``background`` (the caller
    goes on, then asks for the result), else now (with ``defer``, when the result is first
    asked, with the fingerprints ``remember`` gave). ``folder`` and ``keep`` as for
    :func:`write_open_data`; ``fingerprints`` as for ``observation_files``; ``later``: in the
    background, the fingerprints are given to the child by ``remember`` (``InBackground``);
    None: when months are kept already (a rebuild). With ``keep``, the month files' lock
    (``hold_months``): ``held`` when the caller took it (it is the writer's to let go, once
    written or stopped), else taken here, not waited for (MonthsBusy)."""
    kept = (folder if keep is None else keep) / OBSERVATIONS
    lock = held if held is not None or keep is None else hold_months(keep)
    try:
        types = observation_types()  # made an Arrow schema where the months are written
        analyse = months_to_analyse(store, kept)
        if later is None:
            later = has_kept_months(kept)
        if background and can_fork():
            return InBackground(
                store, kept, types, workers=workers, fingerprints=fingerprints, later=later,
                analyse=analyse, lock=lock,
            )  # fmt: skip
        if defer and lock is not None:
            return _Deferred(store, kept, workers, analyse, lock)
        found = observation_files(
            store, kept, types, workers=workers, fingerprints=fingerprints, analyse=analyse
        )
    except BaseException:
        if lock is not None:
            lock.close()
        raise
    if lock is not None:
        lock.close()
    return _Now(found, analyse)


def write_open_data(
    store: Store,
    folder: Path,
    monthly_rows: Sequence[ReportRow],
    *,
    created: datetime,
    keep: Path | None = None,
    workers: int = 1,
    figures_text: Callable[[Sequence[ReportRow]], tuple[Chunked, Chunked]] | None = None,
    months: MonthWriter | None = None,
) -> OpenData:
    """Write (or bring up to date) the open data in ``folder`` (``SITE/donnees/v<version>/``).

    ``monthly_rows``: the report's rows of every level, by month; ``created``: the build's
    instant, for the package. ``keep``: where the month files are kept (the data directory's
    ``opendata/v<version>``), linked into ``folder``; without it they are written in
    ``folder``. ``workers``: processes writing months. ``figures_text``: the monthly figures'
    CSV and JSON (the site's cache of closed months), else computed here. ``months``: the
    month files already being written (:func:`start_months`), else written here.
    """
    if created.utcoffset() is None:
        raise ValueError(f"created={created.isoformat()} is naive; give an aware datetime")
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(folder, older_than=None)  # the site's own: its lock is held
    (folder / ".manifest.json").unlink(missing_ok=True)  # the old layout's, if any
    kept = (folder if keep is None else keep) / OBSERVATIONS
    if months is None:
        months = start_months(store, folder, keep=keep, workers=workers, background=False)
    found, written = months.result()
    if keep is not None:
        names = [month_file(m.label, kind) for m in found for kind in m.files]
        link_into(kept, folder / OBSERVATIONS, names)
    texts: tuple[Chunked, Chunked] = (
        figures_text(monthly_rows)
        if figures_text is not None
        else (Text(figures_csv(monthly_rows)), Text(figures_json(monthly_rows)))
    )
    figures = {}
    for text, name in zip(texts, (f"{FIGURES}.csv", f"{FIGURES}.json"), strict=True):
        changed, figures[name] = _stream_if_changed(folder / name, text)
        written += changed
    del texts
    package = _package(created, figures[f"{FIGURES}.csv"], found)
    written += _write_if_changed(folder / PACKAGE, _package_bytes(folder / PACKAGE, package))
    resources = [
        Resource(f"{FIGURES}.csv", "Chiffres mensuels (CSV)", "Monthly figures (CSV)",
                 len(monthly_rows), figures[f"{FIGURES}.csv"]["bytes"], "csv"),
        Resource(f"{FIGURES}.json", "Chiffres mensuels (JSON)", "Monthly figures (JSON)",
                 len(monthly_rows), figures[f"{FIGURES}.json"]["bytes"], "json"),
    ]  # fmt: skip
    for month in found:
        for kind, file in month.files.items():
            french, english = _KIND_NAMES[kind][:2]
            resources.append(
                Resource(
                    f"{OBSERVATIONS}/{month_file(month.label, kind)}",
                    _title_fr(month.label, french),
                    _title_en(month.label, english),
                    month.probes,
                    file["bytes"],
                    kind,
                )
            )
    return OpenData(folder, tuple(resources), written)
