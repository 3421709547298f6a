"""Mutation testing of the readers: what a person sees decides, not the markup.

Each property draws a page state (what is bookable) and a random set of presentation changes that
keep what a person sees — the tag of buttons, ``formaction`` or the form's action, attribute and
class order, spacing, character references, English or French labels, the grid URL in a ``var``,
a ``data-url`` or built by script from pieces, the offsets' origin. The outcome and the slots must
not change. Then it removes what a person relies on — the no-slot sentence, the grid's header, a
cell's status: the outcome must become ``unrecognized``, never ``unavailable`` and never other
slots.

The pages are written here from the platforms' description (docs/platforms.md), independently of
the simulator, and served from memory (tests/pagesession.py), so that hundreds of examples per
platform cost seconds.
"""

from __future__ import annotations

import asyncio
import html
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guichets.http import ForbiddenRequest
from guichets.model import PARIS, Detail, Outcome
from guichets.platforms.base import Reading
from guichets.platforms.ezbooking import NO_SLOT_TEXT, EzBookingReader
from tests.pagesession import NOW, PageSession, page, read, redirect

EXAMPLES = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TODAY = NOW.date()
HOST = "https://www.test.gouv.fr"
FORM = 10
PLANNINGS = ("301", "302")
TIMES = (time(9, 0), time(9, 30), time(14, 0))
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
          "octobre", "novembre", "décembre")  # fmt: skip
DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
HORIZON = 27  # days: at most five weeks of grids per example


# -- the legacy module ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Look:
    """Presentation changes that keep what a person sees."""

    button_tag: bool  # <button> rather than <input type=submit>
    formaction: bool  # the button names the action rather than the form
    no_action: bool  # neither: the form posts back to its page's URL
    reorder: bool  # attributes and classes in another order
    spaces: bool  # line breaks and indentation inside texts
    entities: bool  # character references for apostrophes and accents
    english: bool  # English labels and header
    grid_url: str  # "var", "data-url" or "script" (built from pieces)
    time_cells: bool  # the rows' times as <td> rather than <th>


@dataclass(frozen=True)
class State:
    """What is bookable, and how the site is laid out."""

    counters: int
    asked: int | None  # index of the counter the catalogue names, if any
    notice: bool
    index_php: bool
    no_slot: bool
    origin_shift: int | None  # None: offsets count from today; else days from today's date
    free: frozenset[tuple[int, int]]  # (day from tomorrow, index in TIMES)


looks = st.builds(
    Look,
    button_tag=st.booleans(),
    formaction=st.booleans(),
    no_action=st.booleans(),
    reorder=st.booleans(),
    spaces=st.booleans(),
    entities=st.booleans(),
    english=st.booleans(),
    grid_url=st.sampled_from(("var", "data-url", "script")),
    time_cells=st.booleans(),
)
states = st.builds(
    State,
    counters=st.sampled_from((1, 2)),
    asked=st.sampled_from((None, 0, 1)),
    notice=st.booleans(),
    index_php=st.booleans(),
    no_slot=st.booleans(),
    origin_shift=st.one_of(st.none(), st.integers(-4000, 400)),
    free=st.frozensets(
        st.tuples(st.integers(0, HORIZON + 10), st.integers(0, len(TIMES) - 1)), max_size=6
    ),
)


def _text(look: Look, words: str) -> str:
    if look.entities:
        words = words.replace("'", "&#39;").replace("é", "&eacute;").replace("è", "&#232;")
    if look.spaces:
        words = words.replace(". ", ".\n      ").replace(" ", "  ", 1)
    return words


def _attrs(look: Look, *pairs: tuple[str, str]) -> str:
    ordered = list(reversed(pairs)) if look.reorder else list(pairs)
    return " ".join(f'{k}="{v}"' for k, v in ordered)


def _button(look: Look, name: str, french: str, english: str, action: str) -> str:
    label = english if look.english else french
    where = [("formaction", action)] if look.formaction else []
    if look.button_tag:
        attrs = _attrs(look, ("type", "submit"), ("name", name), ("class", "Bbutton"), *where)
        return f"<button {attrs}>{_text(look, label)}</button>"
    attrs = _attrs(
        look, ("type", "submit"), ("name", name), ("class", "Bbutton"),
        ("value", html.escape(label)), *where,
    )  # fmt: skip
    return f"<input {attrs} />"


def _form(look: Look, action: str, inner: str) -> str:
    where = "" if look.formaction or look.no_action else f' action="{action}"'
    return f'<form id="FormBookingCreate" name="create" method="post"{where}>\n{inner}\n</form>'


def _chrome(step: int, body: str, module: str) -> str:
    images = "".join(
        f'<img src="{module}/extension/bookingui/images/etape_{n}{"r" if n == step else ""}.png" '
        f'alt="Etape {n}" />'
        for n in range(10)
    )
    return (
        '<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>Prise de rendez-vous'
        f"</title></head><body><h1>Prise de rendez-vous</h1><div>{images}</div>{body}"
        "</body></html>"
    )


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _long(day: date) -> str:
    return f"{DAYS[day.weekday()]} {day.day:02d} {MONTHS[day.month - 1]} {day.year}"


class LegacySite:
    """The legacy module's pages for one state and one look, and what a person would find."""

    def __init__(self, state: State, look: Look, breaks: str | None = None) -> None:
        self.state, self.look, self.breaks = state, look, breaks
        self.module = "/index.php" if state.index_php else ""
        self.create = f"{self.module}/booking/create/{FORM}"
        plannings = PLANNINGS[: state.counters]
        asked = state.asked if state.asked is not None and state.asked < state.counters else None
        self.asked = plannings[asked] if asked is not None else None
        self.planning = self.asked or plannings[0]
        if state.counters == 1 and look.grid_url == "script" and self.asked is None:
            self.asked = self.planning  # a built URL needs the counter: the catalogue names it
        self.origin = None if state.origin_shift is None else TODAY + timedelta(state.origin_shift)
        self.slots = sorted(
            datetime.combine(TODAY + timedelta(days=1 + d), TIMES[t], tzinfo=PARIS)
            for d, t in state.free
        )

    def url(self) -> str:
        return HOST + self.create

    def expected(self) -> tuple[Outcome, str, tuple[datetime, ...]]:
        horizon_end = NOW + timedelta(days=HORIZON)
        within = [s for s in self.slots if s <= horizon_end]
        if self.state.no_slot:
            return Outcome.UNAVAILABLE, Detail.NO_SLOT_PAGE, ()
        if not within:
            return Outcome.UNAVAILABLE, Detail.NONE_WITHIN_HORIZON, ()
        return Outcome.AVAILABLE, Detail.SLOTS_SEEN, tuple(within[:2])

    def session(self) -> PageSession:
        look, create = self.look, self.create
        box = _attrs(look, ("type", "checkbox"), ("id", "condition"), ("name", "condition"))
        label = (
            "Please tick the box to accept the terms and conditions before going on."
            if look.english
            else "Veuillez cocher la case pour accepter les conditions d'utilisation avant de "
            "continuer le processus de prise de rendez-vous."
        )
        conditions = _form(
            look,
            f"{create}/0",
            f'<div id="condition_Booking"><input {box} /><label for="condition">'
            f'{_text(look, label)}</label></div>\n<div id="submit_Booking">'
            + _button(
                look,
                "nextButton",
                "Effectuer une demande de rendez-vous",
                "Request an appointment",
                f"{create}/0",
            )
            + "</div>",
        )
        first = 1 if self.state.counters > 1 else 2

        def accept(fields: dict[str, str]) -> tuple[int, str, str | None]:
            if fields.get("condition") and "nextButton" in fields:
                return 302, "", f"{create}/{first}"
            return 200, _chrome(0, conditions, self.module), None

        radios = "".join(
            f'<p class="Bligne"><input {_attrs(look, ("type", "radio"), ("name", "planning"))} '
            f'id="planning{p}" value="{p}" /><label for="planning{p}">Guichet {n + 1}</label></p>'
            for n, p in enumerate(PLANNINGS[: self.state.counters])
        )
        counters = _form(
            look,
            f"{create}/1",
            f'<fieldset id="fchoix_Booking">{radios}</fieldset>'
            + _button(look, "nextButton", "Etape suivante", "Next step", f"{create}/1"),
        )

        def choose(fields: dict[str, str]) -> tuple[int, str, str | None]:
            if fields.get("planning") == self.planning and "nextButton" in fields:
                return 302, "", f"{create}/2"
            return 200, _chrome(1, counters, self.module), None

        after = f"{create}/3" if self.state.notice else f"{create}/4"
        sentence = NO_SLOT_TEXT
        if self.breaks == "sentence":
            sentence = sentence.replace("ultérieurement", "plus tard")
        no_slot = _form(
            look,
            f"{create}/2",
            _text(look, sentence) + _button(look, "finishButton", "Terminer", "Finish", create),
        )
        notice = _form(
            look,
            f"{create}/3",
            "<p>Attention : tout dossier incomplet ne sera pas traité.</p>"
            + _button(look, "nextButton", "Etape suivante", "Next step", f"{create}/3"),
        )
        routes = {
            ("GET", create): page(_chrome(0, conditions, self.module)),
            ("POST", create): accept,
            ("POST", f"{create}/0"): accept,
            ("GET", f"{create}/1"): page(_chrome(1, counters, self.module)),
            ("POST", f"{create}/1"): choose,
            ("GET", f"{create}/2"): (
                page(_chrome(2, no_slot, self.module)) if self.state.no_slot else redirect(after)
            ),
            ("GET", f"{create}/3"): page(_chrome(3, notice, self.module)),
            ("POST", f"{create}/3"): redirect(f"{create}/4"),
            ("POST", create + "/3"): redirect(f"{create}/4"),
            ("GET", f"{create}/4"): page(_chrome(4, self.dates(), self.module)),
        }
        return PageSession(HOST, routes, fallback=self.grid)

    def _first_offset(self) -> int:
        if self.origin is None:
            return 0
        return (_monday(TODAY) - _monday(self.origin)).days

    def _assign(self, offset: int) -> str:
        return (
            f"{self.module}/ezjscore/call/bookingserver::planning::assign::{FORM}::"
            f"{self.planning}::{offset}"
        )

    def dates(self) -> str:
        look, offset = self.look, self._first_offset()
        url = self._assign(offset)
        if look.grid_url == "script":
            script = (
                "var call = ['bookingserver', 'planning', 'assign'].join('::');\n"
                f"function gridUrl(w) {{ return '{self.module}/ezjscore/call/' + call + '::' + "
                f"{FORM} + '::' + {self.planning} + '::' + w; }}\n"
                f"jQuery(function() {{ loadBookingPlanning(gridUrl({offset})); }});"
            )
            holder = '<div id="planning_Booking"></div>'
        elif look.grid_url == "var":
            script = f"var bookingPlanningUrl = '{url}';\njQuery(function(){{ load(); }});"
            holder = '<div id="planning_Booking"></div>'
        else:
            script = "jQuery(function(){ load($('#planning_Booking').data('url')); });"
            holder = f"<div {_attrs(look, ('id', 'planning_Booking'), ('data-url', url))}></div>"
        form = _form(
            look,
            f"{self.create}/4",
            f"<p>Choisissez une date.</p>{holder}"
            + _button(look, "previousButton", "Etape précédente", "Previous step", self.create)
            + '<input type="submit" name="nextButton" value="Première plage horaire libre" />',
        )
        return f"{form}<script>{script}</script>"

    def grid(self, method: str, path: str, fields: dict[str, str]) -> tuple[int, str, str | None]:
        match = re.fullmatch(
            re.escape(self.module)
            + r"/ezjscore/call/bookingserver::planning::assign::(\d+)::(\d+)::(-?\d+)",
            path,
        )
        if method != "GET" or match is None or match[1] != str(FORM):
            return 404, "<p>404</p>", None
        if match[2] != self.planning:
            return 200, "", None
        offset = int(match[3])
        base = TODAY if self.origin is None else self.origin
        monday = _monday(base + timedelta(days=offset))
        return 200, self.week(monday, offset), None

    def week(self, monday: date, offset: int) -> str:
        look = self.look
        sunday = monday + timedelta(days=6)
        if look.english:
            head = f"Week from {_long(monday)} to {_long(sunday)}"
        else:
            head = f"Semaine du {_long(monday)} au {_long(sunday)}"
        if self.breaks == "header":
            head = "Planning"
        free = set(self.slots)
        rows = []
        broken = self.breaks == "status"
        for when in TIMES:
            cells = []
            for n in range(7):
                start = datetime.combine(monday + timedelta(days=n), when, tzinfo=PARIS)
                if start in free:
                    stamp = int(start.timestamp())
                    href = f"{self.create}/5/{self.planning}/{stamp}"
                    classes = "free status-1" if look.reorder else "status-1 free"
                    cells.append(f'<td class="{classes}"><a href="{href}">libre</a></td>')
                elif broken:
                    cells.append('<td class="closed">&nbsp;</td>')
                    broken = False
                elif start <= NOW:
                    cells.append('<td class="status-3 past">&nbsp;</td>')
                else:
                    cells.append('<td class="status-0 closed">&nbsp;</td>')
            tag = "td" if look.time_cells else "th"
            rows.append(f"<tr><{tag}>{when:%H:%M}</{tag}>{''.join(cells)}</tr>")
        spacing = "\n    " if look.spaces else ""
        nav = (
            f'<a href="#" onclick="return load(\'{self._assign(offset - 7)}\');">&lt;</a>'
            f'<a href="#" onclick="return load(\'{self._assign(offset + 7)}\');">&gt;</a>'
        )
        return (
            f'<table class="planning"><thead><tr><th>{nav}</th><th colspan="7">{spacing}'
            f"{_text(look, head)}{spacing}</th></tr></thead><tbody>{''.join(rows)}</tbody>"
            '</table><div class="legende"><span class="status-1">libre</span></div>'
        )


def _legacy(site: LegacySite) -> tuple[Reading, PageSession]:
    session = site.session()
    reading = asyncio.run(
        read(EzBookingReader(), session, site.url(), NOW, site.asked, horizon_days=HORIZON)
    )
    return reading, session


@EXAMPLES
@given(state=states, look=looks)
def test_legacy_presentation_keeps_the_outcome_and_slots(state: State, look: Look) -> None:
    site = LegacySite(state, look)
    reading, session = _legacy(site)
    outcome, detail, first_two = site.expected()
    assert (reading.outcome, reading.detail) == (outcome, detail), reading.message
    assert reading.slots[:2] == first_two
    assert not [s for s in session.sent if "/5/" in s[1] or s[2].get("nextButton", "").startswith(
        "Première")]  # fmt: skip


@EXAMPLES
@given(state=states, look=looks, breaks=st.sampled_from(("sentence", "header", "status")))
def test_legacy_without_what_a_person_relies_on_is_unrecognized(
    state: State, look: Look, breaks: str
) -> None:
    forced = State(
        state.counters, state.asked, state.notice, state.index_php, breaks == "sentence",
        state.origin_shift, state.free,
    )  # fmt: skip
    site = LegacySite(forced, look, breaks)
    reading, _ = _legacy(site)
    assert reading.outcome is Outcome.UNRECOGNIZED, reading.message
    assert reading.slots == ()
    assert reading.kept_page is not None


def test_the_guard_would_refuse_the_first_free_slot_button() -> None:
    """The date page offers « Première plage horaire libre »: the examples above never press it,
    and the guard would refuse it if a reader tried."""
    from guichets.platforms.ezbooking import guard

    try:
        guard(
            "POST",
            f"{HOST}/booking/create/{FORM}/2",
            {"nextButton": "Première plage horaire libre"},
        )
    except ForbiddenRequest:
        return
    raise AssertionError("the guard let the first-free-slot button through")


# -- RDV-Préfecture -------------------------------------------------------------------------------

RDV = "/rdvpref/reservation/demarche/2201"


@dataclass(frozen=True)
class RdvLook:
    input_submit: bool  # « Suivant » as <input type=submit> rather than <button>
    formaction: bool  # « Suivant » names _validerCaptcha; else the form's own action does
    accept_box: bool  # a required box accepting the conditions
    reorder: bool
    entities: bool
    line_break: bool  # the no-slot sentences split by <br/> or in one block


rdv_looks = st.builds(
    RdvLook, st.booleans(), st.booleans(), st.booleans(), st.booleans(), st.booleans(),
    st.booleans(),
)  # fmt: skip
rdv_slots = st.frozensets(
    st.tuples(st.integers(1, 6), st.sampled_from((540, 570, 840))), max_size=4
)


def _fr(day: date) -> str:
    return f"{day:%d/%m/%Y}"


class RdvSite:
    def __init__(self, slots: frozenset[tuple[int, int]], look: RdvLook, breaks: str | None):
        self.look, self.breaks = look, breaks
        self.slots = sorted(
            datetime.combine(TODAY + timedelta(days=d), time(m // 60, m % 60), tzinfo=PARIS)
            for d, m in slots
        )

    def session(self) -> PageSession:
        look = self.look
        where = (RDV + "/cgu/", f' formaction="{RDV}/_validerCaptcha"') if look.formaction else (
            RDV + "/_validerCaptcha", "")  # fmt: skip
        if self.breaks == "button":
            suivant = ""
        elif look.input_submit:
            suivant = f'<input {_attrs_r(look, ("type", "submit"), ("class", "fr-btn"))} value="Suivant"{where[1]} />'  # noqa: E501
        else:
            suivant = f"<button {_attrs_r(look, ('type', 'submit'), ('class', 'fr-btn'))}{where[1]}>Suivant</button>"  # noqa: E501
        box = (
            '<div class="fr-checkbox-group"><input type="checkbox" id="cgu" name="cgu" required />'
            "<label for=\"cgu\">J'accepte les conditions générales d'utilisation</label></div>"
            if look.accept_box
            else ""
        )
        cgu = (
            f'<html><body><h1>Constituez votre dossier</h1><form method="post" '
            f'action="{where[0]}"><input type="hidden" name="CTX" value="abc" />'
            f"<p>Conditions d'utilisation.</p>{box}{suivant}</form></body></html>"
        )

        def validate(fields: dict[str, str]) -> tuple[int, str, str | None]:
            if fields.get("CTX") != "abc" or (look.accept_box and not fields.get("cgu")):
                return 302, "", f"{RDV}/cgu/?error=errorSessionInvalide"
            return 302, "", f"{RDV}/creneau/"

        routes = {
            ("GET", RDV + "/"): page(
                f'<html><body><a href="{RDV}/cgu/">Prendre rendez-vous</a></body></html>'
            ),
            ("GET", RDV + "/cgu/"): page(cgu),
            ("POST", RDV + "/_validerCaptcha"): validate,
            ("POST", RDV + "/cgu/"): validate,
            ("GET", RDV + "/creneau/"): page(self.creneau()),
        }
        return PageSession(HOST, routes)

    def creneau(self) -> str:
        look = self.look
        days = [TODAY + timedelta(days=n) for n in range(7)]
        tranches = [
            {"trhId": 7000 + n, "dateLocale": _fr(s.date()), "minutesDebut": s.hour * 60 + s.minute}
            for n, s in enumerate(self.slots)
        ]
        data = {
            "critere": {
                "premierJour": _fr(TODAY), "dateMin": _fr(TODAY),
                "dateMax": _fr(TODAY + timedelta(days=30)),
                "datePremiereDispo": _fr(self.slots[0].date()) if self.slots else "",
            },
            "tranches": tranches,
        }  # fmt: skip
        columns = []
        for day in days:
            items = ""
            for n, s in enumerate(self.slots):
                if s.date() != day:
                    continue
                label = f"{s:%H}h{s:%M}"
                if self.breaks == "label":
                    label = f"{s:%H}h{(s.minute + 5) % 60:02d}"
                items += (
                    f'<li class="{"radio-card cellule" if look.reorder else "cellule radio-card"}">'
                    f'<input type="radio" name="trhId" id="trhId_{7000 + n}" '
                    f'data-value="{7000 + n}" /><label class="fr-label" for="trhId_{7000 + n}">'
                    f"{label}</label></li>"
                )
            classes = (
                "blocCreneauSelection column col"
                if look.reorder
                else "column col blocCreneauSelection"
            )
            columns.append(
                f'<div class="{classes}"><h3 class="celulleHeader">{DAYS[day.weekday()]}<br/>'
                f"{day:%d/%m}</h3><ul>{items}</ul></div>"
            )
        message = ""
        if not self.slots and self.breaks != "message":
            first, second = "Aucun créneau disponible à partir de cette date.", (
                "Veuillez réessayer ultérieurement.")  # fmt: skip
            if look.entities:
                first, second = first.replace("é", "&eacute;"), second.replace("é", "&#233;")
            joiner = "<br/>" if look.line_break else "\n  "
            message = f'<div class="text-center q-pa-md">{first}{joiner}{second}</div>'
        script = __import__("json").dumps({"vueData": data}, ensure_ascii=False)
        return (
            f'<html><body><h1>Choisissez votre créneau</h1><div class="row">{"".join(columns)}'
            f"</div>{message}<script>VUiPage.init({script});</script></body></html>"
        )


def _attrs_r(look: RdvLook, *pairs: tuple[str, str]) -> str:
    ordered = list(reversed(pairs)) if look.reorder else list(pairs)
    return " ".join(f'{k}="{v}"' for k, v in ordered)


def _rdv(site: RdvSite) -> Reading:
    from guichets.platforms.rdvpref import RdvPrefReader

    return asyncio.run(read(RdvPrefReader(), site.session(), HOST + RDV + "/", NOW, None, 91))


@EXAMPLES
@given(slots=rdv_slots, look=rdv_looks)
def test_rdvpref_presentation_keeps_the_outcome_and_slots(
    slots: frozenset[tuple[int, int]], look: RdvLook
) -> None:
    site = RdvSite(slots, look, None)
    reading = _rdv(site)
    if site.slots:
        assert (reading.outcome, reading.detail) == (Outcome.AVAILABLE, Detail.SLOTS_SEEN), (
            reading.message
        )
        assert list(reading.slots) == site.slots
    else:
        assert (reading.outcome, reading.detail) == (Outcome.UNAVAILABLE, Detail.NO_SLOT_PAGE), (
            reading.message
        )


@EXAMPLES
@given(slots=rdv_slots, look=rdv_looks, breaks=st.sampled_from(("message", "label", "button")))
def test_rdvpref_without_what_a_person_relies_on_is_unrecognized(
    slots: frozenset[tuple[int, int]], look: RdvLook, breaks: str
) -> None:
    if breaks == "message":
        slots = frozenset()
    elif breaks == "label" and not slots:
        slots = frozenset({(2, 570)})
    reading = _rdv(RdvSite(slots, look, breaks))
    assert reading.outcome is Outcome.UNRECOGNIZED, reading.message
    assert reading.slots == () and reading.kept_page is not None


# -- eAppointment ---------------------------------------------------------------------------------

APP = "/eAppointmentpref94/appointment.do"
MOTIFS = "Aucun rendez-vous n'est possible pour les motifs selectionnnés ou le créneau horaire séléctionné."  # noqa: E501
SERVICE = "Il n'y a pas de rendez-vous disponible pour ce service."


@dataclass(frozen=True)
class AppLook:
    button_tag: bool  # « Suivant » as <button type=button> rather than <input type=button>
    quoting: str  # how the alert is written: "double", "single" (escaped), "onload" (entities)
    reorder: bool
    spaces: bool


app_looks = st.builds(
    AppLook, st.booleans(), st.sampled_from(("double", "single", "onload")), st.booleans(),
    st.booleans(),
)  # fmt: skip
app_states = st.one_of(
    st.sampled_from((MOTIFS, SERVICE)),
    st.frozensets(st.tuples(st.integers(8, 31), st.sampled_from(("09:00", "10:30"))), min_size=1,
                  max_size=5),
)  # fmt: skip


def _alert(look: AppLook, text: str) -> tuple[str, str]:
    """(script in the page, attribute of <body>) saying ``text`` in an alert."""
    if look.quoting == "double":
        return f'<script type="text/javascript">alert("{text}");</script>', ""
    if look.quoting == "single":
        quoted = text.replace("'", "\\'")
        return f"<script>\n  window.alert( '{quoted}' );\n</script>", ""
    return "", f' onload="alert(&quot;{html.escape(text, quote=False)}&quot;)"'


class AppSite:
    def __init__(self, state: str | frozenset[tuple[int, str]], look: AppLook, breaks: str | None):
        self.state, self.look, self.breaks = state, look, breaks

    def session(self) -> PageSession:
        look = self.look
        suivant = (
            '<button type="button" id="nextButtonId" onclick="document.f.submit();">\n Suivant\n'
            "</button>"
            if look.button_tag
            else '<input type="button" id="nextButtonId" value="Suivant" '
            'onclick="document.f.submit();" />'
        )
        box = (
            '<input value="20" name="selectedMotiveKeyList" type="checkbox" id="m20" />'
            if look.reorder
            else '<input type="checkbox" name="selectedMotiveKeyList" id="m20" value="20" />'
        )
        office = (
            f'<html><head><title>Prise de rendez-vous</title></head><body><form name="f" '
            f'method="post" action="{APP}"><input type="hidden" name="sitekey" value="P941" />'
            f'<input type="hidden" name="method" value="selectMotives" />{box}'
            f'<label for="m20">Retrait de titre</label><p>{suivant}</p></form></body></html>'
        )

        def choice(fields: dict[str, str]) -> tuple[int, str, str | None]:
            if fields.get("selectedMotiveKeyList") != "20" or fields.get("sitekey") != "P941":
                return 200, "<html><head><title>Erreur</title></head><body>?</body></html>", None
            return 200, self.result(), None

        routes = {("GET", APP): page(office), ("POST", APP): choice}
        return PageSession(HOST, routes)

    def result(self) -> str:
        look = self.look
        if isinstance(self.state, str):
            text = self.state
            if self.breaks == "alert":
                text = text.replace("Aucun", "Pas de").replace("Il n'y a pas", "Aucun")
            script, onload = _alert(look, text)
            gap = "\n    " if look.spaces else ""
            return (
                f"<html><head><title>Prise de rendez-vous</title>{script}</head><body{onload}>"
                f'{gap}<input type="text" name="dayValue" id="dayValueId" disabled />{gap}'
                "</body></html>"
            )
        days = sorted({d for d, _ in self.state})
        first = days[0]
        times = sorted({t for d, t in self.state if d == first})
        cells = "".join(
            f'<td data-handler="selectDay" data-month="9" data-year="2026" class=" undefined">'
            f'<a class="ui-state-default" href="#">{d}</a></td>'
            if d in days
            else f'<td class=" ui-datepicker-unselectable ui-state-disabled"><span>{d}</span></td>'
            for d in range(1, 32)
        )
        options = "".join(f'<option value="{t}">{t}</option>' for t in times)
        day_input = (
            ""
            if self.breaks == "day"
            else '<input type="text" name="dayValue" id="dayValueId" '
            f'value="{first:02d}/10/2026" />'
        )
        return (
            "<html><head><title>Prise de rendez-vous</title></head><body>"
            '<div class="ui-datepicker-group"><div class="ui-datepicker-title">'
            '<span class="ui-datepicker-month">octobre</span> '
            '<span class="ui-datepicker-year">2026</span></div>'
            f"<table><tbody><tr>{cells}</tr></tbody></table></div>{day_input}"
            f'<select name="hourValue" id="hourValueId">{options}</select></body></html>'
        )

    def expected(self) -> tuple[Outcome, str, tuple[datetime, ...]]:
        if isinstance(self.state, str):
            return Outcome.UNAVAILABLE, Detail.NO_SLOT_PAGE, ()
        first = min(d for d, _ in self.state)
        slots = sorted(
            datetime.combine(date(2026, 10, first), time.fromisoformat(t), tzinfo=PARIS)
            for d, t in self.state
            if d == first
        )
        return Outcome.AVAILABLE, Detail.SLOTS_SEEN, tuple(slots)


def _app(site: AppSite) -> Reading:
    from guichets.platforms.eappointment import EAppointmentReader

    url = f"{HOST}{APP}?sitekey=P941#motif=20"
    return asyncio.run(read(EAppointmentReader(), site.session(), url, NOW, None, 91))


@EXAMPLES
@given(state=app_states, look=app_looks)
def test_eappointment_presentation_keeps_the_outcome_and_slots(
    state: str | frozenset[tuple[int, str]], look: AppLook
) -> None:
    site = AppSite(state, look, None)
    reading = _app(site)
    outcome, detail, slots = site.expected()
    assert (reading.outcome, reading.detail) == (outcome, detail), reading.message
    assert reading.slots == slots


@EXAMPLES
@given(state=app_states, look=app_looks)
def test_eappointment_without_what_a_person_relies_on_is_unrecognized(
    state: str | frozenset[tuple[int, str]], look: AppLook
) -> None:
    breaks = "alert" if isinstance(state, str) else "day"
    reading = _app(AppSite(state, look, breaks))
    assert reading.outcome is Outcome.UNRECOGNIZED, reading.message
    assert reading.slots == () and reading.kept_page is not None
