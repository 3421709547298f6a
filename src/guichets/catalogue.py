"""The catalogue: which booking services the robot probes, where, on which platform, how often.

It is a TOML file written by hand (see ``catalogues/example.toml``). A mistake in it means a
service silently never probed, or probed at the wrong place, so loading checks everything it can
and reports every problem at once, each with its file, line and what would be right. Values in
``[defaults]`` apply to every service that does not set its own.
"""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any
from urllib.parse import urlsplit

import pydantic
import tomlkit
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from guichets.departements import DEPARTEMENTS, closest_codes
from guichets.model import Outcome
from guichets.platforms import reader_for
from guichets.tomlconfig import (
    ConfigError,
    LineIndex,
    Problem,
    format_loc,
    format_problems,
    problems_from_validation,
    read_toml,
)
from guichets.untrusted import mixed_scripts, unsafe_characters

__all__ = [
    "DEFAULT_HORIZON_DAYS",
    "MAX_TEXT",
    "PLATFORMS",
    "READ_OUTCOMES",
    "Catalogue",
    "Defaults",
    "Service",
    "catalogue_to_toml",
    "check_report",
    "load_catalogue",
    "parse_cadence",
    "service_table",
]

PLATFORMS: tuple[str, ...] = ("ezbooking", "rdvpref", "eappointment")
"""Booking platforms the robot knows how to read (a registry of readers will replace this)."""

DEFAULT_HORIZON_DAYS = 91
"""How far ahead a probe reads the calendar unless told otherwise: 13 weeks, the legacy module's
usual reach (week offsets 0-91)."""

DAY = 86_400
MIN_CADENCE = 600  # a probe is several requests; more often than this is not polite
MAX_CADENCE = 7 * DAY

_UNITS = {"m": 60, "h": 3600, "d": DAY}
_CADENCE = re.compile(r"([1-9][0-9]*)([mhd])")
_CADENCE_FORMS = (
    'write a whole number and a unit, m, h or d, in quotes: "30m", "1h", "3h", "1d"; '
    "from 10m to 7d, dividing a day evenly (20m, 45m, 2h, 8h...) or in whole days"
)
_ID = re.compile(r"([0-9][0-9ab][0-9]?)-[a-z0-9]+(?:-[a-z0-9]+)*")
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_FORM = re.compile(r"/booking/create/([0-9]+)(?:/|$)")
_EXAMPLE_URLS = {
    "ezbooking": "https://www.isere.gouv.fr/booking/create/4129",
    "rdvpref": "https://www.rdv-prefecture.interieur.gouv.fr/rdvpref/reservation/demarche/3720/",
    "eappointment": (
        "https://rdv-etrangers-94.interieur.gouv.fr/eAppointmentpref94/appointment.do"
        "?sitekey=P941#motif=20"
    ),
}
# What each platform's booking URL holds, for messages; the rule itself is the reader's check_url.
_URL_SHAPES = {
    "ezbooking": "opens a booking form: its path holds /booking/create/<form id>",
    "rdvpref": "opens a démarche: its path holds /rdvpref/reservation/demarche/<id>/",
    "eappointment": "opens an office: its path holds /eAppointment… and its query sitekey=<key>",
}
_DEFER_CROSS_CHECKS = "guichets.catalogue.defer_cross_checks"
MAX_TEXT = 200
"""Characters of a site name or a label: they are printed on pages, in tables and CSV cells."""
MAX_FILE_BYTES = 8 * 1024 * 1024
"""A catalogue is a few kilobytes per hundred services; anything this big is not one."""


def parse_cadence(text: str) -> int:
    """Seconds in a cadence like ``"1h"``; ValueError saying the accepted forms otherwise.

    A cadence that divides a day lets each Paris day hold the same number of periods (one probe
    at a random instant in each), so daily figures compare; longer ones are whole days.
    """
    match = _CADENCE.fullmatch(text)
    if match is None:
        raise ValueError(f"not a cadence; {_CADENCE_FORMS}")
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds < MIN_CADENCE:
        raise ValueError(f"too frequent for the sites probed; {_CADENCE_FORMS}")
    if seconds > MAX_CADENCE:
        raise ValueError(f"too rare to measure anything; {_CADENCE_FORMS}")
    if (seconds < DAY and DAY % seconds) or (seconds > DAY and seconds % DAY):
        raise ValueError(f"does not divide a day evenly; {_CADENCE_FORMS}")
    return seconds


# --------------------------------------------------------------------------------------------
# Field checks: each raises ValueError with what would be right; tomlconfig adds "(found ...)".


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_cadence(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"not a cadence; {_CADENCE_FORMS}")
    parse_cadence(value)
    return value


def _check_horizon(value: Any) -> Any:
    if value is None:
        return None
    if not _is_int(value) or not 1 <= value <= 366:
        raise ValueError(
            "horizon_days is how many days ahead a probe reads the calendar: "
            "a whole number from 1 to 366, without quotes (horizon_days = 91)"
        )
    return value


def _check_enabled(value: Any) -> Any:
    if value is not None and not isinstance(value, bool):
        raise ValueError("write true or false, without quotes")
    return value


def _check_platform(value: Any) -> Any:
    if isinstance(value, str) and value in PLATFORMS:
        return value
    known = ", ".join(PLATFORMS)
    close = _closest_platform(value) if isinstance(value, str) else None
    hint = f"did you mean {close!r}? " if close else ""
    raise ValueError(f"unknown platform; {hint}the robot knows: {known}")


def _closest_platform(text: str) -> str | None:
    """The known platform a misspelling most likely means, if any."""
    found = difflib.get_close_matches(text.strip().lower(), PLATFORMS, n=1, cutoff=0.6)
    return found[0] if found else None


def _check_departement(value: Any) -> Any:
    if isinstance(value, str) and value in DEPARTEMENTS:
        return value
    if _is_int(value):
        code = f"{value:02d}"
        if code in DEPARTEMENTS:
            raise ValueError(
                f'write the département code as text, in quotes: departement = "{code}"'
            )
        raise ValueError(
            f"write the code as text, in quotes; no département is {code}: {_suggest(code)}"
        )
    if not isinstance(value, str):
        raise ValueError(f"expected a département code in quotes; {_CODE_FORMAT}")
    raise ValueError(f"unknown département code; {_suggest(value)}")


def _suggest(text: str) -> str:
    close = closest_codes(text)
    if close:
        listed = " or ".join(f'"{code}" ({DEPARTEMENTS[code]})' for code in close)
        return f"did you mean {listed}?"
    return _CODE_FORMAT


_CODE_FORMAT = (
    'a code is two digits ("38"), "2A" or "2B" for Corsica, or three digits overseas ("974", "988")'
)


def _check_planning(value: Any) -> Any:
    if value is None or (_is_int(value) and value >= 1):
        return value
    raise ValueError(
        "planning is the id of the counter to probe: a positive whole number, "
        "without quotes (planning = 4130)"
    )


def _check_text(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise ValueError("must not be empty")
    return _check_label(value)


def _check_label(value: Any) -> Any:
    """A name people read: one line of at most ``MAX_TEXT`` characters, without control, bidi,
    format (soft hyphen, tag characters) or invisible characters, which could hide or reorder
    what a reader sees: refused, not stripped, so that the file says what is published."""
    if not isinstance(value, str):
        return value
    if len(value) > MAX_TEXT:
        raise ValueError(f"too long: {len(value)} characters, at most {MAX_TEXT}")
    bad = unsafe_characters(value)
    if bad:
        raise ValueError(
            f"holds control, bidi, format or invisible characters ({', '.join(bad[:5])}); "
            "write plain text on one line"
        )
    return value


_HOST_NAME = re.compile(r"[^\s/:?#@\[\]]{1,253}")


def _check_other_hosts(value: Any) -> Any:
    """Hosts the booking path may lead to besides the URL's (a redirect, a form): names only."""
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(
            'other_hosts lists host names in quotes: other_hosts = ["rdv.example.gouv.fr"]'
        )
    if len(value) > 16:
        raise ValueError("other_hosts lists at most 16 hosts")
    for host in value:
        if not _HOST_NAME.fullmatch(host):
            raise ValueError(
                f"{host!r} is not a host name: write the name alone, without https:// or a path"
            )
    return tuple(value)


def host_problem(url: str, allow_local: bool) -> str | None:
    """What makes the URL's host unfit for a catalogue of real prefecture sites, or None.

    The robot's requests, archives and screenshots must not reach the robot's own network: a
    loopback, private or link-local address, a numeric address, ``localhost``, or a host name
    that mixes scripts (``gouv.fr`` with a Cyrillic letter) is refused. ``allow_local = true``
    at the top of the file lets loopback, private and numeric hosts through, for the simulator
    and tests only; link-local, multicast and unspecified addresses are never accepted."""
    host = (urlsplit(url).hostname or "").rstrip(".")
    hint = "; a catalogue of simulated sites says allow_local = true at its top"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        if address.is_link_local or address.is_multicast or address.is_unspecified:
            return f"the host {host} is a link-local, multicast or unspecified address"
        if allow_local:
            return None
        kind = "loopback" if address.is_loopback else "private" if address.is_private else ""
        return f"the host {host} is a numeric {kind} address, not a site's name{hint}".replace(
            "  ", " "
        )
    labels = host.split(".")
    if labels[-1].isdigit() or labels[-1].startswith("0x"):
        return f"the host {host} is a number in disguise (no top-level domain is numeric)"
    if host == "localhost" or host.endswith(".localhost"):
        return None if allow_local else f"the host {host} is this machine{hint}"
    for label in labels:
        try:
            shown = label.encode("ascii").decode("idna") if label.startswith("xn--") else label
        except (UnicodeError, ValueError):
            return f"the host label {label!r} is not valid punycode"
        scripts = mixed_scripts(shown)
        if scripts - {"LATIN"}:
            return (
                f"the host label {shown!r} ({label}) mixes scripts or uses a non-Latin one "
                f"({', '.join(sorted(scripts))}): a look-alike of another name"
            )
    return None


_REPOSITORY_PATH = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9_.-]+:[^\s:][^\s]*")
_SOURCE_FORMS = (
    'a web address ("https://…") or a repository and a path in it, '
    '"owner/name:path/to/file" (a GitHub repository)'
)


def _check_source(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"source says where this row was found: {_SOURCE_FORMS}")
    if _REPOSITORY_PATH.fullmatch(value):
        return value
    problem = _url_problem(value)
    if problem:
        raise ValueError(f"source is neither a URL nor a repository and path ({problem}); "
                         f"write {_SOURCE_FORMS}")  # fmt: skip
    return value


def _day_check(field: str, meaning: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
            return value
        hint = ""
        if isinstance(value, str):
            hint = f"; write the date without quotes, e.g. {field} = {value.strip()[:10]}"
        elif isinstance(value, datetime):
            hint = f"; write the day alone, {field} = {value.date().isoformat()}"
        raise ValueError(f"{field} is {meaning}: a TOML date like 2025-03-01{hint}")

    return check


READ_OUTCOMES: tuple[str, ...] = tuple(
    str(outcome) for outcome in (Outcome.AVAILABLE, Outcome.UNAVAILABLE, Outcome.BARRIER)
)
"""Outcomes ``catalogue verify`` records as ``last_outcome`` (a row read right)."""


def _check_outcome(value: Any) -> Any:
    if value is None or (isinstance(value, str) and value in READ_OUTCOMES):
        return value
    raise ValueError(
        "last_outcome is what the last `guichets catalogue verify` read: one of "
        + ", ".join(READ_OUTCOMES)
    )


Cadence = Annotated[str, BeforeValidator(_check_cadence)]
Horizon = Annotated[int, BeforeValidator(_check_horizon)]
Enabled = Annotated[bool, BeforeValidator(_check_enabled)]


def _url_problem(url: str) -> str | None:
    """What makes ``url`` unusable as an address to fetch, or None."""
    if any(char.isspace() for char in url):
        return "a URL has no spaces (write a space inside it as %20)"
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return "not a web address: it must start with https:// (or http://)"
    if not parts.hostname:
        return "the URL has no host name"
    if parts.username is not None or parts.password is not None:
        return "a booking URL carries no user name or password"
    try:
        parts.port  # noqa: B018  (evaluated for the error it raises)
    except ValueError:
        return "the URL's port is not a number from 0 to 65535"
    return None


def _url_example(platform: Any) -> str:
    if isinstance(platform, str) and platform in _EXAMPLE_URLS:
        return f"a booking URL on {platform} looks like {_EXAMPLE_URLS[platform]}"
    return f"a booking URL looks like {_EXAMPLE_URLS['ezbooking']}"


def _form_id(url: str) -> int | None:
    match = _FORM.search(urlsplit(url).path)
    return int(match.group(1)) if match else None


def _cross_checks(
    values: Mapping[str, Any], usable: Callable[[str], bool]
) -> list[tuple[str, str]]:
    """Rules between fields, as (field to blame, message); ``usable`` says which fields hold a
    valid value, so that one mistake is not reported twice."""
    found: list[tuple[str, str]] = []
    if usable("id") and usable("departement"):
        ident, code = values["id"], values["departement"]
        prefix = f"{code.lower()}-"
        if not ident.startswith(prefix):
            rest = ident.split("-", 1)[1]
            found.append(
                (
                    "id",
                    f"the id {ident!r} must start with {prefix!r}, the code of its département "
                    f"({code}, {DEPARTEMENTS[code]}), e.g. {prefix + rest!r}; or fix departement",
                )
            )
    platform = values.get("platform") if usable("platform") else None
    if platform in _URL_SHAPES and usable("url"):
        try:
            reader_for(platform).check_url(values["url"])
        except ValueError as exc:
            path = urlsplit(values["url"]).path or "/"
            found.append(
                (
                    "url",
                    f"an {platform} URL {_URL_SHAPES[platform]}, e.g. {_EXAMPLE_URLS[platform]} "
                    f"(found the path {path!r}; the reader says: {exc})",
                )
            )
    if values.get("source_date") is not None and values.get("source") is None:
        found.append(("source_date", "source_date dates a source: add source = URL too"))
    if (values.get("verified") is None) != (values.get("last_outcome") is None):
        missing = "last_outcome" if values.get("verified") is not None else "verified"
        found.append(
            (
                "verified" if missing == "last_outcome" else "last_outcome",
                f"verified and last_outcome go together (guichets catalogue verify writes "
                f"both); add {missing} or remove the other",
            )
        )
    planning = values.get("planning") if usable("planning") else None
    if planning is not None and platform is not None and platform != "ezbooking":
        found.append(
            (
                "planning",
                f"planning names a counter of the ezbooking platform; remove it for {platform}",
            )
        )
    return found


# --------------------------------------------------------------------------------------------
# Models


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Defaults(_Strict):
    """Values every service takes unless it sets its own: one place to change a cadence."""

    cadence: Cadence | None = None
    horizon_days: Horizon | None = None
    enabled: Enabled | None = None


class Service(_Strict):
    """One booking service to probe: a procedure at a site, on a platform, at a cadence."""

    id: str
    departement: Annotated[str, BeforeValidator(_check_departement)]
    site: Annotated[str, BeforeValidator(_check_text)]
    procedure: str
    platform: Annotated[str, BeforeValidator(_check_platform)]
    url: str  # after platform, so that its check can show that platform's URL shape
    planning: Annotated[int, BeforeValidator(_check_planning)] | None = None
    other_hosts: Annotated[tuple[str, ...], BeforeValidator(_check_other_hosts)] = ()
    cadence: Cadence
    horizon_days: Horizon = DEFAULT_HORIZON_DAYS
    label: Annotated[str, BeforeValidator(_check_label)] | None = None
    enabled: Enabled = True
    source: Annotated[str, BeforeValidator(_check_source)] | None = None
    source_date: (
        Annotated[date, BeforeValidator(_day_check("source_date", "the day the source was read"))]
        | None
    ) = None
    verified: (
        Annotated[
            date, BeforeValidator(_day_check("verified", "the day a live check read this row"))
        ]
        | None
    ) = None
    last_outcome: Annotated[str, BeforeValidator(_check_outcome)] | None = None
    # Set by ``load_catalogue`` from the file's ``allow_local = true`` (never from a row): the
    # probes of this service may connect to loopback and private addresses (``http.addresses``).
    _allow_local: bool = PrivateAttr(default=False)

    @property
    def allows_local(self) -> bool:
        """Whether the catalogue it came from says ``allow_local = true`` (simulated sites)."""
        return self._allow_local

    def __eq__(self, other: object) -> bool:
        """The same row whatever file it came from: the fields, not the file's setting."""
        if not isinstance(other, Service):
            return NotImplemented
        return self.__dict__ == other.__dict__

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.fullmatch(value):
            raise ValueError(
                'not an id like "38-grenoble-renouvellement": the département code, a dash, '
                "then lowercase letters, digits and dashes"
            )
        return value

    @field_validator("procedure")
    @classmethod
    def _procedure(cls, value: str) -> str:
        if not _SLUG.fullmatch(value):
            raise ValueError(
                'not a procedure slug like "renouvellement" or "titre-etudiant": '
                "lowercase letters, digits and dashes"
            )
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str, info: ValidationInfo) -> str:
        problem = _url_problem(value)
        if problem:
            raise ValueError(f"{problem}; {_url_example(info.data.get('platform'))}")
        return value

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Service:
        context = info.context
        if isinstance(context, dict) and context.get(_DEFER_CROSS_CHECKS):
            return self  # the file loader checks these itself, to blame the right line
        found = _cross_checks(self.model_dump(), lambda field: True)
        if found:
            raise ValueError("; ".join(f"{field}: {message}" for field, message in found))
        return self

    @property
    def cadence_seconds(self) -> int:
        """The period within which one probe happens, at a random instant."""
        return parse_cadence(self.cadence)

    @property
    def probes_per_day(self) -> float:
        """Probes this service costs the site each day (0 when disabled)."""
        return DAY / self.cadence_seconds if self.enabled else 0.0

    @property
    def host(self) -> str:
        """``scheme://host[:port]``: the unit of politeness (one request at a time per host)."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port is not None else ""
        return f"{parts.scheme.lower()}://{host}{port}"

    @property
    def form_id(self) -> int | None:
        """The legacy module's form id, read from an ezbooking URL; None on other platforms."""
        return _form_id(self.url) if self.platform == "ezbooking" else None


def _duplicate_message(ident: str, first: int | None) -> str:
    where = f"on line {first}" if first is not None else "earlier"
    return f"the id {ident!r} is already used {where}; each service needs its own id"


class Catalogue(_Strict):
    """The services of one catalogue file, with the file's digest so that every probe can say
    which version of the catalogue scheduled it."""

    services: tuple[Service, ...]
    source: Path
    digest: str  # sha256 of the file's bytes, hex
    defaults: Defaults = Field(default_factory=Defaults)
    allow_local: bool = False  # loopback and numeric hosts allowed: simulator and tests only
    _by_id: Mapping[str, Service] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _unique(self) -> Catalogue:
        seen: set[str] = set()
        for service in self.services:
            if service.id in seen:
                raise ValueError(_duplicate_message(service.id, None))
            seen.add(service.id)
        return self

    def model_post_init(self, context: Any, /) -> None:
        self._by_id = MappingProxyType({service.id: service for service in self.services})

    @property
    def by_id(self) -> Mapping[str, Service]:
        """Services by id (read-only)."""
        return self._by_id


class _CatalogueFile(_Strict):
    """The file as written: what the TOML may hold, for validation and "did you mean" hints."""

    allow_local: Enabled = False
    defaults: Defaults | None = None
    services: list[Service] = Field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Loading


def load_catalogue(path: Path | str) -> Catalogue:
    """Read and check a catalogue file; ConfigError lists every problem, each at its line."""
    path = Path(path)
    file = str(path)
    data, index, digest = _read(path)

    raw_defaults = data.get("defaults")
    defaults, broken_defaults = _usable_defaults(raw_defaults)
    raw_services = data.get("services")
    entries: list[Any] = raw_services if isinstance(raw_services, list) else []
    merged = [{**defaults, **entry} if isinstance(entry, dict) else entry for entry in entries]
    document = {**data, "services": merged} if isinstance(raw_services, list) else data

    problems: list[Problem] = []
    invalid: set[tuple[int, str]] = set()
    parsed: _CatalogueFile | None = None
    try:
        parsed = _CatalogueFile.model_validate(document, context={_DEFER_CROSS_CHECKS: True})
    except pydantic.ValidationError as error:
        for details in error.errors(include_url=False):
            loc = details["loc"]
            if len(loc) >= 3 and loc[0] == "services" and isinstance(loc[1], int):
                invalid.add((loc[1], str(loc[2])))
        for problem in problems_from_validation(error, index, file, model=_CatalogueFile):
            reworded = _reword_missing(problem, broken_defaults)
            if reworded is not None:
                problems.append(reworded)

    allow_local = data.get("allow_local") is True
    seen: dict[str, int] = {}
    for number, entry in enumerate(merged):
        if not isinstance(entry, dict):
            continue

        url = entry.get("url")
        if isinstance(url, str) and (number, "url") not in invalid and _url_problem(url) is None:
            unfit = host_problem(url, allow_local)
            if unfit is not None:
                problems.append(_problem(file, index, ("services", number, "url"), unfit))
        others = entry.get("other_hosts")
        if isinstance(others, list) and (number, "other_hosts") not in invalid:
            for host in others:
                unfit = (
                    host_problem(f"https://{host}/", allow_local) if isinstance(host, str) else None
                )
                if unfit is not None:
                    where = ("services", number, "other_hosts")
                    problems.append(_problem(file, index, where, unfit))

        def usable(field: str, number: int = number, entry: dict[str, Any] = entry) -> bool:
            return field in entry and (number, field) not in invalid

        for field, message in _cross_checks(entry, usable):
            problems.append(_problem(file, index, ("services", number, field), message))
        ident = entry.get("id")
        if isinstance(ident, str):
            if ident in seen:
                first = index.line_of(("services", seen[ident], "id"))
                message = _duplicate_message(ident, first)
                problems.append(_problem(file, index, ("services", number, "id"), message))
            else:
                seen[ident] = number

    if raw_services is None or raw_services == []:
        message = "the catalogue lists no service; add a [[services]] table for each one to probe"
        problems.append(Problem(file, index.line_of(("services",)), "", message))

    if problems or parsed is None:
        problems.sort(key=lambda problem: (problem.line is not None, problem.line or 0))
        raise ConfigError(path, problems)
    for service in parsed.services:
        service._allow_local = allow_local
    return Catalogue(
        services=tuple(parsed.services),
        source=path,
        digest=digest,
        defaults=parsed.defaults or Defaults(),
        allow_local=allow_local,
    )


def _read(path: Path) -> tuple[dict[str, Any], LineIndex, str]:
    """Parse the file and hash the very bytes parsed, even if someone saves it meanwhile."""
    try:
        size = path.stat().st_size
    except OSError:
        size = 0  # read_toml says why the file cannot be read
    if size > MAX_FILE_BYTES:
        message = f"the file is {size} bytes; a catalogue is at most {MAX_FILE_BYTES}"
        raise ConfigError(path, [Problem(str(path), None, "", message)])
    for _ in range(3):
        try:
            before: bytes | None = path.read_bytes()
        except OSError:
            before = None
        data, index = read_toml(path)  # raises ConfigError for a missing or unreadable file
        try:
            after: bytes | None = path.read_bytes()
        except OSError:
            after = None
        if before is not None and before == after:
            return data, index, hashlib.sha256(before).hexdigest()
    message = "the file kept changing while it was read; try again"
    raise ConfigError(path, [Problem(str(path), None, "", message)])


def _usable_defaults(raw: Any) -> tuple[dict[str, Any], set[str]]:
    """The ``[defaults]`` values that are valid (to apply) and the keys that are not (whose
    absence from a service must not be reported again: the defaults line is the one to fix)."""
    if not isinstance(raw, dict):
        return {}, set()
    usable: dict[str, Any] = {}
    broken: set[str] = set()
    for key, value in raw.items():
        if key not in Defaults.model_fields:
            continue
        try:
            Defaults.model_validate({key: value})
        except pydantic.ValidationError:
            broken.add(key)
        else:
            usable[key] = value
    return usable, broken


_MISSING_IN_SERVICE = re.compile(r"services\[\d+\]\.([a-z_]+)")


def _reword_missing(problem: Problem, broken_defaults: set[str]) -> Problem | None:
    """Say that a missing cadence can also come from ``[defaults]``; drop a missing key whose
    default is itself wrong (reported once, at the defaults line)."""
    match = _MISSING_IN_SERVICE.fullmatch(problem.where)
    if match is None or not problem.message.startswith("missing required key"):
        return problem
    key = match.group(1)
    if key in broken_defaults:
        return None
    if key == "cadence":
        message = (
            'missing cadence; add cadence = "1h" (or "30m", "3h", "1d"...) to this service, '
            "or to a [defaults] table for all services"
        )
        return Problem(problem.file, problem.line, problem.where, message, problem.column)
    return problem


def _problem(file: str, index: LineIndex, loc: tuple[str | int, ...], message: str) -> Problem:
    _, line, column = index.where(loc)
    return Problem(file, line, format_loc(loc), message, column)


# --------------------------------------------------------------------------------------------
# Writing


_FIELD_ORDER = tuple(Service.model_fields)


def catalogue_to_toml(services: Sequence[Service], defaults: Defaults | None = None) -> str:
    """A catalogue file that loads back to the same services (the demo writes the catalogue of
    the simulated sites with it, opening with ``allow_local = true``). Values equal to what a
    service would get anyway (from ``defaults`` or the built-in default) are left out, so the
    file reads like a hand-written one.
    """
    idents = [service.id for service in services]
    repeated = sorted({ident for ident in idents if idents.count(ident) > 1})
    if repeated:
        raise ValueError(f"service ids repeat: {', '.join(repeated)}")
    document = tomlkit.document()
    if any(host_problem(service.url, allow_local=False) for service in services) and all(
        host_problem(service.url, allow_local=True) is None for service in services
    ):
        # Simulated sites on loopback: the file says so, as a hand-written one must.
        document.add("allow_local", True)
        document.add(tomlkit.comment("simulated sites on this machine: tests and the demo only"))
    implied: dict[str, Any] = {}
    for name, info in Service.model_fields.items():
        if not info.is_required():
            implied[name] = info.default
    if defaults is not None:
        given = {key: value for key, value in defaults.model_dump().items() if value is not None}
        if given:
            table = tomlkit.table()
            for key, value in given.items():
                table.add(key, value)
            document.add("defaults", table)
        implied.update(given)
    rows = tomlkit.aot()
    for service in services:
        rows.append(service_table(service, implied))
    document.add("services", rows)
    return tomlkit.dumps(document)


def service_table(service: Service, implied: Mapping[str, Any] | None = None) -> Any:
    """One ``[[services]]`` table in the file's field order, leaving out what ``implied`` (the
    defaults a loader would apply) gives anyway; ``catalogue add`` appends these."""
    table = tomlkit.table()
    for name in _FIELD_ORDER:
        value = getattr(service, name)
        if implied is not None and name in implied and value == implied[name]:
            continue
        if value == ():
            continue  # an empty list is the default
        if isinstance(value, tuple):
            value = list(value)
        if value is None:
            if implied is not None and name in implied:
                # only possible for an optional field that a default set; TOML has no null
                raise ValueError(f"service {service.id}: {name} cannot be written as absent")
            continue
        table.add(name, value)
    return table


# --------------------------------------------------------------------------------------------
# Checking, for the command line


def check_report(path: Path | str) -> tuple[int, str]:
    """Exit code (0 fine, 2 problems) and what ``guichets catalogue check`` prints: a summary, or
    every problem on its own line as ``FILE:LINE: where: message``."""
    try:
        catalogue = load_catalogue(path)
    except ConfigError as error:
        return 2, format_problems(error.problems)
    return 0, _summary(catalogue)


def _summary(catalogue: Catalogue) -> str:
    services = catalogue.services
    enabled = [service for service in services if service.enabled]
    order = {code: number for number, code in enumerate(DEPARTEMENTS)}
    codes = sorted({service.departement for service in services}, key=order.__getitem__)
    platforms = {name: 0 for name in PLATFORMS}
    for service in services:
        platforms[service.platform] += 1
    per_day = sum(service.probes_per_day for service in services)
    per_day_text = f"{per_day:.0f}" if per_day == round(per_day) else f"{per_day:.1f}"
    used = ", ".join(f"{name} {count}" for name, count in platforms.items() if count)
    hosts = {service.host for service in enabled}
    sourced = sum(1 for service in services if service.source is not None)
    verified = [service.verified for service in services if service.verified is not None]
    last = f", the last on {max(verified).isoformat()}" if verified else ""
    return "\n".join(
        [
            f"{catalogue.source}: ok (sha256 {catalogue.digest[:12]})",
            f"services: {len(services)} ({len(enabled)} enabled)",
            f"départements: {len(codes)} ({', '.join(codes)})",
            f"platforms: {used}",
            f"sources: {sourced} of {len(services)} rows name theirs; "
            f"verified live: {len(verified)}{last}",
            f"probes per day: {per_day_text} (enabled services, at their cadences, "
            f"on {len(hosts)} hosts)",
        ]
    )
