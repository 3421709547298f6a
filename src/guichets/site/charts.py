"""Server-side SVG charts for the département and service pages.

The charts are plain SVG strings built here rather than by a charting library: they must read with
no JavaScript, no network and no web font, print as they show, scale from a phone to a desktop, and
come out byte for byte the same from the same figures, so that a rebuilt site only changes where
the data changed. The page prints the same numbers in a table; the SVG is the picture, and every
segment and point also carries its numbers in ``data-`` attributes and a hover ``<title>``.

The legend is drawn inside each SVG, under the plot, so that a chart saved or printed alone still
says what its colours mean.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from markupsafe import Markup, escape

from guichets.french import NBSP
from guichets.stats.press import pct
from guichets.stats.wilson import FEW

__all__ = [
    "CATEGORIES",
    "CATEGORY_COLOURS",
    "NOT_MEASURED",
    "NOT_MEASURED_COLOURS",
    "MonthBar",
    "RatePoint",
    "category_bars",
    "rate_band",
    "sparkline",
]

CATEGORIES: Final = ("A", "B", "C", "D", "E")
NOT_MEASURED: Final = ("barrier", "site_error", "unrecognized")

# Yellow to dark red with an even fall in lightness (CIE L* 94, 76, 58, 39, 17): the order reads
# the same to people who do not tell red from green, and on a black-and-white printout.
CATEGORY_COLOURS: Final[Mapping[str, str]] = {
    "A": "#ffeda0",
    "B": "#fea94a",
    "C": "#ec5f2e",
    "D": "#b5162e",
    "E": "#570a1f",
}
# Greys, each drawn with its own texture (stripes, plain, dots): no colour of the A-E scale, so
# that a blocked robot or a broken site is never read as "no slot".
NOT_MEASURED_COLOURS: Final[Mapping[str, str]] = {
    "barrier": "#595959",
    "site_error": "#8c8c8c",
    "unrecognized": "#a8a8a8",
}

FONT: Final = "system-ui, sans-serif"
INK: Final = "#222"
AXIS: Final = "#666"
GRID: Final = "#d4d4d4"
EMPTY_HATCH: Final = "#b0b0b0"
LINE: Final = CATEGORY_COLOURS["E"]  # the failure rate is the share of E

_SVG_NS: Final = "http://www.w3.org/2000/svg"
_ID: Final = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")

# Geometry, in viewBox units. Text sizes assume the chart is shown 350 to 800 pixels wide.
_LEFT: Final = 46
_RIGHT: Final = 14
_PLOT_MIN: Final = 420  # plot width when there are few months
_SLOT_MIN: Final = 10  # width per month, below which the chart grows wider instead
_BAR_MAX: Final = 44
_TICK_FONT: Final = 11
_TEXT_FONT: Final = 12
_CHAR: Final = 6.6  # a generous average glyph width at 12 units, to lay out text without a font
_GRIDLINES: Final = (0.0, 0.25, 0.5, 0.75, 1.0)
_STEPS: Final = (1, 2, 3, 4, 6, 12, 24)

_WORDS: Final[Mapping[str, Mapping[str, str]]] = {
    "fr": {
        "no_data": "pas encore de données",
        "no_valid": "aucun sondage valide",
        "probe": "sondage",
        "probes": "sondages",
        "valid_probe": "sondage valide",
        "valid_probes": "sondages valides",
        "of_all": "de tous les sondages",
        "bars_caption": "Part des sondages valides, par catégorie",
        "strip_caption": "Sondages qui n'ont rien mesuré (part de tous les sondages)",
        "A": "au moins deux dates dans le mois",
        "B": "une seule date dans le mois",
        "C": "première date entre un et deux mois",
        "D": "première date au-delà de deux mois",
        "E": "aucune date",
        "barrier": "robot bloqué",
        "site_error": "site en panne",
        "unrecognized": "page illisible",
        "rate_caption": "Taux d'échec : part des sondages valides sans aucune date",
        "failure": "échec",
        "rate": "taux d'échec",
        "band": "intervalle de confiance à 95" + NBSP + "%",
        "ci": "IC 95" + NBSP + "%",
        "few": f"point creux : moins de {FEW} sondages valides, à lire avec prudence",
        "gap": "période sans sondage valide",
    },
    "en": {
        "no_data": "no data yet",
        "no_valid": "no valid probe",
        "probe": "probe",
        "probes": "probes",
        "valid_probe": "valid probe",
        "valid_probes": "valid probes",
        "of_all": "of all probes",
        "bars_caption": "Share of valid probes, by category",
        "strip_caption": "Probes that measured nothing (share of all probes)",
        "A": "at least two dates within a month",
        "B": "only one date within a month",
        "C": "first date in one to two months",
        "D": "first date beyond two months",
        "E": "no date at all",
        "barrier": "robot blocked",
        "site_error": "site down",
        "unrecognized": "unreadable page",
        "rate_caption": "Failure rate: share of valid probes with no date at all",
        "failure": "failure",
        "rate": "failure rate",
        "band": "95% confidence interval",
        "ci": "95% CI",
        "few": f"hollow point: fewer than {FEW} valid probes, read with caution",
        "gap": "period with no valid probe",
    },
}


@dataclass(frozen=True)
class MonthBar:
    """One month of one service or département: valid probes by category, the others by outcome."""

    label: str
    categories: Mapping[str, int]
    not_measured: Mapping[str, int]


@dataclass(frozen=True)
class RatePoint:
    """The failure rate of one period, its 95 % interval and how many valid probes it rests on."""

    label: str
    value: float | None
    low: float | None
    high: float | None
    probes: int


class Kept(Protocol):
    """Where a chart keeps the drawing of its closed periods between builds
    (``site/fragments.py``'s ``MonthFragments``): pieces under a name, valid while drawn from
    the same key, made when not kept."""

    def get_or_make(
        self, name: str, key: str, make: Callable[[], tuple[str, ...]]
    ) -> tuple[str, ...]: ...


def _key(*parts: object) -> str:
    """What a chart's closed periods were drawn from (numbers, labels, sizes), as a digest."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()


# -- formatting -----------------------------------------------------------------------------------


def _words(lang: str) -> Mapping[str, str]:
    try:
        return _WORDS[lang]
    except KeyError:
        raise ValueError(f"charts speak 'fr' or 'en', not {lang!r}") from None


def _check_id(id: str) -> None:
    # The id prefixes pattern ids referenced as url(#...): a space or a quote would break them.
    if not _ID.match(id):
        raise ValueError(f"a chart id must be a letter then letters, digits, - or _: {id!r}")


def _e(text: str) -> str:
    return str(escape(text))


def _n(x: float) -> str:
    """A coordinate with two decimals at most: enough for a screen, and the same on every run."""
    text = f"{x:.2f}"
    if text.endswith("00"):
        text = text[:-3]
    return "0" if text == "-0" else text


def _pct(value: float, lang: str) -> str:
    return _percent(lang)(value)


def _colon(lang: str) -> str:
    return NBSP + ": " if lang == "fr" else ": "


def _percent(lang: str) -> Callable[[float], str]:
    return pct if lang == "fr" else _pct_en


def _pct_en(value: float) -> str:
    percent = value * 100
    text = f"{percent:.1f}" if 0 < percent < 1 or 99 < percent < 100 else f"{percent:.0f}"
    return text + "%"


def _quantity(lang: str, one: str, many: str) -> Callable[[int], str]:
    """``12 sondages``, ``1 probe``, ``1 234 sondages``: a count and its noun, singular at one."""
    grouping = NBSP if lang == "fr" else ","

    def quantity(n: int) -> str:
        digits = str(n) if n < 1000 else f"{n:,}".replace(",", grouping)
        return f"{digits} {one if n == 1 else many}"

    return quantity


def _points(xys: Iterable[tuple[float, float]]) -> str:
    return " ".join(f"{_n(x)},{_n(y)}" for x, y in xys)


def _width(text: str, size: float = _TEXT_FONT) -> float:
    return len(text) * _CHAR * size / _TEXT_FONT


# -- shared pieces --------------------------------------------------------------------------------


def _open(id: str, width: float, height: float, title: str, description: str) -> list[str]:
    return [
        f'<svg xmlns="{_SVG_NS}" width="100%" viewBox="0 0 {_n(width)} {_n(height)}" '
        f'role="img" aria-labelledby="{id}-title {id}-desc" font-family="{FONT}" '
        f'font-size="{_TEXT_FONT}" fill="{INK}" class="chart" id="{id}">',
        f'<title id="{id}-title">{_e(title)}</title>',
        f'<desc id="{id}-desc">{_e(description)}</desc>',
    ]


def _no_data(id: str, title: str, description: str, lang: str) -> Markup:
    words = _words(lang)
    parts = _open(id, 320, 48, title, description)
    parts.append(
        f'<rect x="0.5" y="0.5" width="319" height="47" fill="#fff" stroke="{GRID}"/>'
        f'<text x="160" y="29" text-anchor="middle" fill="{AXIS}">{_e(words["no_data"])}</text>'
        "</svg>"
    )
    return Markup("".join(parts))


def _patterns(id: str) -> str:
    """Textures for what is not a category: an empty month, a barrier, an error, an unread page."""
    grey = NOT_MEASURED_COLOURS
    return (
        "<defs>"
        f'<pattern id="{id}-empty" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)">'
        '<rect width="6" height="6" fill="#fff"/>'
        f'<rect width="1.5" height="6" fill="{EMPTY_HATCH}"/></pattern>'
        f'<pattern id="{id}-barrier" width="4" height="4" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(-45)">'
        '<rect width="4" height="4" fill="#fff"/>'
        f'<rect width="2" height="4" fill="{grey["barrier"]}"/></pattern>'
        f'<pattern id="{id}-site_error" width="4" height="4" patternUnits="userSpaceOnUse">'
        f'<rect width="4" height="4" fill="{grey["site_error"]}"/></pattern>'
        f'<pattern id="{id}-unrecognized" width="4" height="4" patternUnits="userSpaceOnUse">'
        '<rect width="4" height="4" fill="#fff"/>'
        f'<circle cx="2" cy="2" r="1.3" fill="{grey["unrecognized"]}"/></pattern>'
        "</defs>"
    )


def _frame(count: int) -> tuple[float, float]:
    """The plot width and the width of one period's slot: wider charts rather than thin bars."""
    plot = max(float(_PLOT_MIN), count * _SLOT_MIN)
    return plot, plot / count


def _label_step(labels: Sequence[str], slot: float) -> int:
    """Label every month, or every 2nd, 3rd, 4th, 6th, 12th... when the labels would collide."""
    widest = max((_width(label, _TICK_FONT) for label in labels), default=0.0) + 8
    for step in _STEPS:
        if slot * step >= widest:
            return step
    return math.ceil(widest / slot)


# The axes are the same on every page of a build (the same months, the same sizes): drawn once.
@functools.lru_cache(maxsize=256)
def _x_labels(labels: tuple[str, ...], slot: float, y: float) -> str:
    step = _label_step(labels, slot)
    parts = [f'<g class="x-labels" font-size="{_TICK_FONT}" text-anchor="middle">']
    for i in range(0, len(labels), step):
        x = _LEFT + (i + 0.5) * slot
        parts.append(f'<text x="{_n(x)}" y="{_n(y)}">{_e(labels[i])}</text>')
    parts.append("</g>")
    return "".join(parts)


@functools.lru_cache(maxsize=256)
def _y_grid(top: float, height: float, width: float, ticks: tuple[float, ...], lang: str) -> str:
    parts = [f'<g class="y-grid" font-size="{_TICK_FONT}" text-anchor="end">']
    for tick in ticks:
        y = top + height * (1 - tick)
        colour = AXIS if tick == 0 else GRID
        parts.append(
            f'<line x1="{_LEFT}" x2="{_n(_LEFT + width)}" y1="{_n(y)}" y2="{_n(y)}" '
            f'stroke="{colour}" stroke-width="1"/>'
            f'<text x="{_LEFT - 5}" y="{_n(y + 4)}">{_e(_pct(tick, lang))}</text>'
        )
    parts.append("</g>")
    return "".join(parts)


Swatch = Callable[[float, float], str]  # draws a 12x12 key at (x, y)


def _legend(
    groups: Sequence[Sequence[tuple[Swatch, str]]], top: float, width: float
) -> tuple[str, float]:
    """Keys laid out in rows that wrap at the chart's width; each group starts a new row."""
    parts = ['<g class="legend">']
    y = top
    for group in groups:
        x = 8.0
        for swatch, text in group:
            room = 12 + 5 + _width(text) + 14
            if x > 8 and x + room > width - 8:
                x, y = 8.0, y + 18
            parts.append(swatch(x, y))
            parts.append(f'<text x="{_n(x + 17)}" y="{_n(y + 10)}">{_e(text)}</text>')
            x += room
        y += 18
    parts.append("</g>")
    return "".join(parts), y


# A chart's legend is the same on every page of a language but for the chart's id, which names
# the patterns its keys are filled with: laid out and drawn once (a tenth of a chart's cost when
# only its latest month is drawn, site/fragments.py) with this stand-in for the id, which no
# word of a legend holds, then the stand-in replaced by the id.
_ID_MARK: Final = "\x00id\x00"


@functools.lru_cache(maxsize=64)
def _bars_legend(lang: str, used_empty: bool, top: float, width: float) -> tuple[str, float]:
    """The category bars' legend for the chart whose id is :data:`_ID_MARK`, and its bottom."""
    words, colon, id = _words(lang), _colon(lang), _ID_MARK
    keys: list[list[tuple[Swatch, str]]] = [
        [(_box(CATEGORY_COLOURS[c]), f"{c}{colon}{words[c]}") for c in CATEGORIES],
        [(_box(f"url(#{id}-{o})"), words[o]) for o in NOT_MEASURED],
    ]
    if used_empty:
        keys[1].append((_box(f"url(#{id}-empty)"), words["no_valid"]))
    return _legend(keys, top, width)


@functools.lru_cache(maxsize=64)
def _band_legend(
    lang: str, any_few: bool, gaps: bool, top: float, width: float
) -> tuple[str, float]:
    """The rate band's legend for the chart whose id is :data:`_ID_MARK`, and its bottom."""
    words = _words(lang)
    keys: list[tuple[Swatch, str]] = [(_line_key, words["rate"]), (_band_key, words["band"])]
    if any_few:
        keys.append((_few_key, words["few"]))
    if gaps:
        keys.append((_box(f"url(#{_ID_MARK}-empty)"), words["gap"]))
    return _legend([keys], top, width)


def _line_key(x: float, y: float) -> str:
    return (
        f'<line x1="{_n(x)}" x2="{_n(x + 12)}" y1="{_n(y + 6)}" y2="{_n(y + 6)}" '
        f'stroke="{LINE}" stroke-width="2"/>'
        f'<circle cx="{_n(x + 6)}" cy="{_n(y + 6)}" r="3" fill="{LINE}"/>'
    )


def _few_key(x: float, y: float) -> str:
    return (
        f'<circle cx="{_n(x + 6)}" cy="{_n(y + 6)}" r="3.5" fill="#fff" '
        f'stroke="{LINE}" stroke-width="1.5"/>'
    )


def _band_key(x: float, y: float) -> str:
    return (
        f'<rect x="{_n(x)}" y="{_n(y)}" width="12" height="12" fill="{LINE}" fill-opacity="0.18"/>'
    )


def _box(fill: str) -> Swatch:
    def draw(x: float, y: float) -> str:
        return (
            f'<rect x="{_n(x)}" y="{_n(y)}" width="12" height="12" fill="{fill}" '
            f'stroke="{AXIS}" stroke-width="0.5"/>'
        )

    return draw


def _stack(
    keys: Sequence[str], counts: Sequence[int], total: int, bottom: float, height: float
) -> Iterator[tuple[str, int, str, str]]:
    """(key, count, y, height) of each non-zero count stacked from the bottom up, as drawn. Edges
    are placed on whole hundredths first, so the segments add up to the full height exactly and
    none is off by more than a rounding."""
    base = round(bottom * 100)
    scale = height * 100 / total
    below, running = base, 0
    for key, count in zip(keys, counts, strict=True):
        if count:
            running += count
            above = round(base - scale * running)
            yield key, count, "%.2f" % (above / 100), "%.2f" % ((below - above) / 100)
            below = above


# -- category bars --------------------------------------------------------------------------------


def _counts(bar: MonthBar) -> tuple[list[int], list[int]]:
    unknown = (set(bar.categories) - set(CATEGORIES)) | (set(bar.not_measured) - set(NOT_MEASURED))
    if unknown:
        raise ValueError(f"{bar.label}: unknown keys {sorted(unknown)}")
    categories = [bar.categories.get(c, 0) for c in CATEGORIES]
    others = [bar.not_measured.get(o, 0) for o in NOT_MEASURED]
    if min(categories + others) < 0:
        raise ValueError(f"{bar.label}: a count is negative")
    return categories, others


def category_bars(
    bars: Sequence[MonthBar],
    *,
    id: str,
    title: str,
    description: str,
    lang: str = "fr",
    kept: Kept | None = None,
    closed: int = 0,
    closed_key: str | None = None,
) -> Markup:
    """One stacked bar per month, the shares A-E of its valid probes (E at the bottom, so that its
    top reads as the failure rate on the gridlines); under it, in a strip of its own, the share of
    all probes that measured nothing. A month with no valid probe is a hatched, labelled slot.

    The legend is inside the SVG, under the month labels. With ``kept``, the first ``closed``
    bars (months that no longer change) are drawn once and kept: the same bytes. ``closed_key``
    says what those bars were drawn from when the caller knows it (the closed months'
    fingerprints): their numbers are then neither checked nor read again while it holds.
    """
    _check_id(id)
    words = _words(lang)
    if not bars:
        return _no_data(id, title, description, lang)
    plot, slot = _frame(len(bars))
    bar_w = min(slot * 0.72, _BAR_MAX)
    width = _LEFT + plot + _RIGHT
    top, main_h = 24.0, 180.0
    strip_top, strip_h = top + main_h + 28, 40.0
    bottom, strip_bottom = top + main_h, strip_top + strip_h
    colon = _colon(lang)
    body: list[str] = [
        _patterns(id),
        f'<text x="{_LEFT}" y="14">{_e(words["bars_caption"])}</text>',
        _y_grid(top, main_h, plot, _GRIDLINES, lang),
        f'<text x="{_LEFT}" y="{_n(strip_top - 8)}">{_e(words["strip_caption"])}</text>',
        _y_grid(strip_top, strip_h, plot, (0.0, 1.0), lang),
    ]
    used_empty = False
    stacked_order = CATEGORIES[::-1]  # E first, at the bottom
    # Hoisted out of the loop: a 36-month chart draws some 300 rectangles, each with its tooltip.
    fraction = _percent(lang)
    quantity = _quantity(lang, words["probe"], words["probes"])
    names = {o: _e(words[o]) for o in NOT_MEASURED}
    of_all = _e(words["of_all"])
    ws = _n(bar_w)

    def group(i: int, bar: MonthBar, categories: list[int], others: list[int]) -> tuple[str, bool]:
        """One month's bar: its SVG, and whether it is an empty (hatched) slot."""
        body: list[str] = []
        used_empty = False
        valid, lost = sum(categories), sum(others)
        probes = valid + lost
        x = _LEFT + (i + 0.5) * slot - bar_w / 2
        xs = _n(x)
        label = _e(bar.label)
        body.append(
            f'<g class="month" data-label="{label}" data-valid="{valid}" data-probes="{probes}">'
        )
        if valid:
            order = categories[::-1]
            for category, count, y, h in _stack(stacked_order, order, valid, bottom, main_h):
                share = count / valid
                body.append(
                    f'<rect class="segment" x="{xs}" y="{y}" width="{ws}" height="{h}" '
                    f'fill="{CATEGORY_COLOURS[category]}" data-category="{category}" '
                    f'data-count="{count}"><title>{label} — '
                    f"{category}{colon}{quantity(count)} ({fraction(share)})</title></rect>"
                )
            body.append(
                f'<rect class="outline" x="{xs}" y="{_n(top)}" width="{ws}" height="{_n(main_h)}" '
                f'fill="none" stroke="{AXIS}" stroke-width="0.5"/>'
            )
        else:
            used_empty = True
            size = _n(min(11.0, bar_w))
            cx, cy = _n(x + bar_w / 2), _n(top + main_h / 2)
            no_valid = _e(words["no_valid"])
            body.append(
                f'<rect class="empty" x="{xs}" y="{_n(top)}" width="{ws}" height="{_n(main_h)}" '
                f'fill="url(#{id}-empty)" stroke="{EMPTY_HATCH}" stroke-width="0.5" '
                f'data-valid="0"><title>{label} — {no_valid}</title></rect>'
                f'<text class="empty-label" x="{cx}" y="{cy}" font-size="{size}" '
                f'text-anchor="middle" dominant-baseline="central" fill="{AXIS}" '
                f'transform="rotate(-90 {cx} {cy})">{no_valid}</text>'
            )
        if lost:
            for outcome, count, y, h in _stack(NOT_MEASURED, others, probes, strip_bottom, strip_h):
                share = count / probes
                body.append(
                    f'<rect class="not-measured" x="{xs}" y="{y}" width="{ws}" height="{h}" '
                    f'fill="url(#{id}-{outcome})" stroke="{NOT_MEASURED_COLOURS[outcome]}" '
                    f'stroke-width="0.5" data-outcome="{outcome}" data-count="{count}">'
                    f"<title>{label} — {names[outcome]}{colon}"
                    f"{quantity(count)} ({fraction(share)} {of_all})</title></rect>"
                )
        body.append("</g>")
        return "".join(body), used_empty

    start = 0
    if kept is not None and 0 < closed < len(bars):
        name = f"bars|{id}|{lang}"
        key = closed_key
        if key is None:
            shown = [(b.label, *_counts(b)) for b in bars[:closed]]
            key = _key(len(bars), shown)

        def closed_groups() -> tuple[str, ...]:
            made = [group(i, bars[i], *_counts(bars[i])) for i in range(closed)]
            return ("".join(g for g, _ in made), "empty" if any(e for _, e in made) else "")

        found = kept.get_or_make(name, key, closed_groups)
        body.append(found[0])
        used_empty = bool(found[1])
        start = closed
    for i in range(start, len(bars)):
        drawn, empty = group(i, bars[i], *_counts(bars[i]))
        body.append(drawn)
        used_empty = used_empty or empty
    body.append(_x_labels(tuple(b.label for b in bars), slot, strip_bottom + 15))
    legend, end = _bars_legend(lang, used_empty, strip_bottom + 30, width)
    body.append(legend.replace(_ID_MARK, id))
    return Markup("".join([*_open(id, width, end + 2, title, description), *body, "</svg>"]))


# -- failure rate with its interval ---------------------------------------------------------------


def _checked(point: RatePoint) -> tuple[float, float, float] | None:
    if point.value is None:
        return None
    if point.low is None or point.high is None:
        raise ValueError(f"{point.label}: a failure rate needs its interval")
    eps = 1e-9  # Wilson bounds computed elsewhere may sit a rounding away from the value
    low, value, high = point.low, point.value, point.high
    if not (-eps <= low <= value + eps and value <= high + eps and high <= 1 + eps):
        raise ValueError(
            f"{point.label}: expected 0 <= low <= value <= high <= 1, got {low}, {value}, {high}"
        )
    return value, low, high


def rate_band(
    points: Sequence[RatePoint],
    *,
    id: str,
    title: str,
    description: str,
    lang: str = "fr",
    kept: Kept | None = None,
    closed: int = 0,
    closed_key: str | None = None,
) -> Markup:
    """The failure rate as a line with markers over its 95 % interval as a band. A period with no
    valid probe breaks both (a run of points is one polyline and one polygon), and a point on few
    probes is drawn hollow. The legend is inside the SVG, under the period labels. With
    ``kept``, the markers of the first ``closed`` points are drawn once and kept, under
    ``closed_key`` when the caller knows what they were drawn from (see :func:`category_bars`)."""
    _check_id(id)
    words = _words(lang)
    if not points:
        return _no_data(id, title, description, lang)
    checked = [_checked(p) for p in points]
    plot, slot = _frame(len(points))
    width = _LEFT + plot + _RIGHT
    top, height = 24.0, 200.0
    bottom = top + height

    def y_of(v: float) -> float:
        return top + height * (1 - min(1.0, max(0.0, v)))

    body: list[str] = [
        _patterns(id),
        f'<text x="{_LEFT}" y="14">{_e(words["rate_caption"])}</text>',
        _y_grid(top, height, plot, _GRIDLINES, lang),
    ]
    runs: list[list[tuple[float, float, float, float]]] = [[]]
    gaps: list[str] = []
    for i, (point, numbers) in enumerate(zip(points, checked, strict=True)):
        x = _LEFT + (i + 0.5) * slot
        if numbers is None:
            if runs[-1]:
                runs.append([])
            tip = f"{point.label} — {words['no_valid']}"
            gaps.append(
                f'<rect class="gap" x="{_n(x - slot / 2)}" y="{_n(top)}" width="{_n(slot)}" '
                f'height="{_n(height)}" fill="url(#{id}-empty)" fill-opacity="0.5" '
                f'data-label="{_e(point.label)}"><title>{_e(tip)}</title></rect>'
            )
        else:
            value, low, high = numbers
            runs[-1].append((x, y_of(value), y_of(low), y_of(high)))
    runs = [run for run in runs if run]
    body.extend(gaps)
    half = min(slot * 0.3, 6.0)
    for run in runs:
        if len(run) == 1:
            x, _, y_low, y_high = run[0]
            outline = [(x - half, y_high), (x + half, y_high), (x + half, y_low), (x - half, y_low)]
        else:
            outline = [(x, yh) for x, _, _, yh in run] + [(x, yl) for x, _, yl, _ in run[::-1]]
        body.append(
            f'<polygon class="band" points="{_points(outline)}" '
            f'fill="{LINE}" fill-opacity="0.18" stroke="none"/>'
        )
    for run in runs:
        if len(run) > 1:
            body.append(
                f'<polyline class="line" points="{_points((x, y) for x, y, _, _ in run)}" '
                f'fill="none" stroke="{LINE}" stroke-width="2" stroke-linejoin="round"/>'
            )
    colon = _colon(lang)
    semicolon = " ; " if lang == "fr" else "; "
    fraction = _percent(lang)
    quantity = _quantity(lang, words["valid_probe"], words["valid_probes"])

    def marker(i: int, point: RatePoint, numbers: tuple[float, float, float]) -> str:
        value, low, high = numbers
        few = point.probes < FEW
        x = _LEFT + (i + 0.5) * slot
        interval = fraction(low).removesuffix("%").rstrip(NBSP) + "–" + fraction(high)
        tip = (
            f"{point.label} — {words['failure']}{colon}{fraction(value)} "
            f"({words['ci']}{colon}{interval}){semicolon}{quantity(point.probes)}"
        )
        fill = "#fff" if few else LINE
        return (
            f'<circle class="point{" few" if few else ""}" cx="{_n(x)}" cy="{_n(y_of(value))}" '
            f'r="3.5" fill="{fill}" stroke="{LINE}" stroke-width="1.5" '
            f'data-value="{value:.4f}" data-low="{low:.4f}" data-high="{high:.4f}" '
            f'data-probes="{point.probes}"><title>{_e(tip)}</title></circle>'
        )

    def markers(first: int, end: int) -> str:
        return "".join(
            marker(i, points[i], numbers)
            for i in range(first, end)
            if (numbers := checked[i]) is not None
        )

    any_few = any(n is not None and p.probes < FEW for p, n in zip(points, checked, strict=True))
    start = 0
    if kept is not None and 0 < closed < len(points):
        name = f"band|{id}|{lang}"
        key = closed_key
        if key is None:
            shown = zip(points[:closed], checked[:closed], strict=True)
            key = _key(len(points), [(p.label, n, p.probes) for p, n in shown])
        found = kept.get_or_make(name, key, lambda: (markers(0, closed),))
        body.append(found[0])
        start = closed
    body.append(markers(start, len(points)))
    body.append(_x_labels(tuple(p.label for p in points), slot, bottom + 15))

    legend, end = _band_legend(lang, any_few, bool(gaps), bottom + 30, width)
    body.append(legend.replace(_ID_MARK, id))
    return Markup("".join([*_open(id, width, end + 2, title, description), *body, "</svg>"]))


# -- sparkline ------------------------------------------------------------------------------------


def sparkline(values: Sequence[float | None], *, label: str) -> Markup:
    """An 80x20 failure-rate trend for a table cell, on a fixed 0-100 % scale so that two cells
    compare; a missing period breaks the line, and the latest value is a dot."""
    w, h, pad = 80.0, 20.0, 2.0
    parts = [
        f'<svg xmlns="{_SVG_NS}" width="80" height="20" viewBox="0 0 80 20" role="img" '
        f'aria-label="{_e(label)}" class="sparkline"><title>{_e(label)}</title>',
        f'<line x1="0" x2="80" y1="{_n(h - pad)}" y2="{_n(h - pad)}" stroke="{GRID}" '
        'stroke-width="1"/>',
    ]
    step = (w - 2 * pad) / max(1, len(values) - 1)
    runs: list[list[tuple[float, float]]] = [[]]
    for i, value in enumerate(values):
        if value is None:
            if runs[-1]:
                runs.append([])
            continue
        x = pad if len(values) == 1 else pad + i * step
        runs[-1].append((x, pad + (h - 2 * pad) * (1 - min(1.0, max(0.0, value)))))
    for run in runs:
        if len(run) > 1:
            parts.append(
                f'<polyline points="{_points(run)}" fill="none" stroke="{LINE}" stroke-width="1.5" '
                'stroke-linejoin="round"/>'
            )
        elif run:
            x, y = run[0]
            parts.append(f'<circle cx="{_n(x)}" cy="{_n(y)}" r="1.5" fill="{LINE}"/>')
    if values and values[-1] is not None and runs[-1] and len(runs[-1]) > 1:
        x, y = runs[-1][-1]
        parts.append(f'<circle cx="{_n(x)}" cy="{_n(y)}" r="2" fill="{LINE}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
