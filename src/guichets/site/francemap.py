"""Choropleth map of France by département, drawn server-side as one inline SVG element.

The home page must read without JavaScript, print, and work offline, so the map is plain SVG with
its colours in ``fill`` attributes (not CSS that printers or readers may drop). The shapes come
from the ``pygal_maps_fr`` package (LGPL-3.0+), read where it is installed rather than copied into
this repository; its 600 KB of curves are simplified to polylines that stay within a fraction of
a screen pixel of them, which keeps the page light (about 160 KB): once per process, or once for
all the builds of a data directory, which keep them in its cache (:func:`keep_shapes`).

Every label, title and link is escaped: catalogue names are data, not markup. The table under the
map says everything the map says; the map is the quick picture, the table the accessible truth.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import math
import re
import xml.etree.ElementTree as ET
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from markupsafe import Markup, escape

from guichets.departements import DEPARTEMENTS
from guichets.files import read_kept, write_kept

__all__ = [
    "BINS",
    "HATCH_CSS",
    "NOT_PROBED_COLOUR",
    "NO_DATA_COLOUR",
    "Bin",
    "FranceMap",
    "MapArea",
    "colour_of",
    "france_map",
    "keep_shapes",
    "legend",
    "shape_codes",
]

NBSP = "\u00a0"
SVG_NS = "http://www.w3.org/2000/svg"
SHAPES_PACKAGE = "pygal_maps_fr"
SHAPES_FILE = "fr.departments.svg"
# Outlines are kept within half a viewBox unit of the original, in tenths of a unit. The viewBox is
# 2000 units wide, so half a unit is a quarter of a pixel on a 1000-pixel-wide map, a twentieth of
# a millimetre on A4; Paris (25 units wide on the mainland) keeps its shape. Curves become lines:
# at this tolerance a few points draw them in fewer bytes than Bézier control points (160 KB
# instead of 600 KB).
_SCALE = 10
_TOLERANCE = 0.5
SHAPES_FORMAT: Final = 1  # of the file keep_shapes writes


@dataclass(frozen=True)
class MapArea:
    """What the map shows for one département of the catalogue."""

    code: str
    name: str
    value: float | None  # failure rate in [0, 1]; None: no valid probe
    label: str  # full sentence for screen readers and the tooltip
    href: str | None  # relative link to the département page


@dataclass(frozen=True)
class Bin:
    """One step of the colour scale: [low, high), the last one including 1.0."""

    low: float
    high: float
    colour: str

    def label(self, lang: str) -> str:
        """``de 20 à 40 %`` / ``20 to 40%``; the open ends say "under" and "and more"."""
        _check_lang(lang)
        low, high = _percent(self.low, lang), _percent(self.high, lang)
        sign = NBSP + "%" if lang == "fr" else "%"
        if self.low <= 0:
            return f"moins de {high}{sign}" if lang == "fr" else f"under {high}{sign}"
        if self.high >= 1:
            return f"{low}{sign} et plus" if lang == "fr" else f"{low}{sign} and more"
        return f"de {low} à {high}{sign}" if lang == "fr" else f"{low} to {high}{sign}"


# Light to dark, ColorBrewer YlOrRd (sequential, colour-blind safe) with a darker last step: "95 %
# and more" means the counter is practically closed, and must not blend into "80 to 95 %".
BINS: tuple[Bin, ...] = (
    Bin(0.0, 0.2, "#ffffb2"),
    Bin(0.2, 0.4, "#fecc5c"),
    Bin(0.4, 0.6, "#fd8d3c"),
    Bin(0.6, 0.8, "#f03b20"),
    Bin(0.8, 0.95, "#bd0026"),
    Bin(0.95, 1.0, "#4a0014"),
)
NO_DATA_COLOUR = "#d4d4d4"
NO_DATA_HATCH_COLOUR = "#8a8a8a"
NOT_PROBED_COLOUR = "#f4f4f4"
# The same hatch for an HTML legend swatch or table cell (``background:`` value), so that "no data"
# looks the same in the legend as on the map.
HATCH_CSS = (
    f"repeating-linear-gradient(45deg, {NO_DATA_HATCH_COLOUR} 0 2px, {NO_DATA_COLOUR} 2px 6px)"
)
_STROKE = "#ffffff"
_FRAME = "#8a8a8a"
_FRAME_TEXT = "#595959"  # 7:1 on white
_THRESHOLDS = tuple(b.low for b in BINS[1:])
_WORDS = {
    "no_data": ("aucun sondage valide", "no valid probe"),
    "not_probed": ("non suivi", "not monitored"),
    "paris": ("Paris et petite couronne", "Paris and inner ring"),
}
_ENGLISH_NAMES = {"973": "French Guiana", "974": "Réunion", "975": "Saint Pierre and Miquelon"}
# Where each inset's name goes so that it crosses neither the mainland nor another inset; placed by
# eye for the pinned shapes file (pygal_maps_fr 1.1.0). Others go below their frame.
_LABEL_SIDE = {
    "paris": "above",
    "975": "above",
    "971": "right",
    "972": "right",
    "973": "right",
    "976": "left",
    "974": "below",
}
_FONT_SIZE = 28
_MIDDLE = 1000.0  # half the viewBox width
_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def _check_lang(lang: str) -> None:
    if lang not in ("fr", "en"):
        raise ValueError(f"unknown language {lang!r}: 'fr' or 'en'")


def _word(key: str, lang: str) -> str:
    fr, en = _WORDS[key]
    return fr if lang == "fr" else en


def _percent(share: float, lang: str) -> str:
    """A threshold as a percentage: ``95``, ``97,5``; rounding hides binary fractions (0.95*100)."""
    text = f"{round(share * 100, 1):g}"
    return text.replace(".", ",") if lang == "fr" else text


def colour_of(value: float | None) -> str:
    """The fill of a failure rate; a threshold belongs to the bin above it, 1.0 to the last."""
    if value is None:
        return NO_DATA_COLOUR
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ValueError(f"failure rate {value!r} is outside [0, 1]")
    return BINS[bisect_right(_THRESHOLDS, value)].colour


def legend(lang: str) -> list[tuple[str, str]]:
    """(colour, text) for each bin, then "no valid probe" and "not monitored", for an HTML key.

    The no-data swatch should carry ``HATCH_CSS`` as its background, as the map hatches it.
    """
    _check_lang(lang)
    return [(b.colour, b.label(lang)) for b in BINS] + [
        (NO_DATA_COLOUR, _word("no_data", lang)),
        (NOT_PROBED_COLOUR, _word("not_probed", lang)),
    ]


# -- shapes ----------------------------------------------------------------------------------------

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in viewBox units


@dataclass(frozen=True)
class _Shape:
    code: str
    group: str  # the file's group: "departements", "paris-petite-couronne" or "dom-com"
    d: str  # compact path data, absolute viewBox coordinates (group transforms applied)
    box: Box


@dataclass(frozen=True)
class _Shapes:
    view_box: str
    shapes: tuple[_Shape, ...]


_TOKEN = re.compile(r"[A-Za-z]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_TRANSLATE = re.compile(r"\s*translate\(\s*([-+0-9.eE]+)(?:[\s,]+([-+0-9.eE]+))?\s*\)\s*\Z")
_ARITY = {"M": 2, "L": 2, "H": 1, "V": 1, "C": 6}


def _fmt(q: int) -> str:
    """A coordinate in tenths as short text: 12, 12.5, .5, -.5."""
    sign, q = ("-", -q) if q < 0 else ("", q)
    units, tenths = divmod(q, _SCALE)
    if not tenths:
        return f"{sign}{units}"
    return f"{sign}{units or ''}.{tenths}"


def _join(numbers: Iterable[int]) -> str:
    out: list[str] = []
    for q in numbers:
        text = _fmt(q)
        if out and not text.startswith("-"):
            out.append(" ")
        out.append(text)
    return "".join(out)


Point = tuple[float, float]
Segment = tuple[str, tuple[Point, ...]]  # ("M", (p,)), ("L", (p,)), ("C", (c1, c2, p)), ("Z", ())


def _parse_path(d: str, dx: float, dy: float) -> list[Segment]:
    """Path data as absolute segments (M, L, C, Z), translated by (dx, dy)."""
    tokens = _TOKEN.findall(d)
    segments: list[Segment] = []
    x, y = start_x, start_y = dx, dy  # the origin, where a leading relative "m" starts
    command = ""
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.isalpha():
            command = token
            i += 1
            if command in "Zz":
                segments.append(("Z", ()))
                x, y = start_x, start_y
            elif command.upper() not in _ARITY:
                raise ValueError(f"path command {command!r} is not supported")
            continue
        if not command or command in "Zz":
            raise ValueError(f"number {token!r} without a path command")
        arity = _ARITY[command.upper()]
        args = [float(t) for t in tokens[i : i + arity]]
        if len(args) < arity:
            raise ValueError(f"path command {command!r} lacks numbers")
        i += arity
        relative = command.islower()
        upper = command.upper()
        if upper == "H":
            x = x + args[0] if relative else args[0] + dx
            segments.append(("L", ((x, y),)))
        elif upper == "V":
            y = y + args[0] if relative else args[0] + dy
            segments.append(("L", ((x, y),)))
        else:
            points = tuple(
                (x + args[k], y + args[k + 1]) if relative else (args[k] + dx, args[k + 1] + dy)
                for k in range(0, arity, 2)
            )
            x, y = points[-1]
            if upper == "M":
                start_x, start_y = x, y
                command = "l" if relative else "L"  # numbers after a moveto are line-tos
            segments.append((upper, points))
    return segments


def _distance(p: Point, a: Point, b: Point) -> float:
    """Distance from ``p`` to the line through ``a`` and ``b`` (to ``a`` if they coincide)."""
    ux, uy = b[0] - a[0], b[1] - a[1]
    length = math.hypot(ux, uy)
    if length == 0:
        return math.hypot(p[0] - a[0], p[1] - a[1])
    return abs(ux * (p[1] - a[1]) - uy * (p[0] - a[0])) / length


def _douglas_peucker(points: list[Point], tolerance: float) -> list[Point]:
    """The points of a polyline that matter at ``tolerance``; both ends are always kept."""
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        if last - first < 2:
            continue
        (ax, ay), (bx, by) = points[first], points[last]
        ux, uy = bx - ax, by - ay
        length = math.hypot(ux, uy)
        # Distance to the chord, scaled by its length (to the start when the chord is a point).
        if length:
            gaps = [abs(ux * (y - ay) - uy * (x - ax)) for x, y in points[first + 1 : last]]
        else:
            length = 1.0
            gaps = [math.hypot(x - ax, y - ay) for x, y in points[first + 1 : last]]
        worst = max(gaps)
        if worst > tolerance * length:
            index = first + 1 + gaps.index(worst)
            keep[index] = True
            stack += [(first, index), (index, last)]
    return [p for p, kept in zip(points, keep, strict=True) if kept]


def _flatten(p0: Point, p1: Point, p2: Point, p3: Point, tolerance: float) -> list[Point]:
    """Points along a cubic (after its start) so that a polyline through them stays close to it."""
    if _distance(p1, p0, p3) <= tolerance and _distance(p2, p0, p3) <= tolerance:
        return [p3]
    m01 = ((p0[0] + p1[0]) / 2, (p0[1] + p1[1]) / 2)
    m12 = ((p1[0] + p2[0]) / 2, (p1[1] + p2[1]) / 2)
    m23 = ((p2[0] + p3[0]) / 2, (p2[1] + p3[1]) / 2)
    a = ((m01[0] + m12[0]) / 2, (m01[1] + m12[1]) / 2)
    b = ((m12[0] + m23[0]) / 2, (m12[1] + m23[1]) / 2)
    mid = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
    return _flatten(p0, m01, a, mid, tolerance) + _flatten(mid, b, m23, p3, tolerance)


def _simplify(segments: list[Segment], tolerance: float) -> list[Segment]:
    """Curves become polylines, and polylines lose the points that do not show (Douglas-Peucker).

    The outline moves by at most 1.5 ``tolerance`` (half for flattening, one for dropping points),
    so neighbours simplified apart still meet under the white border stroke.
    """
    out: list[Segment] = []
    run: list[Point] = []  # the current run of line-tos, starting at the pen

    def flush() -> None:
        if len(run) > 1:
            out.extend(("L", (p,)) for p in _douglas_peucker(run, tolerance)[1:])
        run.clear()

    pen = start = (0.0, 0.0)
    for kind, points in segments:
        if kind == "C":
            if not run:
                run.append(pen)
            run.extend(_flatten(pen, points[0], points[1], points[2], tolerance / 2))
            pen = points[2]
            continue
        if kind == "L":
            if not run:
                run.append(pen)
            run.append(points[0])
            pen = points[0]
            continue
        flush()
        out.append((kind, points))
        if kind == "M":
            pen = start = points[0]
        elif kind == "Z":
            pen = start
        else:
            pen = points[-1]
    flush()
    return out


def _compact_path(d: str, dx: float, dy: float) -> tuple[str, Box]:
    """Path data translated, simplified, rounded and re-written with relative commands."""
    segments = _simplify(_parse_path(d, dx, dy), _TOLERANCE)
    rounded = [
        (kind, tuple(round(v * _SCALE) for p in points for v in p)) for kind, points in segments
    ]
    return _encode(rounded)


def _encode(segments: list[tuple[str, tuple[int, ...]]]) -> tuple[str, Box]:
    """Relative path text from absolute segments in tenths, and the bounding box of their points.

    Relative steps are taken between *rounded* absolute points, so rounding errors never add up
    along an outline; steps that round to nothing are dropped, and so are sub-paths (specks of
    islands) that have nothing left.
    """
    pieces: list[str] = []
    xs: list[int] = []
    ys: list[int] = []
    pen = start = (0, 0)
    current: list[str] = []  # the sub-path being written, kept only if it draws something
    last = ""

    def flush() -> None:
        if len(current) > 1:
            pieces.extend(current)
        current.clear()

    for kind, values in segments:
        if kind == "M":  # absolute: the pen is not tracked across a dropped speck
            flush()
            pen = start = (values[0], values[1])
            current.append(f"M{_join(pen)}")
            last = "M"
            xs.append(pen[0])
            ys.append(pen[1])
            continue
        if kind == "Z":
            if len(current) > 1:
                current.append("z")
            flush()
            pen, last = start, "z"
            continue
        deltas = [v - pen[k % 2] for k, v in enumerate(values)]
        if not any(deltas):
            continue  # rounds to nothing
        if kind == "L" and deltas[1] == 0:
            letter, numbers = "h", deltas[:1]
        elif kind == "L" and deltas[0] == 0:
            letter, numbers = "v", deltas[1:]
        else:
            letter, numbers = kind.lower(), deltas
        text = _join(numbers)
        if letter == last and not text.startswith("-"):
            text = " " + text
        current.append(text if letter == last else letter + text)
        last = letter
        pen = (values[-2], values[-1])
        xs.extend(values[0::2])
        ys.extend(values[1::2])
    flush()
    if not pieces:
        raise ValueError("a shape has nothing left once rounded")
    box = (min(xs) / _SCALE, min(ys) / _SCALE, max(xs) / _SCALE, max(ys) / _SCALE)
    return "".join(pieces), box


def _union(boxes: Iterable[Box]) -> Box:
    listed = list(boxes)
    return (
        min(b[0] for b in listed),
        min(b[1] for b in listed),
        max(b[2] for b in listed),
        max(b[3] for b in listed),
    )


def _translation(element: ET.Element) -> tuple[float, float]:
    transform = element.get("transform")
    if transform is None:
        return 0.0, 0.0
    match = _TRANSLATE.match(transform)
    if match is None:
        raise ValueError(f"transform {transform!r} in the shapes file is not a plain translate")
    return float(match.group(1)), float(match.group(2) or 0.0)


def _walk(element: ET.Element, dx: float, dy: float, top: str, out: list[_Shape]) -> None:
    """Collect the département groups under ``element``, applying translations on the way down."""
    for child in element:
        if child.tag != f"{{{SVG_NS}}}g":
            continue
        gx, gy = _translation(child)
        x, y = dx + gx, dy + gy
        group = top or child.get("id", "")
        classes = (child.get("class") or "").split()
        if "departement" not in classes:
            _walk(child, x, y, group, out)
            continue
        codes = [c[1:] for c in classes if c.startswith("z") and len(c) > 1]
        if len(codes) != 1:
            raise ValueError(f"département group with classes {classes!r} has no single code")
        paths = list(child.iter(f"{{{SVG_NS}}}path"))
        if not paths or any(p.get("transform") is not None for p in paths):
            raise ValueError(f"département {codes[0]} has no path, or a transformed one")
        # One shape per group: each compact path starts with an absolute M, so they concatenate.
        compact = [_compact_path(path.get("d") or "", x, y) for path in paths]
        d = "".join(text for text, _ in compact)
        out.append(_Shape(codes[0], group, d, _union(box for _, box in compact)))


def _shapes() -> _Shapes:
    """The shapes file, parsed and compacted once per process, or read where
    :func:`keep_shapes` found them kept."""
    if not _PROCESS_SHAPES:
        _PROCESS_SHAPES.append(_compacted(_source()))
    return _PROCESS_SHAPES[0]


_PROCESS_SHAPES: list[_Shapes] = []  # this process's shapes, once made or read


def _source() -> bytes:
    return (importlib.resources.files(SHAPES_PACKAGE) / SHAPES_FILE).read_bytes()


def keep_shapes(path: Path) -> None:
    """This process's shapes read from ``path`` when they were made there by the same code
    (this module's source) from the same shapes file; else compacted here and kept at ``path``.

    Compacting them takes about a CPU-second, the same every time (the shapes do not depend on
    the data): the greater part of the home page's cost in ``guichets site build``, which an
    hourly cron runs in a fresh process. A missing, corrupt or differently stamped file is only
    the cost of compacting them again (``files.read_kept``), and so is a file that cannot be
    written (``files.write_kept``: a warning in the log)."""
    if _PROCESS_SHAPES:
        return
    source = _source()
    stamp = (
        SHAPES_FORMAT,
        hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
        hashlib.sha256(source).hexdigest(),
    )
    shapes = read_kept(path, stamp)
    if not isinstance(shapes, _Shapes):
        shapes = _compacted(source)
        write_kept(path, stamp, shapes)
    _PROCESS_SHAPES.append(shapes)


def _compacted(source: bytes) -> _Shapes:
    """The shapes file parsed, its département outlines simplified and compacted."""
    root = ET.fromstring(source)
    view_box = root.get("viewBox")
    if view_box is None:
        raise ValueError(f"{SHAPES_FILE} has no viewBox")
    shapes: list[_Shape] = []
    _walk(root, 0.0, 0.0, "", shapes)
    if not shapes:
        raise ValueError(f"{SHAPES_FILE} holds no département")
    return _Shapes(view_box, tuple(shapes))


def shape_codes() -> frozenset[str]:
    """Codes the shapes file draws: what the catalogue can check its départements against."""
    return frozenset(shape.code for shape in _shapes().shapes)


# -- drawing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FranceMap:
    """The map, and the codes it was asked to show but could not draw (no shape in the file)."""

    svg: Markup
    missing: tuple[str, ...]


def _attr(name: str, value: str) -> str:
    return f' {name}="{escape(value)}"'


def _check_href(href: str) -> None:
    if _SCHEME.match(href) or href.startswith("//"):
        raise ValueError(f"map link {href!r} is not relative: the map links only to our pages")


def _frames(shapes: Sequence[_Shape], lang: str) -> str:
    """Thin frames and names around the insets, so nobody reads them as part of the mainland."""
    insets: list[tuple[str, Box, str]] = []
    paris = [s.box for s in shapes if s.group == "paris-petite-couronne"]
    if paris:
        insets.append(("paris", _union(paris), _word("paris", lang)))
    for shape in shapes:
        if shape.group == "dom-com":
            name = DEPARTEMENTS.get(shape.code, shape.code)
            if lang == "en":
                name = _ENGLISH_NAMES.get(shape.code, name)
            insets.append((shape.code, shape.box, name))
    parts: list[str] = []
    pad, gap = 8.0, 8.0
    for key, (x0, y0, x1, y1), name in insets:
        x0, y0, x1, y1 = x0 - pad, y0 - pad, x1 + pad, y1 + pad
        parts.append(
            f'<rect x="{x0:.0f}" y="{y0:.0f}" width="{x1 - x0:.0f}" height="{y1 - y0:.0f}"/>'
        )
        side = _LABEL_SIDE.get(key, "below")
        west = x0 + x1 < 2 * _MIDDLE  # labels of the western insets start at their left edge
        anchor = "start" if (west and side in ("above", "below")) or side == "right" else "end"
        if side == "right":
            x, y = x1 + gap, y1
        elif side == "left":
            x, y = x0 - gap, y1
        else:
            x = x0 if west else x1
            y = y0 - gap if side == "above" else y1 + _FONT_SIZE
        parts.append(
            f'<text x="{x:.0f}" y="{y:.0f}" text-anchor="{anchor}" fill="{_FRAME_TEXT}"'
            f' stroke="none">{escape(name)}</text>'
        )
    return (
        f'<g aria-hidden="true" fill="none" stroke="{_FRAME}" stroke-width="1.5"'
        f' font-family="sans-serif" font-size="{_FONT_SIZE}">' + "".join(parts) + "</g>"
    )


def france_map(
    areas: Sequence[MapArea],
    *,
    title: str,
    description: str,
    lang: str = "fr",
    id_prefix: str = "francemap",
) -> FranceMap:
    """The SVG map of ``areas``; départements not given are drawn as not monitored.

    Paris and its inner ring are drawn twice (mainland and inset): only the first copy is in the
    keyboard and screen-reader order. ``id_prefix`` keeps ids unique if a page holds two maps.
    """
    _check_lang(lang)
    if not _ID.match(id_prefix):
        raise ValueError(f"id prefix {id_prefix!r} is not a plain XML name")
    by_code: dict[str, MapArea] = {}
    for area in areas:
        if area.code in by_code:
            raise ValueError(f"département {area.code!r} is given twice")
        colour_of(area.value)  # range check before drawing anything
        if area.href is not None:
            _check_href(area.href)
        by_code[area.code] = area
    data = _shapes()
    drawn = {shape.code for shape in data.shapes}
    missing = tuple(code for code in by_code if code not in drawn)

    hatch = f"{id_prefix}-nodata"
    linked = False
    seen: set[str] = set()
    body: list[str] = []
    shapes = data.shapes  # the file's order: the mainland's Paris is painted over its ring
    for shape in shapes:
        given = by_code.get(shape.code)
        duplicate = shape.code in seen
        seen.add(shape.code)
        if given is None:
            name = DEPARTEMENTS.get(shape.code, shape.code)
            sep = " : " if lang == "fr" else ": "
            tip = f"{name}{sep}{_word('not_probed', lang)}"
            attrs = _attr("data-departement", shape.code)
            fill = NOT_PROBED_COLOUR
        else:
            tip = given.label
            value = "" if given.value is None else f"{given.value:.4f}"
            attrs = _attr("data-departement", shape.code) + _attr("data-value", value)
            fill = colour_of(given.value)
            if given.value is None:
                fill = f"url(#{hatch}) {fill}"
        path = f'<path fill="{fill}" d="{shape.d}"/>'
        if given is not None and given.href is not None:
            linked = True
            hidden = ' aria-hidden="true" tabindex="-1"' if duplicate else ""
            body.append(
                f"<a{_attr('href', given.href)}{_attr('aria-label', tip)}{hidden}{attrs}>"
                f"<title>{escape(tip)}</title>{path}</a>"
            )
        else:
            body.append(f"<g{attrs}><title>{escape(tip)}</title>{path}</g>")

    title_id, desc_id = f"{id_prefix}-title", f"{id_prefix}-desc"
    svg = (
        f'<svg xmlns="{SVG_NS}" viewBox="{escape(data.view_box)}" width="100%"'
        f' class="francemap" lang="{lang}" role="{"group" if linked else "img"}"'
        f' aria-labelledby="{title_id}" aria-describedby="{desc_id}">'
        f'<title id="{title_id}">{escape(title)}</title>'
        f'<desc id="{desc_id}">{escape(description)}</desc>'
        f'<defs><pattern id="{hatch}" width="12" height="12" patternUnits="userSpaceOnUse"'
        f' patternTransform="rotate(45)"><rect width="12" height="12" fill="{NO_DATA_COLOUR}"/>'
        f'<path d="M3 0v12" stroke="{NO_DATA_HATCH_COLOUR}" stroke-width="3"/></pattern></defs>'
        f'<g stroke="{_STROKE}" stroke-width="1.5" stroke-linejoin="round">'
        + "\n".join(body)
        + "</g>"
        + _frames(shapes, lang)
        + "</svg>"
    )
    return FranceMap(Markup(svg), missing)
