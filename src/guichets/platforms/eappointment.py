"""Reader of eAppointment, Val-de-Marne's booking system (``…/eAppointment…/appointment.do``).

The path: ``appointment.do?sitekey=P941`` (the office a postcode leads to) -> the office's reasons
-> tick one motive, « Suivant » -> either a JavaScript ``alert`` saying there is nothing (two
wordings, typos as on the site: ``unavailable``) or the date page: a jQuery UI datepicker of the
available days and, for the first of them (already in ``dayValue``), its times (``hourValue``).
The reader records that day's slots and the available days shown; it never picks a date or a time.

The catalogue URL names the office by its sitekey and, after ``#``, the motive:
``https://rdv-etrangers-94.interieur.gouv.fr/eAppointmentpref94/appointment.do?sitekey=P941#motif=20``
(the fragment never leaves the robot). Without a motive the first one offered is probed.

Never books: :func:`guard` refuses, before anything is sent, a date or time choice, the
« Valider le rendez-vous » submission (``method=saveRdv``) and the personal-data pages.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit, urlunsplit

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
    unrecognized,
)
from guichets.platforms.forms import buttons, says, submission
from guichets.untrusted import is_counter_id

__all__ = ["ALERTS", "EAppointmentReader", "guard", "read_dates"]

# The site's no-slot alerts, word for word, typos included.
ALERTS = {
    "Aucun rendez-vous n'est possible pour les motifs selectionnnés ou le créneau horaire "
    "séléctionné.": "motifs",
    "Il n'y a pas de rendez-vous disponible pour ce service.": "service",
}
MONTHS = MONTH_NUMBERS  # the month names of its calendar

_APP = re.compile(r"^(?P<ctx>.*?/eAppointment[^/]*)(?P<page>/.*)?$", re.IGNORECASE)
_MOTIF = re.compile(r"^motif=(\d+)$")
_ALERT = re.compile(r"""alert\(\s*(["'])((?:\\.|(?!\1).)*)\1\s*\)""", re.DOTALL)
_JS_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|.)", re.DOTALL)
NEXT_LABELS = frozenset({"suivant", "continuer", "next", "continue"})


def _js_string(body: str) -> str:
    """A JavaScript string literal's text: ``n\\'est`` and ``\\u00e9`` read as a person reads
    them in the alert box."""

    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code[0] in "ux" and len(code) > 1:
            return chr(int(code[1:], 16))
        return {"n": "\n", "t": "\t", "r": ""}.get(code, code)

    return _JS_ESCAPE.sub(one, body)


_BOOKING_FIELDS = frozenset({"dayvalue", "hourvalue"})
_BOOKING_PAGES = ("personalinfo", "confirm", "recapitulatif", "save")
_HOUR = re.compile(r"^(\d{2}):(\d{2})$")
_SOONEST = re.compile(r"(\d{1,2})\s+([a-zéû]+)\s+(\d{4})\s+à\s+(\d{2})[:h](\d{2})")


def guard(method: str, url: str | URL, data: Mapping[str, str] | None = None) -> None:
    """Refuse, before anything is sent, a request that would choose a date or time, or book."""
    target = url if isinstance(url, URL) else URL(url)
    fields = {**dict(target.query), **(data or {})}
    for name, value in fields.items():
        if name.lower() in _BOOKING_FIELDS:
            raise ForbiddenRequest(f"sending {name} chooses a date or a time: {target}")
        if name.lower() == "method" and "save" in value.lower():
            raise ForbiddenRequest(f"method={value} books (« Valider le rendez-vous »): {target}")
    page = target.path.rsplit("/", 1)[-1].lower()
    if any(word in page for word in _BOOKING_PAGES):
        raise ForbiddenRequest(f"{page} is a step of booking: {target}")


def _split(url: str) -> tuple[str, str | None]:
    """The URL to fetch (without its fragment) and the motive the fragment names, if any."""
    parts = urlsplit(url)
    match = _MOTIF.match(parts.fragment)
    return urlunsplit(parts._replace(fragment="")), match.group(1) if match else None


class DatesError(ValueError):
    """A date page that cannot be read with certainty."""


def _month_of(group: LexborNode) -> tuple[int, int]:
    month = group.css_first("span.ui-datepicker-month")
    year = group.css_first("span.ui-datepicker-year")
    name = normalise_space(month.text()).lower() if month else ""
    if name not in MONTHS or year is None or not normalise_space(year.text()).isdigit():
        raise DatesError(f"a datepicker month without a readable title ({name!r})")
    return int(normalise_space(year.text())), MONTHS[name]


def read_dates(text: str) -> tuple[list[date], date, list[time]]:
    """The available days the datepicker shows, the day in ``dayValue`` and its times.

    An available day is a cell the datepicker lets a person click (``data-handler="selectDay"``
    and a link): the class the site leaves " undefined" is not enough, as today, the selected
    day and weekends carry more classes.
    """
    tree = LexborHTMLParser(text)
    groups = tree.css("div.ui-datepicker-group")
    if not groups:
        raise DatesError("the date page has no datepicker")
    days: list[date] = []
    for group in groups:
        year, month = _month_of(group)
        for cell in group.css("td"):
            classes = (cell.attributes.get("class") or "").split()
            link = cell.css_first("a")
            if "ui-datepicker-other-month" in classes:
                continue
            if cell.attributes.get("data-handler") != "selectDay" or link is None:
                continue
            if "ui-datepicker-unselectable" in classes:
                raise DatesError("a cell both selectable and unselectable")
            if (cell.attributes.get("data-month"), cell.attributes.get("data-year")) != (
                str(month - 1),
                str(year),
            ):
                raise DatesError(f"a day of {cell.attributes} under {month}/{year}")
            days.append(date(year, month, int(normalise_space(link.text()))))
    day_input = tree.css_first("#dayValueId")
    value = day_input.attributes.get("value") if day_input is not None else None
    match = re.fullmatch(r"(\d{2})/(\d{2})/(\d{4})", value or "")
    if match is None:
        raise DatesError(f"dayValue is not a date: {value!r}")
    chosen = date(int(match[3]), int(match[2]), int(match[1]))
    times = []
    for option in tree.css("#hourValueId option"):
        hour = _HOUR.match(option.attributes.get("value") or "")
        if hour is None:
            raise DatesError(f"an hour that is not HH:MM: {option.html!r}")
        times.append(time(int(hour[1]), int(hour[2])))
    if not days or chosen != min(days):
        raise DatesError(f"dayValue {chosen} is not the first available day shown")
    if not times or times != sorted(set(times)):
        raise DatesError("the first available day has no times, or they are not in order")
    soonest = tree.css_first(".soonestText")
    if soonest is not None:
        found = _SOONEST.search(normalise_space(soonest.text()))
        shown = (
            (int(found[3]), MONTHS.get(found[2]), int(found[1]), time(int(found[4]), int(found[5])))
            if found
            else None
        )
        if shown != (chosen.year, chosen.month, chosen.day, times[0]):
            raise DatesError(f"« {normalise_space(soonest.text())} » is not {chosen} {times[0]}")
    return sorted(set(days)), chosen, times


def _error_page(page: Response) -> Reading | None:
    """eAppointment's own error pages: "Erreur" in the title."""
    tree = LexborHTMLParser(page.text)
    title = tree.css_first("title")
    if title is None or "erreur" not in title.text().lower():
        return None
    words = normalise_space(tree.body.text(separator=" ")) if tree.body is not None else ""
    if "session" in words.lower():
        return unrecognized(Detail.SESSION_LOST, "the platform says the session expired", page)
    if "n'existe pas" in words:
        return unrecognized(
            Detail.COUNTER_MISSING, f"the platform does not know this office: {words}", page
        )
    return Reading(
        Outcome.SITE_ERROR,
        Detail.APP_ERROR,
        f"the platform shows its error page: {words[:200]}",
        http_status=page.status,
        kept_page=page.body,
        kept_url=page.url,
    )


class EAppointmentReader:
    """eAppointment's reader."""

    name: ClassVar[str] = "eappointment"

    def check_url(self, url: str) -> None:
        parts = http_parts(url)
        example = (
            "https://rdv-etrangers-94.interieur.gouv.fr/eAppointmentpref94/appointment.do"
            "?sitekey=P941#motif=20"
        )
        if _APP.match(parts.path) is None or not parse_qs(parts.query).get("sitekey"):
            raise ValueError(
                f"{url!r} is not an office of eAppointment; expected {example} (the entry page "
                "sends each postcode to one sitekey: give the sitekey's URL)"
            )
        if parts.fragment and _MOTIF.match(parts.fragment) is None:
            raise ValueError(f"{url!r}: after '#', name the motive as motif=<number>")

    async def read(self, session: PoliteSession, target: Target, now: datetime) -> Reading:
        session.add_guard(guard)
        horizon_end = now.astimezone(PARIS) + timedelta(days=target.horizon_days)
        reading = await _walk(session, target, now, horizon_end)
        return replace(reading, horizon_end=horizon_end)


async def _walk(
    session: PoliteSession, target: Target, now: datetime, horizon_end: datetime
) -> Reading:
    url, motive = _split(target.url)
    page = await session.get(url)
    found = classify_page(page) or _error_page(page)
    if found is not None:
        return found
    tree = LexborHTMLParser(page.text)
    form = next((f for f in tree.css("form") if f.css_first("[name=selectedMotiveKeyList]")), None)
    if form is None:
        return unrecognized(
            Detail.LAYOUT_CHANGED, "the office's page shows no reasons to choose from", page
        )
    offered = [
        value
        for box in form.css("input[name=selectedMotiveKeyList]")
        if (value := box.attributes.get("value"))
    ]
    if not all(is_counter_id(value) for value in offered):
        return unrecognized(
            Detail.UNEXPECTED_PAGE, "the office's page offers reasons that are not reason ids", page
        )
    chosen = target.counter or motive or (offered[0] if offered else None)
    if chosen is None or chosen not in offered:
        return replace(
            unrecognized(
                Detail.COUNTER_MISSING,
                f"motive {chosen} is not offered; the page offers {', '.join(offered)}",
                page,
            ),
            counter=chosen,
        )
    # « Suivant », whatever its tag; its formaction, else the form's action (the site's script
    # submits the form as a POST whatever the form says).
    control = next((c for c in buttons(form) if says(c, NEXT_LABELS)), None)
    sent = submission(page.url, form, control, {"selectedMotiveKeyList": chosen})
    if sent.method == "GET":  # the office's script posts the form: send its fields as it does
        sent = submission(page.url, _posting(form), control, {"selectedMotiveKeyList": chosen})
    page = await session.post(sent.url, sent.fields)
    return replace(_dates(page, now, horizon_end), counter=chosen)


def _posting(form: LexborNode) -> LexborNode:
    """The form as its script submits it: by POST."""
    copy = LexborHTMLParser(form.html or "").css_first("form")
    assert copy is not None
    copy.attrs["method"] = "post"
    return copy


def _dates(page: Response, now: datetime, horizon_end: datetime) -> Reading:
    found = classify_page(page) or _error_page(page)
    if found is not None:
        return found
    # Alerts in scripts, and in event attributes (whose entities a browser decodes first).
    alerts = [
        normalise_space(_js_string(m.group(2)))
        for text in dict.fromkeys((page.text, html.unescape(page.text)))
        for m in _ALERT.finditer(text)
    ]
    for alert in alerts:
        if alert in ALERTS:
            return Reading(
                Outcome.UNAVAILABLE,
                Detail.NO_SLOT_PAGE,
                f"the platform says: « {alert} »",
                http_status=page.status,
                extra={Extra.NO_SLOT_MESSAGE: ALERTS[alert]},
            )
    if alerts:
        return unrecognized(
            Detail.UNEXPECTED_PAGE, f"the platform says something unknown: {alerts[0]!r}", page
        )
    day_input = LexborHTMLParser(page.text).css_first("#dayValueId")
    if day_input is None or "disabled" in day_input.attributes:
        return unrecognized(
            Detail.UNEXPECTED_PAGE, "neither a no-slot message nor an open date choice", page
        )
    try:
        days, first, times = read_dates(page.text)
    except DatesError as exc:
        return unrecognized(Detail.INCONSISTENT_PAGE, str(exc), page)
    last_day = horizon_end.date()
    extra: dict[str, str] = {
        Extra.FIRST_AVAILABLE_DAY: first.isoformat(),
        Extra.AVAILABLE_DAYS: ",".join(d.isoformat() for d in days if d <= last_day),
    }
    slots = unique_instants(
        s for t in times if now < (s := datetime.combine(first, t, tzinfo=PARIS)) <= horizon_end
    )
    if slots:
        return Reading(
            Outcome.AVAILABLE,
            Detail.SLOTS_SEEN,
            f"{len(slots)} free slot(s) seen on the first available day, {first:%Y-%m-%d}, "
            f"the first at {slots[0]:%H:%M}; {len(days)} available day(s) shown",
            slots=slots,
            http_status=page.status,
            extra=extra,
        )
    if first > last_day:
        return Reading(
            Outcome.UNAVAILABLE,
            Detail.NONE_WITHIN_HORIZON,
            f"the first available day, {first}, is after the horizon ({last_day})",
            http_status=page.status,
            extra=extra,
        )
    return unrecognized(
        Detail.INCONSISTENT_PAGE, f"the first available day {first} has no time still ahead", page
    )
