"""What a booking URL offers, read once as a person would see it: for ``guichets catalogue add``.

Given a URL, it recognises the platform (the URL's shape, then the page itself), and reads what a
person would choose there: the counters of a legacy form (its step-1 radios, with their labels),
the démarche's title on RDV-Préfecture, the reasons an eAppointment office offers. It goes through
the robot's polite session (robots.txt, identifying User-Agent, per-host gap) and the platform's
guard, and stops before any choice is submitted that a probe would not make itself: the conditions
of a legacy form are accepted (as every probe does) to reach its counters, nothing further.

It also guesses the département and the site from the host name and the page's own words; what it
cannot guess is left empty for the command to ask.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

from selectolax.lexbor import LexborHTMLParser

from guichets.departements import DEPARTEMENTS
from guichets.http import FetchError, ForbiddenRequest, HostGates, PoliteSession, Response
from guichets.platforms import READERS, reader_for
from guichets.platforms import eappointment as eappointment_platform
from guichets.platforms import ezbooking as ezbooking_platform
from guichets.platforms import rdvpref as rdvpref_platform
from guichets.platforms.base import classify_page, normalise_space
from guichets.untrusted import clean_text

__all__ = ["Choice", "Found", "NotRecognised", "discover", "guess_departement", "slug"]

_MAX_TEXT = 300  # a label or title longer than this is not one a person reads as such
_STEP = re.compile(r"^(?P<form>.*/booking/create/\d+)(?:/0)?/?$")
_CODE_IN_HOST = re.compile(r"(?:^|[^0-9])(97[1-6]|[0-9]{2}|2[ab])(?:[^0-9]|$)", re.IGNORECASE)
_STOPWORDS = frozenset(
    (
        "a",
        "au",
        "aux",
        "d",
        "de",
        "des",
        "du",
        "en",
        "et",
        "l",
        "la",
        "le",
        "les",
        "ou",
        "par",
        "pour",
        "sur",
        "un",
        "une",
    )
)


class NotRecognised(Exception):
    """The URL is not one of a platform the robot reads, or its page does not show it."""


@dataclass(frozen=True)
class Choice:
    """One thing a person may choose on the page: a counter (legacy form) or a reason."""

    counter: str | None
    label: str | None


@dataclass(frozen=True)
class Found:
    """What the URL offers."""

    platform: str
    url: str  # as the catalogue should hold it (a legacy form's step 0, without /0)
    title: str | None
    site: str | None
    departement: str | None
    choices: tuple[Choice, ...]


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    cleaned = clean_text(text, _MAX_TEXT)  # no control, bidi or invisible character is kept
    return cleaned or None


def _fold(text: str) -> str:
    """Lowercase, without accents, punctuation as spaces: to compare names."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return " " + re.sub(r"[^a-z0-9]+", " ", plain.lower()).strip() + " "


def slug(text: str, words: int = 6) -> str:
    """A short slug of the significant words of ``text`` ("Remise d'un titre" -> "remise-titre")."""
    kept = [w for w in _fold(text).split() if w not in _STOPWORDS]
    return "-".join(kept[:words])


def guess_departement(host: str, texts: Sequence[str]) -> str | None:
    """The département a host or a site name points to, when exactly one does."""
    found: set[str] = set()
    names = sorted(DEPARTEMENTS.items(), key=lambda item: -len(item[1]))
    host_words = _fold(host.replace(".", " "))
    for text in [host_words, *(_fold(t) for t in texts)]:
        claimed = text
        for code, name in names:  # longest first: "Bouches-du-Rhône" before "Rhône"
            folded = _fold(name)
            if folded in claimed:
                found.add(code)
                claimed = claimed.replace(folded, " ")
    if not found:
        for match in _CODE_IN_HOST.finditer(host):
            code = match.group(1).upper()
            if code in DEPARTEMENTS:
                found.add(code)
    return found.pop() if len(found) == 1 else None


def _site(candidates: Sequence[str | None]) -> str | None:
    """The first short text naming a prefecture or sous-préfecture."""
    for text in candidates:
        cleaned = _clean(text)
        if cleaned and len(cleaned) <= 120 and "préfecture" in cleaned.lower():
            return cleaned
    return None


def _title_segments(tree: LexborHTMLParser) -> list[str]:
    node = tree.css_first("title")
    text = node.text() if node is not None else ""
    return [part.strip() for part in re.split(r"\s[-|–]\s", text) if part.strip()]


def _texts(tree: LexborHTMLParser, selectors: Sequence[str]) -> list[str]:
    out: list[str] = []
    for selector in selectors:
        out.extend(node.text(deep=True) for node in tree.css(selector))
    return out


def candidates(url: str, platform: str | None = None) -> list[str]:
    """The platforms whose URL shape ``url`` has (or the one asked, if it has its shape)."""
    if platform is not None:
        try:
            reader_for(platform).check_url(url)
        except ValueError as exc:
            raise NotRecognised(str(exc)) from exc
        return [platform]
    found = []
    for name, reader in READERS.items():
        try:
            reader.check_url(url)
        except ValueError:
            continue
        found.append(name)
    if not found:
        raise NotRecognised(
            f"cannot recognise the platform of {url}: it has the shape of no booking URL the "
            "robot reads (a legacy form …/booking/create/<id>, an RDV-Préfecture démarche "
            "…/rdvpref/reservation/demarche/<id>/, an eAppointment office …/appointment.do"
            "?sitekey=<key>); give --platform if it is one of them"
        )
    return found


def _form_url(url: str) -> str:
    """A legacy form's URL at step 0 as the catalogue holds it: without the ``/0``."""
    parts = urlsplit(url)
    match = _STEP.match(parts.path)
    path: str = match["form"] if match else parts.path
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _refused(page: Response, platform: str) -> NotRecognised | None:
    """A page that is not the platform's (an error, a block, a captcha wall): say which."""
    reading = classify_page(page)
    if reading is None:
        return None
    return NotRecognised(
        f"cannot confirm that {page.url} is {platform}: {reading.message} "
        f"({reading.outcome}, {reading.detail})"
    )


async def discover(url: str, gates: HostGates, platform: str | None = None) -> Found:
    """Read what ``url`` offers; NotRecognised says why it could not."""
    names = candidates(url, platform)
    name = names[0]
    session = PoliteSession(gates)
    try:
        async with session:
            if name == "ezbooking":
                session.add_guard(ezbooking_platform.guard)
                return await _ezbooking(session, _form_url(url))
            if name == "rdvpref":
                session.add_guard(rdvpref_platform.guard)
                return await _rdvpref(session, url)
            session.add_guard(eappointment_platform.guard)
            return await _eappointment(session, url)
    except FetchError as error:
        raise NotRecognised(f"cannot read {url}: {error.message} ({error.detail})") from error
    except ForbiddenRequest as refusal:
        raise NotRecognised(f"the page led to a booking step; nothing sent ({refusal})") from None


async def _ezbooking(session: PoliteSession, url: str) -> Found:
    page = await session.get(url)
    tree = LexborHTMLParser(page.text)
    form = tree.css_first("form#FormBookingCreate")
    box = form.css_first("input[name=condition]") if form is not None else None
    if form is None or box is None:
        raise _refused(page, "a legacy booking form") or NotRecognised(
            f"{page.url} does not show a legacy booking form (form#FormBookingCreate with its "
            "'condition' box): not the booking module, or its layout changed"
        )
    # The form's own heading names the procedure; the page's h1 is often the site's generic one.
    heading = form.css_first("h1, h2, h3") or tree.css_first("h1")
    title = _clean(heading.text(deep=True)) if heading is not None else None
    segments = _title_segments(tree)
    site = _site([*reversed(segments), *_texts(tree, [".site-name", "#header"])])
    departement = guess_departement(urlsplit(url).hostname or "", [site or "", *segments[1:]])
    button = next(
        (
            value
            for node in form.css("input[name=nextButton]")
            if (value := node.attributes.get("value"))
            and normalise_space(value).casefold() not in ezbooking_platform.FORBIDDEN_BUTTONS
        ),
        None,
    )
    choices: tuple[Choice, ...] = (Choice(None, None),)
    # A security check (captcha) on the conditions page hides the counters: never answered.
    if button is not None and classify_page(page) is None:
        action = urljoin(page.url, form.attributes.get("action") or page.url)
        after = await session.post(action, {"condition": "on", "nextButton": button})
        second = LexborHTMLParser(after.text).css_first("form#FormBookingCreate")
        offered = ezbooking_platform.counters_offered(second) if second is not None else []
        if offered:
            choices = tuple(Choice(value, _clean(label)) for value, label in offered)
    return Found("ezbooking", url, title, site, departement, choices)


async def _rdvpref(session: PoliteSession, url: str) -> Found:
    page = await session.get(url)
    tree = LexborHTMLParser(page.text)
    on_platform = tree.css_first("rdv-captchetat") is not None or any(
        "/cgu" in (a.attributes.get("href") or "") for a in tree.css("a[href]")
    )
    if not on_platform:
        refused = _refused(page, "an RDV-Préfecture démarche")
        raise refused or NotRecognised(
            f"{page.url} shows neither a démarche's page (a link to its conditions, cgu/) nor "
            "its captcha: not RDV-Préfecture, or its layout changed"
        )
    heading = tree.css_first("h1")
    title = _clean(heading.text(deep=True)) if heading is not None else None
    site = _site(_texts(tree, [".fr-text--lead", ".fr-header__service-tagline", "main p", "title"]))
    departement = guess_departement("", [site or ""])
    return Found("rdvpref", url, title, site, departement, (Choice(None, None),))


async def _eappointment(session: PoliteSession, url: str) -> Found:
    page_url, _, _ = url.partition("#")
    page = await session.get(page_url)
    refused = _refused(page, "an eAppointment office")
    if refused is not None:
        raise refused
    tree = LexborHTMLParser(page.text)
    boxes = tree.css("input[name=selectedMotiveKeyList]")
    if not boxes:
        raise NotRecognised(
            f"{page.url} offers no reasons to choose from (selectedMotiveKeyList): not an "
            "eAppointment office, or its layout changed"
        )
    choices = []
    for box in boxes:
        value = box.attributes.get("value")
        if not value:
            continue
        ident = box.attributes.get("id")
        label = tree.css_first(f'label[for="{ident}"]') if ident else None
        choices.append(Choice(value, _clean(label.text(deep=True)) if label else None))
    heading = tree.css_first("h1")
    site = _site([heading.text(deep=True) if heading else None, *_title_segments(tree)])
    host = urlsplit(url).hostname or ""
    departement = guess_departement(host + " " + urlsplit(url).path, [site or ""])
    # The page's title is the platform's generic one; each reason names its own procedure.
    return Found("eappointment", page_url, None, site, departement, tuple(choices))
