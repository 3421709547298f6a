"""What a probe found: plain data, no I/O.

Every probe ends in exactly one :class:`Outcome`. Only ``available`` and ``unavailable`` are
measurements of availability; a barrier, a site error or a page the robot could not read is kept
apart and never counted as "no slot".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

__all__ = [
    "MONTH",
    "PARIS",
    "PERSON_ID",
    "Category",
    "Detail",
    "Extra",
    "Observation",
    "Outcome",
    "Step",
    "categorise",
    "unique_instants",
]

PARIS = ZoneInfo("Europe/Paris")
# An assisted probe's person: an opaque id drawn by guichets (``p-`` and hex), never a name; its
# shape also makes it safe in a file name, a ZIP member, HTML and a spreadsheet cell.
PERSON_ID = re.compile(r"p-[0-9a-z]{1,32}")
MONTH = timedelta(days=30)  # "one month" of the original robot's categories


def unique_instants(instants: Iterable[datetime]) -> tuple[datetime, ...]:
    """Sorted, unique by instant: 02:30 before and after the autumn clock change are two slots,
    though Python compares wall-clock times of one zone as equal."""
    by_stamp = {i.timestamp(): i for i in instants}
    return tuple(by_stamp[k] for k in sorted(by_stamp))


class Outcome(StrEnum):
    AVAILABLE = "available"
    UNAVAILABLE = "unavailable"
    BARRIER = "barrier"
    SITE_ERROR = "site_error"
    UNRECOGNIZED = "unrecognized"

    @property
    def valid(self) -> bool:
        """Whether the probe measured availability (the denominator of the failure rate)."""
        return self in (Outcome.AVAILABLE, Outcome.UNAVAILABLE)


class Detail(StrEnum):
    """Why a probe ended as it did. Readers may add a platform's own, documented, details."""

    # available / unavailable
    SLOTS_SEEN = "slots_seen"
    NO_SLOT_PAGE = "no_slot_page"  # the platform's own "no slot" message
    NONE_WITHIN_HORIZON = "none_within_horizon"  # grids read to the horizon, nothing free
    # barrier
    CAPTCHA = "captcha"
    BLOCKED = "blocked"
    RATE_LIMITED = "rate_limited"
    ROBOTS = "robots"
    LOGIN = "login"
    # site_error
    CLOSED = "closed"
    OVERLOADED = "overloaded"
    TIMEOUT = "timeout"
    NETWORK = "network"
    TOO_LARGE = "too_large"
    REDIRECT_LOOP = "redirect_loop"
    OFF_SITE = "off_site"  # a redirect or form leading to a host the catalogue does not allow
    CIRCUIT_OPEN = "circuit_open"
    APP_ERROR = "app_error"  # the platform's own error page (eAppointment's "Erreur")
    # unrecognized
    LAYOUT_CHANGED = "layout_changed"
    UNEXPECTED_PAGE = "unexpected_page"
    UNREADABLE_GRID = "unreadable_grid"
    COUNTER_MISSING = "counter_missing"
    SESSION_LOST = "session_lost"
    NOT_HTML = "not_html"
    INCONSISTENT_PAGE = "inconsistent_page"  # the page's data and its markup disagree
    BOOKING_STEP_REFUSED = "booking_step_refused"  # the guard refused; nothing was sent

    @staticmethod
    def http(status: int) -> str:
        """``http_502`` and the like: the status is the finding."""
        return f"http_{status}"


class Extra(StrEnum):
    """Keys of ``Observation.extra``: what a platform told beyond the outcome, kept as findings
    (the statistics report them, e.g. "captcha on 100 % of probes", by kind)."""

    WEEKS_READ = "weeks_read"  # how many week pages or grids were read
    CAPTCHA = "captcha"  # the captcha met: "captchetat", "controle" (legacy), "ppolice"
    CAPTCHA_STYLE = "captcha_style"  # CaptchEtat's style name, e.g. "captchaFR"
    FIREWALL = "firewall"  # the firewall whose block page was met: "imperva"
    FIREWALL_INCIDENT = "firewall_incident"  # the incident number on its block page
    NEXT_RELEASE = "next_release"  # announced next release of slots (ISO 8601, Paris)
    LAST_RELEASE = "last_release"  # announced last release of slots (ISO 8601, Paris)
    FIRST_AVAILABLE_DAY = "first_available_day"  # the platform's own first available date
    AVAILABLE_DAYS = "available_days"  # days shown as available, ISO dates, comma-separated
    NO_SLOT_MESSAGE = "no_slot_message"  # which of the platform's no-slot wordings was shown
    COUNTERS_OFFERED = "counters_offered"  # the counters (or motives) offered, comma-separated


class Category(StrEnum):
    """The original robot's five categories, relative to the probe's own time."""

    A = "A"  # at least two dates within one month
    B = "B"  # only one date within one month
    C = "C"  # first date between one and two months
    D = "D"  # first date beyond two months
    E = "E"  # no date available


def categorise(outcome: Outcome, slots: tuple[datetime, ...], at: datetime) -> Category | None:
    """A-E for a valid probe, None otherwise (a barrier is not a category E)."""
    if not outcome.valid:
        return None
    if not slots:
        return Category.E
    within = [s for s in slots if s - at <= MONTH]
    if len(within) >= 2:
        return Category.A
    if within:
        return Category.B
    if slots[0] - at <= 2 * MONTH:
        return Category.C
    return Category.D


@dataclass(frozen=True, slots=True)
class Step:
    """One request of a probe, for the record: the path followed and when."""

    method: str
    url: str
    status: int | None
    at: datetime  # UTC, when the request was sent
    note: str = ""


@dataclass(frozen=True)
class Observation:
    """One probe of one service: what a person would have found at that moment."""

    probe_id: str
    service: str
    platform: str
    url: str
    started_at: datetime  # UTC
    finished_at: datetime  # UTC
    outcome: Outcome
    detail: str
    slots: tuple[datetime, ...] = ()  # Europe/Paris wall-clock, sorted, unique, within the horizon
    horizon_end: datetime | None = None  # Europe/Paris: the last instant searched
    counter: str | None = None  # the counter (planning) probed
    requests: int = 0
    http_status: int | None = None  # of the last response
    message: str = ""  # a sentence for people: what was seen
    departement: str | None = None
    trail: tuple[Step, ...] = ()
    kept_page: bytes | None = field(default=None, repr=False)  # for unrecognized pages
    kept_url: str | None = None
    cpu_seconds: float = 0.0
    extra: dict[str, str] = field(default_factory=dict)  # platform findings, e.g. next release
    # A read made in a session whose captcha a person answered (guichets assist): never part of
    # the robot's random sample, reported apart (docs/human-assisted.md). ``person`` is an
    # opaque id, never a name.
    assisted: bool = False
    person: str | None = None

    def __post_init__(self) -> None:
        if self.started_at.utcoffset() is None or self.finished_at.utcoffset() is None:
            raise ValueError("probe instants must be timezone-aware")
        if self.person is not None and not self.assisted:
            raise ValueError("only an assisted probe has a person")
        if self.person is not None and not PERSON_ID.fullmatch(self.person):
            raise ValueError("a probe's person is an opaque id (p-…), never a name")
        stamps = [s.timestamp() for s in self.slots]
        if any(s.utcoffset() is None for s in self.slots) or stamps != sorted(set(stamps)):
            raise ValueError("slots must be aware, sorted and unique instants")
        if self.slots and self.outcome is not Outcome.AVAILABLE:
            raise ValueError(f"a probe with slots cannot be {self.outcome}")
        if self.outcome is Outcome.AVAILABLE and not self.slots:
            raise ValueError("an available probe must hold its slots")

    @property
    def first_slot(self) -> datetime | None:
        return self.slots[0] if self.slots else None

    @property
    def category(self) -> Category | None:
        return categorise(self.outcome, self.slots, self.started_at)

    @property
    def duration(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    def to_json(self) -> dict[str, object]:
        """The ``guichets probe --json`` contract (and the export's row)."""
        return {
            "probe_id": self.probe_id,
            "service": self.service,
            "departement": self.departement,
            "platform": self.platform,
            "url": self.url,
            "counter": self.counter,
            "outcome": str(self.outcome),
            "detail": self.detail,
            "category": None if self.category is None else str(self.category),
            "slots": [s.isoformat() for s in self.slots],
            "first_slot": None if self.first_slot is None else self.first_slot.isoformat(),
            "slots_count": len(self.slots),
            "horizon_end": None if self.horizon_end is None else self.horizon_end.isoformat(),
            "requests": self.requests,
            "http_status": self.http_status,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "duration_seconds": round(self.duration, 3),
            "message": self.message,
            "assisted": self.assisted,
            "person": self.person,
            "extra": dict(self.extra),
            "trail": [
                {"method": s.method, "url": s.url, "status": s.status, "at": s.at.isoformat()}
                for s in self.trail
            ],
        }
