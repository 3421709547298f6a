"""Reader of the legacy prefecture booking module (``/booking/create/{formId}``).

The path: conditions (step 0) -> counter choice (1) -> availability (2) -> optional notice (3) ->
date choice (4), whose week grids are loaded from ``ezjscore``. The reader decides on positive
evidence only: the module's exact "no slot" sentence, or week grids it could read from header to
cells. Dates come from the grid headers and the slots' timestamps, never from the week offsets,
whose origin differs between sites.

Never books: every request goes through :func:`guard`, which refuses step 5 and beyond, any
submission of step 4, and the "Première plage horaire libre" button. No code path builds one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import ClassVar
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode
from yarl import URL

from guichets.french import MONTH_NUMBERS
from guichets.http import ForbiddenRequest, PoliteSession, Response
from guichets.model import PARIS, Detail, Extra, Outcome, unique_instants
from guichets.platforms.base import (
    Reading,
    Target,
    classify_page,
    normalise_space,
    unrecognized,
)
from guichets.untrusted import is_counter_id

__all__ = ["NO_SLOT_TEXT", "EzBookingReader", "counters_offered", "guard", "parse_week"]

NO_SLOT_TEXT = (
    "Il n'existe plus de plage horaire libre pour votre demande de rendez-vous. "
    "Veuillez recommencer ultérieurement."
)
# Buttons a person presses only to pick or book a slot.
FORBIDDEN_BUTTONS = frozenset({"première plage horaire libre"})  # compared casefolded
LAST_ALLOWED_STEP = 4

MONTHS = MONTH_NUMBERS  # the month names of its date headers
_CREATE = re.compile(
    r"^(?P<module>.*)/booking/create/(?P<form>\d+)(?:/(?P<step>\d+))?(?P<rest>/.*)?$"
)
_ASSIGN = re.compile(
    r"(?P<path>[^'\"\s]*/ezjscore/call/bookingserver::planning::assign::(?P<form>\d+)::"
    r"(?P<planning>\d+)::)(?P<offset>-?\d+)"
)
_HEADER = re.compile(
    r"^(?:Semaine du|Week from)\s+\w+\s+(?P<d1>\d{1,2})(?:er)?\s+(?P<m1>[a-zéû]+)\s+"
    r"(?P<y1>\d{4})\s+(?:au|to)\s+\w+\s+(?P<d2>\d{1,2})(?:er)?\s+(?P<m2>[a-zéû]+)\s+"
    r"(?P<y2>\d{4})$"
)
_STATUS = re.compile(r"^status-\d+$")
_MAX_STEPS = 8


def guard(method: str, url: str | URL, data: Mapping[str, str] | None = None) -> None:
    """Refuse, before anything is sent, a request that would select or book a slot.

    The session calls it for every request, redirect hops included, with the path as it will be
    sent: ``/booking/create/1/%35`` is step 5.
    """
    path = (url if isinstance(url, URL) else URL(url)).path
    match = _CREATE.match(path)
    if match and match.group("step") is not None:
        step = int(match.group("step"))
        if step > LAST_ALLOWED_STEP or match.group("rest"):
            raise ForbiddenRequest(f"step {step} of the booking module selects or books: {url}")
        if step == LAST_ALLOWED_STEP and method != "GET":
            raise ForbiddenRequest(f"submitting step 4 selects a slot: {url}")
    for value in (data or {}).values():
        if normalise_space(value).casefold() in FORBIDDEN_BUTTONS:
            raise ForbiddenRequest(f"the button {value!r} selects a slot")


def counters_offered(form: LexborNode) -> list[tuple[str, str]]:
    """The counters of a step-1 form, in page order: (planning id, the label a person reads).

    The reader probes one of them; ``guichets catalogue add`` writes one catalogue row for each.
    """
    found: list[tuple[str, str]] = []
    for radio in form.css("input[name=planning]"):
        value = (radio.attributes.get("value") or "").strip()
        if not value:
            continue
        ident = radio.attributes.get("id")
        label = form.css_first(f'label[for="{ident}"]') if ident else None
        found.append((value, normalise_space(label.text(deep=True)) if label is not None else ""))
    return found


@dataclass(frozen=True)
class Week:
    monday: date
    free: tuple[datetime, ...]


class GridError(ValueError):
    """A week grid that cannot be read with certainty."""


def _month(name: str) -> int:
    try:
        return MONTHS[name]
    except KeyError:
        raise GridError(f"unknown month {name!r} in the week header") from None


def parse_week(fragment: str) -> Week:
    """Read one AJAX week: its dates from the header, its free slots from their timestamps."""
    tree = LexborHTMLParser(fragment)
    headers = [normalise_space(th.text()) for th in tree.css("th")]
    match = next((m for h in headers if (m := _HEADER.match(h))), None)
    if match is None:
        raise GridError("no week header ('Semaine du … au …') in the grid")
    monday = date(int(match["y1"]), _month(match["m1"]), int(match["d1"]))
    sunday = date(int(match["y2"]), _month(match["m2"]), int(match["d2"]))
    if monday.weekday() != 0 or sunday - monday != timedelta(days=6):
        raise GridError(f"the header does not span a Monday-to-Sunday week: {match.group(0)!r}")
    # Every cell must say what it is: a week whose cells are not all known is not "no slot".
    cells = tree.css("td")
    if not cells:
        raise GridError("a week grid without cells")
    free = []
    for cell in cells:
        classes = (cell.attributes.get("class") or "").split()
        statuses = [c for c in classes if _STATUS.match(c)]
        if not statuses:
            if classes == ["vide"] and len(cells) == 1:
                continue  # the module's own "no time slot this week" row
            raise GridError(f"a grid cell of unknown kind: {cell.html!r}")
        if ("status-1" in statuses) != ("free" in classes) or len(statuses) > 1:
            raise GridError(f"a grid cell whose status is ambiguous: {cell.html!r}")
        if "free" in classes:
            free.append(_slot_of(cell, monday))
    return Week(monday, unique_instants(free))


def _slot_of(cell: LexborNode, monday: date) -> datetime:
    link = cell.css_first("a[href]")
    href = link.attributes.get("href") if link is not None else None
    stamp = (href or "").rstrip("/").rsplit("/", 1)[-1]
    if not stamp.isdigit():
        raise GridError(f"a free cell without a slot timestamp: {cell.html!r}")
    slot = datetime.fromtimestamp(int(stamp), PARIS)
    if not monday <= slot.date() <= monday + timedelta(days=6):
        raise GridError(f"a slot of {slot.isoformat()} in the week of {monday.isoformat()}")
    return slot


def _name_captcha(reading: Reading, page: Response) -> Reading:
    """Name the captcha a form shows: the module's « Contrôle de sécurité » (field ``captcha``)
    or the Préfecture de police's image (``captchaimg`` / ``captchacode``)."""
    if reading.detail != Detail.CAPTCHA:
        return reading
    text = page.text
    kind = (
        "ppolice" if 'name="captchacode"' in text
        else "controle" if 'name="captcha"' in text
        else None
    )  # fmt: skip
    return (
        reading if kind is None else replace(reading, extra={**reading.extra, Extra.CAPTCHA: kind})
    )


class EzBookingReader:
    """The legacy module's reader."""

    name: ClassVar[str] = "ezbooking"

    def check_url(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{url!r} is not an http(s) URL")
        match = _CREATE.match(parts.path)
        if not match or match.group("rest"):
            raise ValueError(
                f"{url!r} is not a booking URL of the legacy module; expected "
                "https://www.<departement>.gouv.fr/booking/create/{formId} (or …/index.php/…)"
            )
        if match.group("step") not in (None, "0"):
            raise ValueError(f"{url!r} points into the flow; give the form's URL (step 0)")

    async def read(self, session: PoliteSession, target: Target, now: datetime) -> Reading:
        session.add_guard(guard)
        walk = _Walk(session, target, now)
        return await walk.run()


class _Walk:
    """One probe's path through the module."""

    def __init__(self, session: PoliteSession, target: Target, now: datetime) -> None:
        self.session = session
        self.target = target
        self.now = now
        local = now.astimezone(PARIS)
        self.horizon_end = local + timedelta(days=target.horizon_days)
        self.counter: str | None = target.counter
        self.offered: list[str] = []

    async def _get(self, url: str) -> Response:
        return await self.session.get(url)  # the session applies guard() to every hop

    async def _post(self, url: str, data: dict[str, str]) -> Response:
        return await self.session.post(url, data)

    def _done(self, reading: Reading) -> Reading:
        extra = reading.extra
        if self.offered:
            extra = {**extra, Extra.COUNTERS_OFFERED: ",".join(self.offered)}
        return replace(reading, horizon_end=self.horizon_end, counter=self.counter, extra=extra)

    async def run(self) -> Reading:
        page = await self._get(self.target.url)
        found = classify_page(page)
        if found is not None:
            return self._done(_name_captcha(found, page))
        tree = LexborHTMLParser(page.text)
        form = tree.css_first("form#FormBookingCreate")
        if form is None or form.css_first("input[name=condition]") is None:
            return self._done(
                unrecognized(
                    Detail.LAYOUT_CHANGED,
                    "the booking URL does not show the module's conditions form "
                    "(form#FormBookingCreate with the 'condition' box); "
                    "its layout may have changed",
                    page,
                )
            )
        button = self._next_button(form)
        if button is None:
            return self._done(unrecognized(Detail.UNEXPECTED_PAGE, "no 'next' button", page))
        action = urljoin(page.url, form.attributes.get("action") or page.url)
        page = await self._post(action, {"condition": "on", "nextButton": button})
        for _ in range(_MAX_STEPS):
            reading, page_or_none = await self._step(page)
            if reading is not None:
                return self._done(reading)
            assert page_or_none is not None
            page = page_or_none
        return self._done(unrecognized(Detail.UNEXPECTED_PAGE, "the path did not end", page))

    @staticmethod
    def _next_button(form: LexborNode) -> str | None:
        for node in form.css("input[name=nextButton]"):
            value = node.attributes.get("value")
            if value and normalise_space(value).casefold() not in FORBIDDEN_BUTTONS:
                return value
        return None

    async def _step(self, page: Response) -> tuple[Reading | None, Response | None]:
        """Read one page of the flow: a conclusion, or the next page."""
        found = classify_page(page)
        if found is not None:
            return found, None
        match = _CREATE.match(urlsplit(page.url).path)
        step = int(match.group("step") or 0) if match else -1
        tree = LexborHTMLParser(page.text)
        form = tree.css_first("form#FormBookingCreate")
        if form is not None and normalise_space(form.text(deep=True)) == NO_SLOT_TEXT:
            return Reading(
                Outcome.UNAVAILABLE,
                Detail.NO_SLOT_PAGE,
                "the module says: « " + NO_SLOT_TEXT + " »",
                http_status=page.status,
            ), None
        if step == 0:
            return unrecognized(
                Detail.SESSION_LOST, "the module went back to its conditions page", page
            ), None
        if step == 4 and "etape_4r.png" in page.text:
            return await self._dates(page), None
        if form is None:
            return unrecognized(
                Detail.UNEXPECTED_PAGE, f"step {step} without the module's form", page
            ), None
        action = urljoin(page.url, form.attributes.get("action") or page.url)
        if step == 1:
            return await self._choose_counter(page, form, action)
        button = self._next_button(form)
        if step in (2, 3) and button is not None:
            return None, await self._post(action, {"nextButton": button})
        return unrecognized(
            Detail.UNEXPECTED_PAGE,
            f"step {step} shows neither the no-slot sentence nor a way on",
            page,
        ), None

    async def _choose_counter(
        self, page: Response, form: LexborNode, action: str
    ) -> tuple[Reading | None, Response | None]:
        offered = [value for value, _ in counters_offered(form)]
        self.offered = offered
        if not offered:
            return unrecognized(
                Detail.UNEXPECTED_PAGE, "a counter page without counters", page
            ), None
        if not all(is_counter_id(value) for value in offered):
            return unrecognized(
                Detail.UNEXPECTED_PAGE, "the counter page offers values that are not counter ids",
                page,
            ), None  # fmt: skip
        if self.counter is None:
            self.counter = offered[0]
        elif self.counter not in offered:
            return unrecognized(
                Detail.COUNTER_MISSING,
                f"counter {self.counter} is not offered; the page offers {', '.join(offered)}",
                page,
            ), None
        button = self._next_button(form)
        if button is None:
            return unrecognized(Detail.UNEXPECTED_PAGE, "no 'next' button", page), None
        return None, await self._post(action, {"planning": self.counter, "nextButton": button})

    async def _dates(self, page: Response) -> Reading:
        match = _ASSIGN.search(page.text)
        if match is None:
            return unrecognized(
                Detail.UNREADABLE_GRID, "the date page does not say where its planning loads",
                page,
            )  # fmt: skip
        if not is_counter_id(match["planning"]):
            return unrecognized(
                Detail.UNEXPECTED_PAGE, "the date page's planning is not a counter id", page
            )
        if self.counter is None:
            self.counter = match["planning"]
        elif self.counter != match["planning"]:
            # A site with one counter skips the choice: the planning it shows must be the one
            # asked for, or the probe would record another counter's slots under its name.
            return unrecognized(
                Detail.COUNTER_MISSING,
                f"counter {self.counter} was asked for; the date page shows {match['planning']}",
                page,
            )
        base = urljoin(page.url, match["path"])
        offset = int(match["offset"])
        today = self.now.astimezone(PARIS).date()
        last_day = self.horizon_end.date()
        slots: list[datetime] = []
        expected: date | None = None
        weeks = 0
        # Bounded: the first week must hold today, each next one the following week, and the
        # loop ends past the horizon (at most horizon_days / 7 + 2 grids).
        while True:
            grid = await self._get(f"{base}{offset}")
            found = classify_page(grid)
            if found is not None:
                return found
            try:
                week = parse_week(grid.text)
            except GridError as exc:
                return unrecognized(Detail.UNREADABLE_GRID, str(exc), grid)
            if expected is None and not 0 <= (today - week.monday).days <= 6:
                return unrecognized(
                    Detail.UNREADABLE_GRID,
                    f"the first week shown starts on {week.monday}, not the week of today "
                    f"({today})",
                    grid,
                )
            if expected is not None and week.monday != expected:
                return unrecognized(
                    Detail.UNREADABLE_GRID,
                    f"weeks do not follow each other: expected {expected}, got {week.monday}",
                    grid,
                )
            slots.extend(s for s in week.free if self.now < s <= self.horizon_end)
            weeks += 1
            expected = week.monday + timedelta(days=7)
            if len(slots) >= 2 or expected > last_day:
                break
            offset += 7
        found_slots = unique_instants(slots)
        extra = {"weeks_read": str(weeks)}
        if found_slots:
            return Reading(
                Outcome.AVAILABLE,
                Detail.SLOTS_SEEN,
                f"{len(found_slots)} free slot(s) seen, the first on "
                f"{found_slots[0]:%Y-%m-%d %H:%M}",
                slots=found_slots,
                http_status=grid.status,
                extra=extra,
            )
        return Reading(
            Outcome.UNAVAILABLE,
            Detail.NONE_WITHIN_HORIZON,
            f"week grids read up to {last_day}: no free slot",
            http_status=grid.status,
            extra=extra,
        )
