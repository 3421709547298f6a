"""Scenario files: which fake prefecture sites the simulator hosts and how each one behaves.

A scenario is a TOML file (see ``scenarios/france-demo.toml``), validated here so that a typo in a
parameter gives a message with its line instead of a silently different simulation.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from guichets.clock import ensure_utc
from guichets.tomlconfig import ConfigError, Problem, load_model

__all__ = [
    "BlockConfig",
    "CounterConfig",
    "ModelConfig",
    "OutageConfig",
    "OutageSpell",
    "ScenarioConfig",
    "ServiceConfig",
    "SiteConfig",
    "ThrottleConfig",
    "WindowChange",
    "bundled_scenarios",
    "load_scenario",
]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
OutageKind = Literal["http_502", "http_503", "http_504", "overloaded", "closed", "firewall"]
Platform = Literal["ezbooking", "rdvpref", "eappointment"]
PageVariant = Literal["standard", "early", "small-screen", "soonest"]
# What each platform may set, beside the defaults every platform accepts.
PLATFORM_VARIANTS: dict[str, tuple[str, ...]] = {
    "ezbooking": ("standard",),
    "rdvpref": ("standard", "early", "small-screen"),
    "eappointment": ("standard", "soonest"),
}
# Presentation variants a site may combine (``variants = [...]``): what a person sees stays the
# same, the markup changes as real sites' markup does (docs/simulator.md, "Presentation variants").
PRESENTATION_VARIANTS: dict[str, tuple[str, ...]] = {
    "ezbooking": ("button-tag", "script-url", "english", "reordered", "time-cells"),
    "rdvpref": ("form-action", "input-submit", "accept-box"),
    "eappointment": ("button-tag", "reordered"),
}
_GATEWAY_KINDS = frozenset({"http_502", "http_503", "http_504", "firewall"})
PLATFORM_OUTAGES: dict[str, frozenset[str]] = {
    "ezbooking": _GATEWAY_KINDS | {"overloaded", "closed"},
    "rdvpref": _GATEWAY_KINDS,
    "eappointment": _GATEWAY_KINDS | {"overloaded", "closed"},
}
_DEFAULT_KINDS: tuple[OutageKind, ...] = ("http_502",)
_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_SITEKEY = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_POSTCODE = re.compile(r"^\d[0-9AB]\d{3}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("needs a timezone offset, e.g. 2026-01-05T09:00:00+01:00")
    return ensure_utc(value)


class WindowChange(_Strict):
    """From ``at`` on, slots become bookable ``window_days`` ahead: a prefecture's new policy."""

    at: datetime
    window_days: Annotated[int, Field(ge=1, le=366)]

    _utc = field_validator("at")(_aware)


class OutageSpell(_Strict):
    """A scheduled outage, e.g. a form closed for a week."""

    start: datetime
    end: datetime
    kind: OutageKind

    _utc = field_validator("start", "end")(_aware)

    @model_validator(mode="after")
    def _ordered(self) -> OutageSpell:
        if self.end <= self.start:
            raise ValueError("end must come after start")
        return self


class OutageConfig(_Strict):
    """Random outages: spells start as a Poisson process and last an exponential time."""

    per_week: Annotated[float, Field(ge=0)] = 0.0
    mean_minutes: Annotated[float, Field(gt=0)] = 45.0
    kinds: list[OutageKind] = Field(default_factory=lambda: list(_DEFAULT_KINDS), min_length=1)
    scheduled: list[OutageSpell] = Field(default_factory=list)


class ModelConfig(_Strict):
    """The ground-truth model of one counter's calendar and of the people who book it."""

    opening_days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS[:5]))
    opening_hours: list[str] = Field(default_factory=lambda: ["09:00-12:00", "13:30-16:00"])
    slot_minutes: Annotated[int, Field(ge=5, le=240)] = 15
    closed_dates: list[date] = Field(default_factory=list)
    window_days: Annotated[int, Field(ge=1, le=366)] = 30
    window_changes: list[WindowChange] = Field(default_factory=list)
    release: Literal["continuous", "daily", "weekly"] = "continuous"
    release_time: str = "00:00"
    release_weekday: Weekday = "mon"
    min_lead_hours: Annotated[float, Field(ge=0)] = 2.0
    demand_per_hour: Annotated[float, Field(ge=0)] = 1.0
    demand_profile: Literal["flat", "office"] = "office"
    earliest_share: Annotated[float, Field(ge=0, le=1)] = 0.7
    cancel_probability: Annotated[float, Field(ge=0, le=1)] = 0.05

    @field_validator("opening_hours")
    @classmethod
    def _hours(cls, value: list[str]) -> list[str]:
        for item in value:
            match = _HOURS.match(item)
            if not match or item[:5] >= item[6:]:
                raise ValueError(f"{item!r} is not a span like '09:00-12:00'")
        return value

    @field_validator("release_time")
    @classmethod
    def _time(cls, value: str) -> str:
        try:
            time.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a time like '14:00'") from exc
        return value

    @field_validator("window_changes")
    @classmethod
    def _sorted(cls, value: list[WindowChange]) -> list[WindowChange]:
        if any(b.at <= a.at for a, b in pairwise(value)):
            raise ValueError("window changes must be listed in time order")
        return value


class CounterConfig(_Strict):
    """A counter (``planning`` in the legacy module): its own calendar of slots."""

    id: Annotated[int, Field(ge=1)]
    label: str
    model: ModelConfig | None = None


class ServiceConfig(_Strict):
    """One procedure at one site: a booking form, with one or more counters."""

    id: str
    procedure: str
    title: str
    form_id: Annotated[int, Field(ge=1)]
    counters: list[CounterConfig] = Field(min_length=1)
    model: ModelConfig = Field(default_factory=ModelConfig)
    outages: OutageConfig = Field(default_factory=OutageConfig)
    notice: bool = False
    step2_page: bool = False
    layout_change_at: datetime | None = None
    captcha: bool = True  # rdvpref: the CaptchEtat gate on the conditions page
    # ezbooking: an image captcha on the conditions page, the legacy module's « Contrôle de
    # sécurité » or the Préfecture de police's own (fields captchaimg / captchacode)
    security_check: Literal["none", "controle", "ppolice"] = "none"
    sitekey: str | None = None  # eappointment: the site (office) whose calendar this is
    postcodes: list[str] = Field(default_factory=list)  # eappointment: entry page's routing

    @field_validator("sitekey")
    @classmethod
    def _sitekey(cls, value: str | None) -> str | None:
        if value is not None and not _SITEKEY.match(value):
            raise ValueError(f"{value!r} is not a sitekey like 'P941' (letters, digits)")
        return value

    @field_validator("postcodes")
    @classmethod
    def _postcodes(cls, value: list[str]) -> list[str]:
        for code in value:
            if not _POSTCODE.match(code):
                raise ValueError(f"{code!r} is not a postcode like '94000' (five characters)")
        return value

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not re.match(r"^(\d[0-9ab]|\d{3})-[a-z0-9-]+$", value):
            raise ValueError(
                f"{value!r} is not a service id like '38-grenoble-renouvellement' "
                "(département code, dash, lowercase words)"
            )
        return value

    @field_validator("layout_change_at")
    @classmethod
    def _layout_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _aware(value)

    @model_validator(mode="after")
    def _unique_counters(self) -> ServiceConfig:
        ids = [c.id for c in self.counters]
        if len(ids) != len(set(ids)):
            raise ValueError(f"counter ids repeat in service {self.id}: {ids}")
        return self

    def model_for(self, counter: CounterConfig) -> ModelConfig:
        return counter.model or self.model


class ThrottleConfig(_Strict):
    """Clients that send more than ``max_requests`` within ``per_seconds`` get refused."""

    max_requests: Annotated[int, Field(ge=1)]
    per_seconds: Annotated[float, Field(gt=0)]
    status: Literal[429, 502] = 429
    retry_after: Annotated[int, Field(ge=0)] = 30


class BlockConfig(_Strict):
    """403 for clients that burst, for a while; or always, for some User-Agents."""

    burst: Annotated[int, Field(ge=1)] | None = None
    burst_seconds: Annotated[float, Field(gt=0)] = 10.0
    blocked_minutes: Annotated[float, Field(gt=0)] = 60.0
    user_agents: list[str] = Field(default_factory=list)

    @field_validator("user_agents")
    @classmethod
    def _regexes(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from exc
        return value


class SiteConfig(_Strict):
    """A prefecture web site (one host) serving one booking platform."""

    slug: str
    name: str
    host: str
    departement: str
    platform: Platform = "ezbooking"
    page_variant: PageVariant = "standard"
    variants: list[str] = Field(default_factory=list)
    index_php: bool = False
    header_language: Literal["fr", "en"] = "fr"
    offset_origin: Literal["today"] | date = "today"
    robots: Literal["allow", "disallow", "missing", "error"] = "allow"
    throttle: ThrottleConfig | None = None
    block: BlockConfig | None = None
    services: list[ServiceConfig] = Field(min_length=1)

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.match(value) or value.startswith("_"):
            raise ValueError(f"{value!r} is not a slug like 'isere' (lowercase, digits, dashes)")
        return value

    @model_validator(mode="after")
    def _fits_platform(self) -> SiteConfig:
        """Keys that mean something on one platform only are refused on the others, so that a
        scenario never silently simulates something other than what it says."""
        problems = _platform_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _platform_problems(site: SiteConfig) -> list[str]:
    platform = site.platform
    found: list[str] = []
    variants = PLATFORM_VARIANTS[platform]
    if site.page_variant not in variants:
        allowed = ", ".join(repr(v) for v in variants)
        found.append(f"page_variant {site.page_variant!r} is not one of {platform}'s ({allowed})")
    known = PRESENTATION_VARIANTS[platform]
    unknown = [v for v in site.variants if v not in known]
    if unknown:
        allowed = ", ".join(repr(v) for v in known)
        found.append(f"variants {unknown} are not among {platform}'s ({allowed})")
    if platform != "ezbooking":
        legacy = {
            "index_php": site.index_php,
            "header_language": site.header_language != "fr",
            "offset_origin": site.offset_origin != "today",
        }
        found += [f"{key} applies to ezbooking sites only" for key, on in legacy.items() if on]
    for service in site.services:
        where = f"service {service.id}"
        if platform != "ezbooking":
            if len(service.counters) != 1:
                found.append(f"{where}: a {platform} service has exactly one counter")
            for key in ("notice", "step2_page", "layout_change_at"):
                if getattr(service, key):
                    found.append(f"{where}: {key} applies to ezbooking services only")
        if platform != "rdvpref" and not service.captcha:
            found.append(f"{where}: captcha applies to rdvpref démarches only")
        if platform != "ezbooking" and service.security_check != "none":
            found.append(f"{where}: security_check applies to ezbooking services only")
        if platform == "eappointment" and service.sitekey is None:
            found.append(f"{where}: an eappointment service needs its sitekey, e.g. 'P941'")
        if platform != "eappointment" and (service.sitekey is not None or service.postcodes):
            found.append(f"{where}: sitekey and postcodes apply to eappointment services only")
        outages = service.outages
        kinds = {s.kind for s in outages.scheduled} | (
            set(outages.kinds) if outages.per_week > 0 else set()
        )
        wrong = sorted(kinds - PLATFORM_OUTAGES[platform])
        if wrong:
            allowed = ", ".join(sorted(PLATFORM_OUTAGES[platform]))
            found.append(f"{where}: outage kinds {wrong} do not exist on {platform} ({allowed})")
    return found


class ScenarioInfo(_Strict):
    name: str
    description: str = ""
    seed: int = 0
    start: datetime

    _utc = field_validator("start")(_aware)


class ScenarioConfig(_Strict):
    """The whole file."""

    scenario: ScenarioInfo
    sites: list[SiteConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> ScenarioConfig:
        seen: dict[str, str] = {}
        for site in self.sites:
            if site.slug in seen:
                raise ValueError(f"site slug {site.slug!r} is used twice")
            seen[site.slug] = "site"
            for service in site.services:
                if service.id in seen:
                    raise ValueError(f"service id {service.id!r} is used twice")
                seen[service.id] = "service"
            # eAppointment's motive keys repeat across its sitekeys; a pair names one calendar.
            forms = [(s.sitekey or "", s.form_id) for s in site.services]
            if len(forms) != len(set(forms)):
                shown = [f"{k}/{f}" if k else f for k, f in forms]
                raise ValueError(f"form ids repeat within site {site.slug!r}: {shown}")
        return self


def bundled_scenarios() -> list[str]:
    """Names of the scenarios shipped with the package."""
    folder = resources.files("guichets.simulator") / "scenarios"
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def load_scenario(name_or_path: str | Path) -> ScenarioConfig:
    """Load a bundled scenario by name, or a scenario file by path."""
    text = str(name_or_path)
    if text in bundled_scenarios():
        ref = resources.files("guichets.simulator") / "scenarios" / f"{text}.toml"
        with resources.as_file(ref) as path:
            return load_model(path, ScenarioConfig)
    path = Path(text)
    if not path.exists():
        names = ", ".join(bundled_scenarios())
        raise ConfigError(
            path,
            [Problem(text, None, "", f"no such file, and not a bundled scenario ({names})")],
        )
    return load_model(path, ScenarioConfig)
