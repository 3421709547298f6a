"""Reader of RDV-Préfecture, the national platform (``/rdvpref/reservation/demarche/{id}/``).

The path: the démarche's landing -> ``cgu/`` -> ``_validerCaptcha`` -> ``creneau/``. When ``cgu/``
holds the CaptchEtat captcha, the probe ends there as ``barrier`` / ``captcha`` with the page kept:
the robot never answers a captcha, by any means. Without one, the reader posts the conditions form
(its hidden fields only) and reads the slot page: the page's embedded JSON first (``critere``,
``tranches``), its markup as a cross-check; when they disagree the page is ``unrecognized``. Later
weeks are reached by the page's own links ("Prochaine disponibilité le …", "Semaine suivante").

Never books: :func:`guard` refuses, before anything is sent (redirects included), every step after
the slot page, any slot choice (``trhId``), any captcha field, and the captcha service itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any, ClassVar
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser, LexborNode
from yarl import URL

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
from guichets.platforms.forms import buttons, form_of, says, submission, ticked_boxes

__all__ = ["CreneauPage", "PageError", "RdvPrefReader", "guard", "parse_creneau"]

NO_SLOT_FROM_DATE = "Aucun créneau disponible à partir de cette date"
WEEK_EMPTY = "Aucun créneau disponible sur cette semaine"
DAY_EMPTY = "Aucun créneau disponible"
RETRY = "Veuillez réessayer ultérieurement."
NEXT_DISPO = "Prochaine disponibilité le"
MORE = "Voir plus de créneaux"
NEXT_WEEK = "Semaine suivante"

_DEMARCHE = re.compile(r"^(?P<base>.*)/rdvpref/reservation/demarche/(?P<id>\d+)(?P<rest>/.*)?$")
# The steps a probe may take; everything after the slot page selects, identifies or confirms.
_ALLOWED = {"/": "GET", "/cgu/": "GET", "/_validerCaptcha": "POST", "/creneau/": "GET"}
_CAPTCHA_FIELDS = ("captcha", "bdc_")
_FR_DATE = r"(\d{2})/(\d{2})/(\d{4})"
_AT = rf"\s*:\s*le\s+{_FR_DATE}\s+à\s+(\d{{2}}):(\d{{2}})"
_NEXT_PUB = re.compile(rf"Prochaine mise en ligne de nouveaux rendez-vous{_AT}")
_LAST_PUB = re.compile(rf"Dernière mise en ligne de rendez-vous{_AT}")
_DAY_HEADER = re.compile(r"(\d{2})/(\d{2})\s*$")
_LABEL = re.compile(r"^(\d{2})h(\d{2})$")
_MAX_PAGES = 20
# The conditions page's button to go on (compared folded).
NEXT_LABELS = frozenset({"suivant", "continuer", "valider", "next", "continue"})


def guard(method: str, url: str | URL, data: Mapping[str, str] | None = None) -> None:
    """Refuse, before anything is sent, a request that would pass the captcha, pick a slot or go
    beyond the slot page."""
    target = url if isinstance(url, URL) else URL(url)
    fields = {**dict(target.query), **(data or {})}
    if "simple-captcha-endpoint" in target.path:
        raise ForbiddenRequest(f"the robot never fetches or answers a captcha: {target}")
    for name in fields:
        if name == "trhId":
            raise ForbiddenRequest(f"sending trhId chooses a slot: {target}")
        if name.lower().startswith(_CAPTCHA_FIELDS):
            raise ForbiddenRequest(f"the robot never sends a captcha field ({name}): {target}")
    match = _DEMARCHE.match(target.path)
    if match is None:
        return
    rest = match["rest"] or "/"
    allowed = _ALLOWED.get(rest)
    if allowed is None:
        raise ForbiddenRequest(f"{rest} comes after the slot page (booking): {target}")
    harmless = (rest == "/_validerCaptcha" and method == "GET") or (
        rest == "/cgu/" and method == "POST"  # accepting the conditions is no booking
    )
    if method != allowed and not harmless:
        raise ForbiddenRequest(f"{method} {rest} is not a step of reading: {target}")


class PageError(ValueError):
    """A slot page that cannot be read with certainty."""

    def __init__(self, detail: str, message: str) -> None:
        super().__init__(message)
        self.detail = detail


@dataclass(frozen=True)
class CreneauPage:
    """What one slot page says, its JSON and its markup agreeing."""

    first_day: date  # premierJour: the page shows seven days from it
    date_min: date
    date_max: date
    first_available: date | None  # datePremiereDispo, from first_day on; None when empty
    slots: tuple[datetime, ...]  # this page's slots, from the JSON (the markup may show fewer)
    no_slot_wording: str | None  # which "nothing" message the markup shows
    next_dispo: str | None  # href of the "Prochaine disponibilité le …" button
    next_week: str | None  # href of "Semaine suivante"
    releases: dict[str, str] = field(default_factory=dict)  # Extra.NEXT_/LAST_RELEASE


def _fr_date(text: object, what: str) -> date:
    match = re.fullmatch(_FR_DATE, str(text)) if isinstance(text, str) else None
    if match is None:
        raise PageError(Detail.LAYOUT_CHANGED, f"{what} is not a date DD/MM/YYYY: {text!r}")
    try:
        return date(int(match[3]), int(match[2]), int(match[1]))
    except ValueError:
        raise PageError(Detail.LAYOUT_CHANGED, f"{what} is not a date: {text!r}") from None


def _json_value(text: str, key: str) -> Any:
    """The JSON value of ``"key":`` in the page's script; KeyError when absent."""
    match = re.search(rf'"{key}"\s*:\s*', text)
    if match is None:
        raise KeyError(key)
    try:
        value, _ = json.JSONDecoder().raw_decode(text, match.end())
    except json.JSONDecodeError as exc:
        raise PageError(Detail.LAYOUT_CHANGED, f"the page's {key} is not JSON: {exc}") from None
    return value


def _instant(day: date, minutes: int) -> datetime:
    return datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=PARIS)


def _publication(value: Any, what: str) -> datetime | None:
    if value is None:
        return None
    text = value.get("instantPublication") if isinstance(value, dict) else None
    match = re.fullmatch(rf"{_FR_DATE} (\d{{2}}):(\d{{2}})", text or "")
    if match is None:
        raise PageError(Detail.LAYOUT_CHANGED, f"{what} has no instantPublication: {value!r}")
    day = _fr_date(f"{match[1]}/{match[2]}/{match[3]}", what)
    return _instant(day, int(match[4]) * 60 + int(match[5]))


def _mismatch(message: str) -> PageError:
    text = f"the page's data and its markup disagree: {message}"
    return PageError(Detail.INCONSISTENT_PAGE, text)


def parse_creneau(text: str) -> CreneauPage:
    """Read a slot page: the JSON decides, the markup must say the same."""
    try:
        critere = _json_value(text, "critere")
        try:
            tranches: list[Any] | None = _json_value(text, "tranches")
        except KeyError:
            # Without a slot list in the data, the slots are what a person reads: each radio's
            # time under its day's header (checked below against critere and the words).
            if not isinstance(critere, dict):
                raise
            tranches = [] if critere.get("datePremiereDispo") == "" else None
    except KeyError as missing:
        raise PageError(
            Detail.LAYOUT_CHANGED, f"the slot page carries no {missing} data; its layout changed"
        ) from None
    if not isinstance(critere, dict) or not isinstance(tranches, list | None):
        raise PageError(Detail.LAYOUT_CHANGED, "critere or tranches have an unknown shape")
    first_day = _fr_date(critere.get("premierJour"), "premierJour")
    if tranches is None:
        tranches = _Markup(text).tranches(first_day)
    date_min = _fr_date(critere.get("dateMin"), "dateMin")
    date_max = _fr_date(critere.get("dateMax"), "dateMax")
    raw_first = critere.get("datePremiereDispo")
    first_available = None if raw_first == "" else _fr_date(raw_first, "datePremiereDispo")
    last_day = first_day + timedelta(days=6)
    by_id: dict[str, tuple[date, int]] = {}
    for item in tranches:
        if not isinstance(item, dict) or not isinstance(item.get("minutesDebut"), int):
            raise PageError(Detail.LAYOUT_CHANGED, f"a slot of unknown shape: {item!r}")
        day = _fr_date(item.get("dateLocale"), "dateLocale")
        minutes = item["minutesDebut"]
        if not first_day <= day <= last_day or not 0 <= minutes < 24 * 60:
            raise PageError(
                Detail.INCONSISTENT_PAGE, f"a slot on {day} at minute {minutes} outside the week"
            )
        trh = str(item.get("trhId"))
        if trh in by_id:
            raise PageError(Detail.INCONSISTENT_PAGE, f"the slot {trh} is listed twice")
        by_id[trh] = (day, minutes)
    days = sorted({d for d, _ in by_id.values()})
    if first_available is None and by_id:
        raise PageError(Detail.INCONSISTENT_PAGE, "slots listed, yet no first availability")
    if days and first_available != days[0]:
        raise PageError(
            Detail.INCONSISTENT_PAGE,
            f"first availability {first_available} is not the first slot's day {days[0]}",
        )
    if not days and first_available is not None and first_available <= last_day:
        raise PageError(
            Detail.INCONSISTENT_PAGE, f"first availability {first_available} in an empty week"
        )
    releases: dict[str, str] = {}
    for key, extra in (("prochainePub", Extra.NEXT_RELEASE), ("precedentePub", Extra.LAST_RELEASE)):
        try:
            when = _publication(_json_value(text, key), key)
        except KeyError:
            when = None
        if when is not None:
            releases[extra] = when.isoformat()
    markup = _Markup(text)
    markup.check(by_id, first_available, last_day >= date_max, releases)
    slots = unique_instants(_instant(d, m) for d, m in by_id.values())
    return CreneauPage(
        first_day,
        date_min,
        date_max,
        first_available,
        slots,
        markup.wording,
        markup.next_dispo,
        markup.next_week,
        releases,
    )


class _Markup:
    """What a person sees on the slot page."""

    def __init__(self, text: str) -> None:
        self.tree = LexborHTMLParser(text)
        body = self.tree.body
        self.text = normalise_space(body.text(separator=" ")) if body is not None else ""
        exact = {
            normalise_space(node.text(separator=" ")) for node in self.tree.css("div, span, p")
        }
        self.retry_alone = RETRY in exact
        self.day_empty = DAY_EMPTY in exact
        self.from_date = NO_SLOT_FROM_DATE in self.text
        self.week_empty = WEEK_EMPTY in self.text
        self.wording: str | None = None
        if self.from_date:
            self.wording = "from_date"
        elif self.retry_alone:
            self.wording = "separate_nodes" if self.day_empty else "retry_only"
        self.next_dispo: str | None = None
        self.next_dispo_day: str | None = None
        self.next_week: str | None = None
        for link in self.tree.css("a[href]"):
            words = normalise_space(link.text())
            if words.startswith(NEXT_DISPO):
                self.next_dispo = link.attributes.get("href")
                self.next_dispo_day = words.removeprefix(NEXT_DISPO).strip()
            elif words == NEXT_WEEK:
                self.next_week = link.attributes.get("href")
        self.more = MORE in self.text

    def tranches(self, first_day: date) -> list[dict[str, Any]]:
        """The slots as a person reads them (a time under a day header), in the data's shape,
        for a page whose data lists none; a radio without a readable day or time is refused."""
        week = {(d.month, d.day): d for d in (first_day + timedelta(days=n) for n in range(7))}
        found: list[dict[str, Any]] = []
        for trh, (day, label) in self._radios().items():
            match = _LABEL.match(label)
            when = week.get((day.month, day.day)) if day is not None else None
            if not trh or match is None or when is None:
                raise PageError(
                    Detail.LAYOUT_CHANGED,
                    f"slot {trh!r} ({label!r}) has no day of the week or time",
                )
            minutes = int(match[1]) * 60 + int(match[2])
            found.append({"trhId": trh, "dateLocale": f"{when:%d/%m/%Y}", "minutesDebut": minutes})
        return found

    def _radios(self) -> dict[str, tuple[date | None, str]]:
        """trhId -> (day of its block, time label), from the radios."""
        found: dict[str, tuple[date | None, str]] = {}
        for radio in self.tree.css("input[name=trhId]"):
            trh = radio.attributes.get("data-value") or radio.attributes.get("value") or ""
            ident = radio.attributes.get("id") or ""
            label = self.tree.css_first(f'label[for="{ident}"]') if ident else None
            if trh in found:
                raise _mismatch(f"the slot {trh} is shown twice")
            found[trh] = (self._day_of(radio), normalise_space(label.text()) if label else "")
        return found

    @staticmethod
    def _day_of(node: LexborNode) -> date | None:
        """The DD/MM of the day block around a radio (a column, or an item on small screens)."""
        parent = node.parent
        while parent is not None:
            classes = (parent.attributes.get("class") or "").split()
            header = None
            if "blocCreneauSelection" in classes:
                header = parent.css_first("h3")
            elif "q-expansion-item" in classes:
                header = parent.css_first(".q-item__label")
            if header is not None:
                match = _DAY_HEADER.search(normalise_space(header.text(separator=" ")))
                return date(2000, int(match[2]), int(match[1])) if match else None
            parent = parent.parent
        return None

    def check(
        self,
        by_id: dict[str, tuple[date, int]],
        first_available: date | None,
        last_week: bool,
        releases: dict[str, str],
    ) -> None:
        radios = self._radios()
        for trh, (day, label) in radios.items():
            if trh not in by_id:
                raise _mismatch(f"the markup offers slot {trh}, absent from the data")
            want_day, minutes = by_id[trh]
            if day is None or (day.month, day.day) != (want_day.month, want_day.day):
                raise _mismatch(f"slot {trh} of {want_day} shown under another day")
            if not _LABEL.match(label) or label != f"{minutes // 60:02d}h{minutes % 60:02d}":
                raise _mismatch(f"slot {trh} at minute {minutes} labelled {label!r}")
        truncated = False
        for day in sorted({d for d, _ in by_id.values()}):
            ordered = sorted((m, t) for t, (d, m) in by_id.items() if d == day)
            shown = [t for _, t in ordered if t in radios]
            if not shown or shown != [t for _, t in ordered[: len(shown)]]:
                raise _mismatch(f"the slots of {day} shown are not the first of the data")
            truncated |= len(shown) < len(ordered)
        if truncated and not self.more:
            raise _mismatch(f"some slots are hidden but there is no « {MORE} »")
        if first_available is None:
            if self.wording is None:
                raise _mismatch("no slot in the data, and no « no slot » message on the page")
        elif by_id:
            # The last week of the calendar ends with the "nothing from this date" message.
            if self.week_empty or (self.wording is not None and not last_week):
                raise _mismatch("slots in the data, and a « no slot » message on the page")
        else:
            shown_day = f"{first_available:%d/%m/%Y}"
            if not self.week_empty or self.next_dispo is None or self.next_dispo_day != shown_day:
                raise _mismatch(
                    f"the data's next availability {shown_day} is not what the page offers "
                    f"({self.next_dispo_day!r})"
                )
        for pattern, extra in ((_NEXT_PUB, Extra.NEXT_RELEASE), (_LAST_PUB, Extra.LAST_RELEASE)):
            match = pattern.search(self.text)
            if match is None:
                continue
            day = date(int(match[3]), int(match[2]), int(match[1]))
            announced = _instant(day, int(match[4]) * 60 + int(match[5])).isoformat()
            if releases.get(extra) != announced:
                raise _mismatch(f"{extra} shown as {announced}, data says {releases.get(extra)}")


class RdvPrefReader:
    """RDV-Préfecture's reader."""

    name: ClassVar[str] = "rdvpref"

    def check_url(self, url: str) -> None:
        parts = http_parts(url)
        match = _DEMARCHE.match(parts.path)
        if match is None:
            raise ValueError(
                f"{url!r} is not a démarche of RDV-Préfecture; expected "
                "https://www.rdv-prefecture.interieur.gouv.fr/rdvpref/reservation/demarche/{id}/"
            )
        if (match["rest"] or "/") != "/":
            raise ValueError(f"{url!r} points into the flow; give the démarche's landing URL")

    async def read(self, session: PoliteSession, target: Target, now: datetime) -> Reading:
        session.add_guard(guard)
        walk = _Walk(session, target, now)
        return walk.done(await walk.run())


class _Walk:
    """One probe's path on the platform."""

    def __init__(self, session: PoliteSession, target: Target, now: datetime) -> None:
        self.session = session
        self.target = target
        self.now = now
        self.horizon_end = now.astimezone(PARIS) + timedelta(days=target.horizon_days)

    def done(self, reading: Reading) -> Reading:
        return replace(reading, horizon_end=self.horizon_end)

    @staticmethod
    def _captcha(reading: Reading, page: Response) -> Reading:
        """Name the captcha met: the barrier's kind is a finding in itself."""
        if reading.detail != Detail.CAPTCHA:
            return reading
        extra = dict(reading.extra)
        element = LexborHTMLParser(page.text).css_first("rdv-captchetat")
        if element is not None:
            extra[Extra.CAPTCHA] = "captchetat"
            style = element.attributes.get("captcha-style-name")
            if style:
                extra[Extra.CAPTCHA_STYLE] = style
        return replace(reading, extra=extra)

    def _classify(self, page: Response) -> Reading | None:
        found = classify_page(page)
        return None if found is None else self._captcha(found, page)

    async def run(self) -> Reading:
        page = await self.session.get(self.target.url)
        found = self._classify(page)
        if found is not None:
            return found
        if _rest(page.url) != "/cgu/":
            tree = LexborHTMLParser(page.text)
            links = [urljoin(page.url, a.attributes.get("href") or "") for a in tree.css("a[href]")]
            # A link to the conditions, or a button whose form leads there (« Prendre
            # rendez-vous » drawn as a form): a person follows either.
            for control in buttons(tree.body) if tree.body is not None else []:
                owner = form_of(control, tree)
                if owner is not None:
                    sent = submission(page.url, owner, control, {}, skip=_CAPTCHA_FIELDS)
                    if sent.method == "GET":
                        links.append(sent.url.split("?", 1)[0])
            link = next((u for u in links if _rest(u) == "/cgu/"), None)
            if link is None:
                return unrecognized(
                    Detail.LAYOUT_CHANGED,
                    "the démarche's page has no link to its conditions (cgu/)",
                    page,
                )
            page = await self.session.get(link)
            found = self._classify(page)
            if found is not None:
                return found
        return await self._conditions(page)

    async def _conditions(self, page: Response) -> Reading:
        """No captcha on cgu/: press « Suivant » as a person does, whatever its tag, sending the
        form's hidden fields (never a captcha field) to its ``formaction`` or the form's action,
        with the conditions' acceptance ticked when the page asks for it."""
        tree = LexborHTMLParser(page.text)
        scope = tree.body
        pressable = buttons(scope) if scope is not None else []
        control = next((c for c in pressable if says(c, NEXT_LABELS)), None)
        form = form_of(control, tree) if control is not None else None
        if control is None or form is None:
            return unrecognized(
                Detail.LAYOUT_CHANGED, "the conditions page has no « Suivant » button", page
            )
        ticked, other = ticked_boxes(form, tree)
        if other:
            return unrecognized(
                Detail.LAYOUT_CHANGED,
                f"the conditions page requires boxes that are not the conditions' acceptance "
                f"({', '.join(other)})",
                page,
            )
        sent = submission(page.url, form, control, ticked, skip=_CAPTCHA_FIELDS)
        if sent.method == "POST":
            page = await self.session.post(sent.url, sent.fields)
        else:
            page = await self.session.get(sent.url)
        found = self._classify(page)
        if found is not None:
            return found
        if _rest(page.url) == "/cgu/":
            error = dict(URL(page.url).query).get("error", "")
            if error == "errorSessionInvalide":
                return unrecognized(
                    Detail.SESSION_LOST, "the platform says the session expired", page
                )
            return unrecognized(
                Detail.UNEXPECTED_PAGE,
                f"the conditions page came back (error={error!r}) without a captcha to show",
                page,
            )
        return await self._slots(page)

    async def _slots(self, page: Response) -> Reading:
        today = self.now.astimezone(PARIS).date()
        last_day = self.horizon_end.date()
        slots: list[datetime] = []
        extra: dict[str, str] = {}
        expected: date | None = None
        for pages in range(1, _MAX_PAGES + 1):
            found = self._classify(page)
            if found is not None:
                return found
            if _rest(page.url) != "/creneau/":
                return unrecognized(
                    Detail.UNEXPECTED_PAGE, f"expected the slot page, got {page.url}", page
                )
            try:
                week = parse_creneau(page.text)
            except PageError as exc:
                return unrecognized(exc.detail, str(exc), page)
            # The first page must start today, or on the first day the platform books at all
            # (dateMin): a later start could hide days a person could have booked.
            if expected is None and week.first_day > max(today, week.date_min):
                return unrecognized(
                    Detail.INCONSISTENT_PAGE,
                    f"the slot page starts on {week.first_day}, after today ({today}) and "
                    f"after its first bookable day ({week.date_min})",
                    page,
                )
            if expected is not None and week.first_day != expected:
                return unrecognized(
                    Detail.INCONSISTENT_PAGE,
                    f"asked for the days from {expected}, got {week.first_day}",
                    page,
                )
            if pages == 1:
                extra.update(week.releases)
                if week.first_available is not None:
                    extra[Extra.FIRST_AVAILABLE_DAY] = week.first_available.isoformat()
            extra[Extra.WEEKS_READ] = str(pages)
            if week.first_available is None or week.first_available > last_day:
                break
            slots.extend(s for s in week.slots if self.now < s <= self.horizon_end)
            if len(slots) >= 2:
                break
            link = week.next_week if week.slots else week.next_dispo
            if link is None:
                break
            target = urljoin(page.url, link)
            asked = dict(URL(target).query).get("premierJour", "")
            expected = _fr_date(asked, "premierJour") if asked else None
            if expected is None or expected <= week.first_day:
                return unrecognized(
                    Detail.INCONSISTENT_PAGE, f"the next page's link leads nowhere later: {link}",
                    page,
                )  # fmt: skip
            page = await self.session.get(target)
        found_slots = unique_instants(slots)
        if found_slots:
            return slots_seen(found_slots, page.status, extra)
        if week.first_available is None:
            extra[Extra.NO_SLOT_MESSAGE] = week.no_slot_wording or ""
            announced = extra.get(Extra.NEXT_RELEASE)
            return Reading(
                Outcome.UNAVAILABLE,
                Detail.NO_SLOT_PAGE,
                "the platform says no slot is available from "
                f"{week.first_day:%d/%m/%Y} on"
                + (f"; next release announced for {announced}" if announced else ""),
                http_status=page.status,
                extra=extra,
            )
        if week.first_available > last_day:
            return Reading(
                Outcome.UNAVAILABLE,
                Detail.NONE_WITHIN_HORIZON,
                f"the platform's first availability is {week.first_available}, after the "
                f"horizon ({last_day})",
                http_status=page.status,
                extra=extra,
            )
        return unrecognized(
            Detail.UNEXPECTED_PAGE,
            f"the platform announces a slot on {week.first_available} but shows none",
            page,
        )


def _rest(url: str) -> str | None:
    match = _DEMARCHE.match(URL(url).path)
    return None if match is None else match["rest"] or "/"
