"""The reader contract, and the classification every platform shares.

Readers decide on positive evidence only. The shared checks here turn what is not a booking page
(a refusal, a gateway error, an overload page, a captcha) into a barrier or a site error; whatever
a reader cannot recognise becomes ``unrecognized`` with the page kept.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Protocol
from urllib.parse import SplitResult, urlsplit

from guichets.http import FetchError, PoliteSession, Response
from guichets.model import Detail, Extra, Outcome

__all__ = [
    "Reader",
    "Reading",
    "Target",
    "classify_fetch_error",
    "classify_page",
    "classify_status",
    "normalise_space",
    "unrecognized",
]


@dataclass(frozen=True)
class Target:
    """What to probe: a booking URL, the counter, how far ahead to look."""

    url: str
    counter: str | None = None
    horizon_days: int = 91
    other_hosts: tuple[str, ...] = ()  # hosts besides the URL's the path may lead to
    allow_local: bool = False  # host names may resolve to loopback/private addresses (simulator)


@dataclass(frozen=True)
class Reading:
    """What a reader concluded; the probe adds identity, timing and the trail."""

    outcome: Outcome
    detail: str
    message: str
    slots: tuple[datetime, ...] = ()
    horizon_end: datetime | None = None
    counter: str | None = None
    http_status: int | None = None
    kept_page: bytes | None = None
    kept_url: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


class Reader(Protocol):
    """One booking platform's reader."""

    name: ClassVar[str]

    def check_url(self, url: str) -> None:
        """Raise ValueError, saying what a URL of this platform looks like, for a wrong one."""
        ...

    async def read(self, session: PoliteSession, target: Target, now: datetime) -> Reading:
        """Walk to the availability page and read it. Never books."""
        ...


def http_parts(url: str) -> SplitResult:
    """The parts of an http(s) URL with a host, or ValueError: where every reader's
    ``check_url`` starts, before it says what its own platform's URLs look like."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{url!r} is not an http(s) URL")
    return parts


def slots_seen(slots: tuple[datetime, ...], status: int, extra: dict[str, str]) -> Reading:
    """Free slots were read (``slots`` sorted, not empty): the reading of the readers that walk
    week after week (ezbooking's grids, RDV-Préfecture's pages)."""
    return Reading(
        Outcome.AVAILABLE,
        Detail.SLOTS_SEEN,
        f"{len(slots)} free slot(s) seen, the first on {slots[0]:%Y-%m-%d %H:%M}",
        slots=slots,
        http_status=status,
        extra=extra,
    )


def normalise_space(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def unrecognized(detail: str, message: str, response: Response | None) -> Reading:
    """A page the reader could not classify: never "no slot"; the page is kept for people."""
    return Reading(
        Outcome.UNRECOGNIZED,
        detail,
        message,
        http_status=response.status if response else None,
        kept_page=response.body if response else None,
        kept_url=response.url if response else None,
    )


def classify_fetch_error(error: FetchError) -> Reading:
    """A request that did not complete: the robot's politeness, or the site's failure."""
    barrier = {Detail.ROBOTS, Detail.RATE_LIMITED, Detail.OFF_SITE}
    outcome = Outcome.BARRIER if error.detail in barrier else Outcome.SITE_ERROR
    return Reading(outcome, error.detail, error.message)


def classify_status(response: Response) -> Reading | None:
    """Statuses that are findings in themselves; None for a 200 whose content must be read."""
    status = response.status
    if status == 200:
        return None
    if status == 403:
        return Reading(
            Outcome.BARRIER, Detail.BLOCKED, f"the site refused the robot (HTTP 403) at "
            f"{response.url}", http_status=status, kept_page=response.body, kept_url=response.url,
        )  # fmt: skip
    if status == 429:
        return Reading(
            Outcome.BARRIER, Detail.RATE_LIMITED, f"the site asked the robot to slow down "
            f"(HTTP 429) at {response.url}", http_status=status,
        )  # fmt: skip
    if status in (401, 407):
        return Reading(
            Outcome.BARRIER, Detail.LOGIN, f"the site asks for a login (HTTP {status})",
            http_status=status,
        )  # fmt: skip
    if status >= 500:
        return Reading(
            Outcome.SITE_ERROR, Detail.http(status), f"the site answered HTTP {status} at "
            f"{response.url}", http_status=status, kept_page=response.body,
            kept_url=response.url,
        )  # fmt: skip
    return unrecognized(
        Detail.http(status), f"unexpected HTTP {status} at {response.url}", response
    )


# Markers of a captcha or a login wall, searched in the lowercased page: cheap, and positive
# evidence (these names only appear where such a widget is).
CAPTCHA_MARKERS = (
    "g-recaptcha",
    "h-captcha",
    "rdv-captchetat",
    "captchaformulaireextinput",
    "cf-turnstile",
    'name="captcha',
    'id="captcha',
)
LOGIN_MARKERS = ('type="password"', "type='password'", "type=password")
_OVERLOADED = re.compile(r"<h1[^>]*>\s*Service surcharg(?:é|&eacute;|&#233;)", re.IGNORECASE)
CLOSED_TEXT = "Cette page n'est pas disponible pour le moment"
# Imperva (Incapsula) answers a blocked client with HTTP 200 and this page: a status check alone
# would take it for content.
_IMPERVA = re.compile(r"Incapsula incident ID:?\s*([0-9-]+)")


def classify_page(response: Response) -> Reading | None:
    """Pages that are not the booking module's, recognised by their own words."""
    found = classify_status(response)
    if found is not None:
        return found
    if "html" not in response.content_type:
        return unrecognized(
            Detail.NOT_HTML, f"the site sent {response.content_type or 'no content type'}, "
            "not a web page", response,
        )  # fmt: skip
    text = response.text
    firewall = _IMPERVA.search(text) if "Incapsula" in text else None
    if firewall is not None or "/_Incapsula_Resource" in text:
        seen: dict[str, str] = {Extra.FIREWALL: "imperva"}
        if firewall is not None:
            seen[Extra.FIREWALL_INCIDENT] = firewall.group(1)
        return Reading(
            Outcome.BARRIER, Detail.BLOCKED, "the site's firewall (Imperva) refused the robot "
            f"at {response.url}", http_status=response.status, kept_page=response.body,
            kept_url=response.url, extra=seen,
        )  # fmt: skip
    if _OVERLOADED.search(text):
        return Reading(
            Outcome.SITE_ERROR, Detail.OVERLOADED, "the site says it is overloaded "
            "(« Service surchargé »)", http_status=response.status,
        )  # fmt: skip
    if "pas disponible pour le moment" in text and CLOSED_TEXT in html.unescape(text):
        return Reading(
            Outcome.SITE_ERROR, Detail.CLOSED, "the booking page is closed (« Cette page n'est "
            "pas disponible pour le moment »)", http_status=response.status,
        )  # fmt: skip
    lowered = text.lower()
    if any(marker in lowered for marker in CAPTCHA_MARKERS):
        return Reading(
            Outcome.BARRIER, Detail.CAPTCHA, "a captcha stands before the slots; the robot "
            "never answers one", http_status=response.status, kept_page=response.body,
            kept_url=response.url,
        )  # fmt: skip
    if any(marker in lowered for marker in LOGIN_MARKERS):
        return Reading(
            Outcome.BARRIER, Detail.LOGIN, "the site asks for a login", http_status=response.status
        )
    return None
