"""A person's walk through the legacy booking module, and a reader of its week grids, for tests.

This is test code written from the platform's description, independent of the robot's reader, so
that the simulator is checked against what a person sees.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise

from selectolax.lexbor import LexborHTMLParser as HTMLParser

from tests.simthread import Browser, Page

MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
          "octobre", "novembre", "décembre")  # fmt: skip
NO_SLOT = (
    "Il n'existe plus de plage horaire libre pour votre demande de rendez-vous. "
    "Veuillez recommencer ultérieurement."
)
HEADER = re.compile(
    r"^(?:Semaine du|Week from) \w+ (\d{2}) (\w+) (\d{4}) (?:au|to) \w+ (\d{2}) (\w+) (\d{4})$"
)
ASSIGN = re.compile(r"'([^']*bookingserver::planning::assign::\d+::\d+::)(-?\d+)'")
# The simulator's "script-url" variant: the URL built from pieces in the page's script.
PIECES = re.compile(
    r"return '([^']*)/ezjscore/call/' \+ \w+ \+ '::' \+ (\d+) \+ '::' \+ (\d+) \+ '::' \+ week;"
    r".*?\((-?\d+)\)\); \}\);",
    re.DOTALL,
)


@dataclass
class Walk:
    """Where a person's walk ended."""

    kind: str  # "no_slot", "dates", or "other"
    page: Page
    steps: list[str]


def form_text(page: Page) -> str | None:
    """The words a person reads in the module's form: its buttons are not part of them, and
    spacing does not matter (a site's presentation variant may break lines)."""
    node = HTMLParser(page.text).css_first("form#FormBookingCreate")
    if node is None:
        return None
    inner = HTMLParser(re.sub(r"<button\b.*?</button>", "", node.html or "", flags=re.DOTALL))
    return " ".join(inner.text(deep=True, separator="", strip=False).split())


def walk(browser: Browser, url: str, planning: int | None = None) -> Walk:
    """Steps 0 -> (1) -> 2 -> (3) -> 4, pressing only 'next' buttons, as a person does."""
    steps: list[str] = []
    page = browser.request(url)
    steps.append(page.url)
    if 'id="condition"' not in page.text:
        return Walk("other", page, steps)
    page = browser.request(
        page.url.rsplit("/booking/", 1)[0] + _path(url, 0),
        {"condition": "on", "nextButton": "Effectuer une demande de rendez-vous"},
    )
    for _ in range(4):
        steps.append(page.url)
        tree = HTMLParser(page.text)
        if page.url.endswith("/1"):
            radios = [n.attributes["value"] for n in tree.css("input[name=planning]")]
            chosen = str(planning) if planning is not None else radios[0]
            page = browser.request(
                page.url, {"planning": str(chosen), "nextButton": "Etape suivante"}
            )
            continue
        if form_text(page) == NO_SLOT:
            return Walk("no_slot", page, steps)
        if "etape_4r.png" in page.text:
            return Walk("dates", page, steps)
        if page.url.endswith(("/2", "/3")) and tree.css_first("[name=nextButton]"):
            page = browser.request(page.url, {"nextButton": "Etape suivante"})
            continue
        break
    return Walk("other", page, steps)


def _path(url: str, step: int) -> str:
    tail = url.split("/booking/", 1)[1].split("/")
    return f"/booking/{tail[0]}/{tail[1]}/{step}"


@dataclass
class Week:
    monday: date
    free: list[int]  # unix timestamps of free cells
    cells: int


def read_week(fragment: str) -> Week:
    tree = HTMLParser(fragment)
    header = next((th.text(strip=True) for th in tree.css("th[colspan='7']")), "")
    match = HEADER.match(header)
    assert match, f"unreadable week header {header!r}"
    day, month, year = int(match.group(1)), MONTHS.index(match.group(2)) + 1, int(match.group(3))
    monday = date(year, month, day)
    free = []
    for cell in tree.css("td.status-1.free"):
        link = cell.css_first("a")
        assert link is not None, "a free cell without a link"
        free.append(int(link.attributes["href"].rsplit("/", 1)[1]))
    cells = [td for td in tree.css("tbody td") if "heure" not in (td.attributes.get("class") or "")]
    return Week(monday, sorted(free), len(cells))


def read_grids(browser: Browser, dates_page: Page, weeks: int) -> list[Week]:
    """Read ``weeks`` week grids forward from the one the date page loads first."""
    match = ASSIGN.search(dates_page.text)
    if match:
        prefix, first = match.group(1), int(match.group(2))
    else:
        pieces = PIECES.search(dates_page.text)
        assert pieces, "no planning URL on the date page, nor its pieces"
        module, form, planning, offset = pieces.groups()
        prefix = f"{module}/ezjscore/call/bookingserver::planning::assign::{form}::{planning}::"
        first = int(offset)
    out = []
    for n in range(weeks):
        url = _absolute(dates_page.url, prefix) + str(first + 7 * n)
        out.append(read_week(browser.request(url).text))
    for before, after in pairwise(out):
        assert after.monday - before.monday == timedelta(days=7)
    return out


def _absolute(page_url: str, path: str) -> str:
    scheme_host = "/".join(page_url.split("/")[:3])
    return scheme_host + path
