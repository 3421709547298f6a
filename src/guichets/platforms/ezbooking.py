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
    http_parts,
    normalise_space,
    slots_seen,
    unrecognized,
)
from guichets.platforms.forms import (
    Submission,
    buttons,
    fold,
    label_of,
    says,
    submission,
    ticked_boxes,
    visible_text,
    words,
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
# The same, and their English labels, as words (accents, case and punctuation left out).
_FORBIDDEN_WORDS = frozenset(
    {"premiere plage horaire libre", "first free time slot", "first available slot",
     "first free slot"}
)  # fmt: skip

MONTHS = MONTH_NUMBERS  # the month names of its date headers
_CREATE = re.compile(
    r"^(?P<module>.*)/booking/create/(?P<form>\d+)(?:/(?P<step>\d+))?(?P<rest>/.*)?$"
)
_ASSIGN = re.compile(
    r"(?P<path>[^'\"\s]*/ezjscore/call/bookingserver::planning::assign::(?P<form>\d+)::"
    r"(?P<planning>\d+)::)(?P<offset>-?\d+)"
)
_HEADER = re.compile(
    r"^(?:Semaine du|Week from)\s+\w+\.?\s+(?P<d1>\d{1,2})(?:er|st|nd|rd|th)?\s+"
    r"(?P<m1>\w+)\.?\s+(?P<y1>\d{4})\s+(?:au|to)\s+\w+\.?\s+(?P<d2>\d{1,2})"
    r"(?:er|st|nd|rd|th)?\s+(?P<m2>\w+)\.?\s+(?P<y2>\d{4})$",
    re.IGNORECASE,
)
_ENGLISH_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
                   "september", "october", "november", "december")  # fmt: skip
_TIME = re.compile(r"^\d{1,2}\s*[:hH]\s*\d{2}$")
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
        if normalise_space(value).casefold() in FORBIDDEN_BUTTONS or words(value) in (
            _FORBIDDEN_WORDS
        ):
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


_FOLDED_MONTHS = {fold(name): n for name, n in MONTHS.items()} | {
    name: n for n, name in enumerate(_ENGLISH_MONTHS, start=1)
}


def _month(name: str) -> int:
    try:
        return _FOLDED_MONTHS[fold(name)]
    except KeyError:
        raise GridError(f"unknown month {name!r} in the week header") from None


def parse_week(fragment: str) -> Week:
    """Read one AJAX week: its dates from the header, its free slots from their timestamps."""
    tree = LexborHTMLParser(fragment)
    found = next(
        ((th, m) for th in tree.css("th") if (m := _HEADER.match(normalise_space(th.text())))),
        None,
    )
    if found is None:
        raise GridError("no week header ('Semaine du … au …') in the grid")
    header, match = found
    monday = date(int(match["y1"]), _month(match["m1"]), int(match["d1"]))
    sunday = date(int(match["y2"]), _month(match["m2"]), int(match["d2"]))
    if monday.weekday() != 0 or sunday - monday != timedelta(days=6):
        raise GridError(f"the header does not span a Monday-to-Sunday week: {match.group(0)!r}")
    # Every cell must say what it is: a week whose cells are not all known is not "no slot".
    cells = _grid_cells(tree, header)
    if not cells:
        raise GridError("a week grid without cells")
    free = []
    for cell in cells:
        classes = (cell.attributes.get("class") or "").split()
        statuses = [c for c in classes if _STATUS.match(c)]
        if not statuses:
            if classes == ["vide"] and len(cells) == 1:
                continue  # the module's own "no time slot this week" row
            if _row_time(cell):
                continue  # the time of the row, as a cell rather than a row header
            raise GridError(f"a grid cell of unknown kind: {cell.html!r}")
        if ("status-1" in statuses) != ("free" in classes) or len(statuses) > 1:
            raise GridError(f"a grid cell whose status is ambiguous: {cell.html!r}")
        if "free" in classes:
            free.append(_slot_of(cell, monday))
    return Week(monday, unique_instants(free))


def _grid_cells(tree: LexborHTMLParser, header: LexborNode) -> list[LexborNode]:
    """The cells of the table the week header heads; another table beside it (a legend as a
    table, « Légende : libre ») is not the week, as long as it links no slot."""
    table = header.parent
    while table is not None and table.tag != "table":
        table = table.parent
    everything = tree.css("td")
    mine = table.css("td") if table is not None else []
    if not mine:
        return everything  # the header stands apart from its cells: read every cell
    ids = {cell.mem_id for cell in mine}
    for cell in everything:
        if cell.mem_id not in ids and cell.css_first("a[href]") is not None:
            raise GridError(f"a linked cell outside the week's table: {cell.html!r}")
    return mine


def _row_time(cell: LexborNode) -> bool:
    """A first cell of its row that only says a time (``09:00``) heads the row."""
    if cell.css_first("a") is not None or not _TIME.match(normalise_space(cell.text())):
        return False
    previous = cell.prev
    while previous is not None and previous.tag not in ("td", "th"):
        previous = previous.prev
    return previous is None or previous.tag == "th"


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

    def __init__(self) -> None:
        # Where each form's week offsets start, as learnt from the grids' headers: the date that
        # offset 0 fell in, last time. A hint only (it saves a request on the next probe); every
        # grid's header is still checked against the week asked for.
        self._origins: dict[str, date] = {}

    def check_url(self, url: str) -> None:
        parts = http_parts(url)
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
        walk = _Walk(session, target, now, self._origins)
        return await walk.run()


# Buttons a person presses to go on, and the ones they would not (compared folded).
NEXT_LABELS = frozenset(
    {
        "effectuer une demande de rendez-vous", "etape suivante", "suivant", "continuer",
        "next", "next step", "continue", "request an appointment",
        "make an appointment request", "submit an appointment request",
    }
)  # fmt: skip
_BACK_WORDS = ("precedent", "previous", "retour", "back", "terminer", "finish", "annuler",
               "cancel", "quitter")  # fmt: skip
_PLANNING_VALUE = re.compile(
    r"""(?:\bplanning(?:Id|_id)?|\bajax_?id)\s*[:=]\s*["']?(\d+)""", re.IGNORECASE
)
_ANY_ASSIGN = re.compile(r"bookingserver::planning::assign::(\d+)::(\d+)::")
_MAX_OFFSET = 36_600  # a century of days: an offset beyond answers no week of a planning


def _next_control(form: LexborNode) -> LexborNode | None:
    """The control a person presses to go on: by its name in the module, else by its label;
    never one that goes back, ends, or picks the first free slot."""
    usable = []
    for control in buttons(form):
        label = words(label_of(control))
        if label in _FORBIDDEN_WORDS or words(control.attributes.get("value") or "") in (
            _FORBIDDEN_WORDS
        ):
            continue
        if any(word in label for word in _BACK_WORDS):
            continue
        if control.attributes.get("name") in ("previousButton", "finishButton"):
            continue
        usable.append(control)
    named = [c for c in usable if c.attributes.get("name") == "nextButton"]
    if named:
        return named[0]
    by_label = [c for c in usable if says(c, NEXT_LABELS)]
    if by_label:
        return by_label[0]
    return usable[0] if len(usable) == 1 else None


def _module_form(tree: LexborHTMLParser) -> LexborNode | None:
    return tree.css_first("form#FormBookingCreate")


def _no_slot(form: LexborNode | None) -> bool:
    """The module's sentence, and nothing else, is what a person reads in its form."""
    if form is None or "horaire" not in (form.text(deep=True) or ""):
        return False  # cheap: most pages of the path are not this one
    seen = visible_text(form)
    return _squeeze(seen) == _NO_SLOT_SQUEEZED


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text.replace("\u2019", "'"))


_NO_SLOT_SQUEEZED = _squeeze(NO_SLOT_TEXT)


class _Walk:
    """One probe's path through the module."""

    def __init__(
        self, session: PoliteSession, target: Target, now: datetime, origins: dict[str, date]
    ) -> None:
        self.session = session
        self.target = target
        self.now = now
        local = now.astimezone(PARIS)
        self.horizon_end = local + timedelta(days=target.horizon_days)
        self.counter: str | None = target.counter
        self.offered: list[str] = []  # the planning radios of step 1, when there was one
        self.origins = origins

    async def _send(self, sent: Submission) -> Response:
        if sent.method == "POST":
            return await self.session.post(sent.url, sent.fields)
        return await self.session.get(sent.url)  # the session applies guard() to every hop

    def _done(self, reading: Reading) -> Reading:
        extra = reading.extra
        if self.offered:
            extra = {**extra, Extra.COUNTERS_OFFERED: ",".join(self.offered)}
        return replace(reading, horizon_end=self.horizon_end, counter=self.counter, extra=extra)

    async def run(self) -> Reading:
        page = await self.session.get(self.target.url)
        found = classify_page(page)
        if found is not None:
            return self._done(_name_captcha(found, page))
        tree = LexborHTMLParser(page.text)
        form = _module_form(tree)
        boxes, _ = ticked_boxes(form, tree) if form is not None else ({}, [])
        if form is None or not boxes:
            return self._done(
                unrecognized(
                    Detail.LAYOUT_CHANGED,
                    "the booking URL does not show the module's conditions form "
                    "(form#FormBookingCreate with the box accepting the conditions); "
                    "its layout may have changed",
                    page,
                )
            )
        control = _next_control(form)
        if control is None:
            return self._done(unrecognized(Detail.UNEXPECTED_PAGE, "no 'next' button", page))
        page = await self._send(submission(page.url, form, control, boxes))
        for _ in range(_MAX_STEPS):
            reading, page_or_none = await self._step(page)
            if reading is not None:
                return self._done(reading)
            assert page_or_none is not None
            page = page_or_none
        return self._done(unrecognized(Detail.UNEXPECTED_PAGE, "the path did not end", page))

    async def _step(self, page: Response) -> tuple[Reading | None, Response | None]:
        """Read one page of the flow: a conclusion, or the next page."""
        found = classify_page(page)
        if found is not None:
            return found, None
        match = _CREATE.match(urlsplit(page.url).path)
        step = int(match.group("step") or 0) if match else -1
        tree = LexborHTMLParser(page.text)
        form = _module_form(tree)
        if _no_slot(form):
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
        if step == 4 and (form is not None or "etape_4r." in page.text):
            return await self._dates(page, tree), None
        if form is None:
            return unrecognized(
                Detail.UNEXPECTED_PAGE, f"step {step} without the module's form", page
            ), None
        if step == 1:
            return await self._choose_counter(page, form)
        control = _next_control(form)
        if step in (2, 3) and control is not None:
            boxes, _ = ticked_boxes(form, tree)  # a notice a person must say they have read
            return None, await self._send(submission(page.url, form, control, boxes))
        return unrecognized(
            Detail.UNEXPECTED_PAGE,
            f"step {step} shows neither the no-slot sentence nor a way on",
            page,
        ), None

    async def _choose_counter(
        self, page: Response, form: LexborNode
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
        control = _next_control(form)
        if control is None:
            return unrecognized(Detail.UNEXPECTED_PAGE, "no 'next' button", page), None
        chosen = {"planning": self.counter}
        return None, await self._send(submission(page.url, form, control, chosen))

    def _planning_on(self, tree: LexborHTMLParser, text: str, form_id: str) -> str | None:
        """The counter a date page shows, when it names one: a planning field, a data
        attribute, a script variable, or the number its script puts after the form's own id
        when it builds the grid URL from pieces (``… + 13860 + '::' + 20 + …``)."""
        for node in tree.css("input[name=planning]"):
            kind = (node.attributes.get("type") or "").lower()
            value = (node.attributes.get("value") or "").strip()
            if value.isdigit() and (kind == "hidden" or "checked" in node.attributes):
                return value
        for node in tree.css("[data-planning]"):
            value = (node.attributes.get("data-planning") or "").strip()
            if value.isdigit():
                return value
        found = {m.group(1) for m in _PLANNING_VALUE.finditer(text)}
        if len(found) == 1:
            return found.pop()
        after_form = re.compile(
            rf"""(?<![\w.]){form_id}['"]?\s*(?:\+\s*['"]::['"]\s*\+|,)\s*['"]?(\d+)\b"""
        )
        pieces = {m.group(1) for script in tree.css("script") for m in after_form.finditer(
            script.text())}  # fmt: skip
        return pieces.pop() if len(pieces) == 1 else None

    async def _dates(self, page: Response, tree: LexborHTMLParser) -> Reading:
        path = urlsplit(page.url).path
        create = _CREATE.match(path)
        assert create is not None
        form_id = create["form"]
        match = _ASSIGN.search(page.text)
        named: int | None = None
        if match is not None:
            # The page names where its planning loads: use it, as the page's script does.
            if match["form"] != form_id:
                return unrecognized(
                    Detail.UNREADABLE_GRID,
                    f"the date page of form {form_id} loads the planning of form {match['form']}",
                    page,
                )
            planning = match["planning"]
            base = urljoin(page.url, match["path"])
            named = int(match["offset"])
        else:
            # Built by script from pieces: build it as the script does, from the form, the
            # counter chosen on step 1 (or the one the page names) and a day offset.
            planning_or_none = self.counter or self._planning_on(tree, page.text, form_id)
            if planning_or_none is None:
                return unrecognized(
                    Detail.UNREADABLE_GRID,
                    "the date page does not say which counter's planning it loads (no "
                    "planning URL, no counter chosen on step 1); give the counter (--planning)",
                    page,
                )
            planning = planning_or_none
            module = urljoin(page.url, create["module"] + "/")
            base = urljoin(
                module, f"ezjscore/call/bookingserver::planning::assign::{form_id}::{planning}::"
            )
        if not is_counter_id(planning):
            return unrecognized(
                Detail.UNEXPECTED_PAGE, "the date page's planning is not a counter id", page
            )
        if self.counter is None:
            self.counter = planning
        elif self.counter != planning:
            # A site with one counter skips the choice: the planning it shows must be the one
            # asked for, or the probe would record another counter's slots under its name.
            return unrecognized(
                Detail.COUNTER_MISSING,
                f"counter {self.counter} was asked for; the date page shows {planning}",
                page,
            )
        return await self._grids(base, form_id, planning, named)

    async def _grid(
        self, base: str, offset: int, form_id: str, planning: str
    ) -> tuple[Reading | None, Week | None, Response]:
        grid = await self.session.get(f"{base}{offset}")
        found = classify_page(grid)
        if found is not None:
            return found, None, grid
        other = self._other_counter(grid.text, form_id, planning)
        if other is not None:
            return unrecognized(Detail.COUNTER_MISSING, other, grid), None, grid
        try:
            return None, parse_week(grid.text), grid
        except GridError as exc:
            return unrecognized(Detail.UNREADABLE_GRID, str(exc), grid), None, grid

    def _other_counter(self, text: str, form_id: str, planning: str) -> str | None:
        """Why a grid answers for another form or counter than the one asked, if it does."""
        for match in _ANY_ASSIGN.finditer(text):
            if (match[1], match[2]) != (form_id, planning):
                return (
                    f"asked for the planning of counter {planning} (form {form_id}); the grid "
                    f"links to counter {match[2]} (form {match[1]})"
                )
        others = set(self.offered) - {planning}
        for href in re.findall(r"""href\s*=\s*["']([^"']*/booking/create/[^"']*)""", text):
            link = _CREATE.match(urlsplit(href).path)
            if link is None:
                continue
            if link["form"] != form_id:
                return f"the grid of form {form_id} offers slots of form {link['form']}"
            middle = (link["rest"] or "").strip("/").split("/")[:-1]
            if others.intersection(middle) and planning not in middle:
                return f"the grid of counter {planning} offers slots of another counter: {href}"
        return None

    async def _grids(self, base: str, form_id: str, planning: str, named: int | None) -> Reading:
        today = self.now.astimezone(PARIS).date()
        this_monday = today - timedelta(days=today.weekday())
        key = f"{urlsplit(base).netloc}{urlsplit(base).path}"
        if named is not None:
            offset = named
        else:
            origin = self.origins.get(key)
            offset = (this_monday - origin).days if origin is not None else 0
        reading, week, grid = await self._grid(base, offset, form_id, planning)
        if reading is not None:
            return reading
        assert week is not None
        if week.monday != this_monday and named is None:
            # The offsets' origin differs between sites: the header of the week returned says
            # where this offset fell; ask once for the week of today, and check its header.
            offset += (this_monday - week.monday).days
            if abs(offset) > _MAX_OFFSET:
                return unrecognized(
                    Detail.UNREADABLE_GRID,
                    f"the week grid answered the week of {week.monday}, too far from today's "
                    f"({this_monday}) to be a week of this site's planning",
                    grid,
                )
            reading, week, grid = await self._grid(base, offset, form_id, planning)
            if reading is not None:
                return reading
            assert week is not None
        if week.monday != this_monday:
            return unrecognized(
                Detail.UNREADABLE_GRID,
                f"the first week shown starts on {week.monday}, not the week of today ({today})",
                grid,
            )
        if named is None:
            if len(self.origins) > 10_000:
                self.origins.clear()
            self.origins[key] = this_monday - timedelta(days=offset)
        last_day = self.horizon_end.date()
        slots: list[datetime] = []
        weeks = 1
        # Bounded: each next grid must be the following week, and the loop ends past the
        # horizon (at most horizon_days / 7 + 2 grids).
        while True:
            slots.extend(s for s in week.free if self.now < s <= self.horizon_end)
            expected = week.monday + timedelta(days=7)
            if len(slots) >= 2 or expected > last_day:
                break
            offset += 7
            reading, next_week, grid = await self._grid(base, offset, form_id, planning)
            if reading is not None:
                return reading
            assert next_week is not None
            if next_week.monday != expected:
                return unrecognized(
                    Detail.UNREADABLE_GRID,
                    f"asked for the week of {expected}, the grid's header says the week of "
                    f"{next_week.monday}",
                    grid,
                )
            week = next_week
            weeks += 1
        found_slots = unique_instants(slots)
        extra = {"weeks_read": str(weeks)}
        if found_slots:
            return slots_seen(found_slots, grid.status, extra)
        return Reading(
            Outcome.UNAVAILABLE,
            Detail.NONE_WITHIN_HORIZON,
            f"week grids read up to {last_day}: no free slot",
            http_status=grid.status,
            extra=extra,
        )
