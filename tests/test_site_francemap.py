"""The home page's SVG map: every shape drawn once, the right colour, escaped, light, accessible.

The geometry is checked against the shapes file itself, read here with a separate minimal parser,
so that a wrong transform or a careless simplification shows as a moved or shrunken département.
"""

from __future__ import annotations

import importlib.resources
import itertools
import math
import pickle
import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from guichets.departements import COLLECTIVITES, DEPARTEMENTS
from guichets.files import write_kept
from guichets.site import francemap
from guichets.site.francemap import (
    BINS,
    HATCH_CSS,
    NO_DATA_COLOUR,
    NOT_PROBED_COLOUR,
    Bin,
    MapArea,
    colour_of,
    france_map,
    legend,
    shape_codes,
)

NS = "{http://www.w3.org/2000/svg}"
NBSP = "\u00a0"
EVIL = "<script>alert(1)</script> \"double\" 'single' & <b>"


def raw_root() -> ET.Element:
    data = (importlib.resources.files("pygal_maps_fr") / "fr.departments.svg").read_bytes()
    return ET.fromstring(data)


def raw_codes() -> Counter[str]:
    """Each code of the shapes file, as many times as it is drawn there."""
    codes: Counter[str] = Counter()
    for group in raw_root().iter(f"{NS}g"):
        classes = (group.get("class") or "").split()
        if "departement" in classes:
            codes.update(c[1:] for c in classes if c.startswith("z"))
    return codes


def area(code: str, value: float | None, *, href: str | None = None, label: str = "") -> MapArea:
    name = DEPARTEMENTS.get(code, code)
    return MapArea(code, name, value, label or f"{name} : sentence", href)


def render(areas: list[MapArea], **kwargs: str) -> ET.Element:
    result = france_map(areas, title="Carte", description="Échecs par département", **kwargs)
    return ET.fromstring(str(result.svg))


def drawn(root: ET.Element) -> list[ET.Element]:
    """The elements that stand for one occurrence of a département, in document order."""
    return [el for el in root.iter() if el.get("data-departement") is not None]


def fill(element: ET.Element) -> str:
    paths = element.findall(f"{NS}path")
    assert len(paths) == 1
    value = paths[0].get("fill")
    assert value is not None
    return value


def expected_colour(value: float) -> str:
    """The spec of the scale, read plainly: [low, high), with 1.0 in the last bin."""
    for b in BINS:
        if b.low <= value < b.high or (value == 1.0 and b is BINS[-1]):
            return b.colour
    raise AssertionError(f"no bin for {value}")


values = st.none() | st.floats(0.0, 1.0) | st.sampled_from([b.low for b in BINS] + [1.0])


# -- scale and legend ------------------------------------------------------------------------------


def test_bins_cover_zero_to_one_light_to_dark() -> None:
    assert 5 <= len(BINS) <= 6
    assert BINS[0].low == 0.0 and BINS[-1].high == 1.0
    for before, after in itertools.pairwise(BINS):
        assert before.high == after.low

    def luminance(colour: str) -> float:
        r, g, b = (int(colour[k : k + 2], 16) / 255 for k in (1, 3, 5))
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    steps = [luminance(b.colour) for b in BINS]
    assert steps == sorted(steps, reverse=True), "a sequential scale must darken as it rises"
    assert len({b.colour for b in BINS} | {NO_DATA_COLOUR, NOT_PROBED_COLOUR}) == len(BINS) + 2


@given(values)
def test_colour_of_follows_the_bins(value: float | None) -> None:
    if value is None:
        assert colour_of(value) == NO_DATA_COLOUR
    else:
        assert colour_of(value) == expected_colour(value)


def test_thresholds_belong_to_the_bin_above() -> None:
    for below, above in itertools.pairwise(BINS):
        assert colour_of(above.low) == above.colour
        assert colour_of(math.nextafter(above.low, 0.0)) == below.colour
    assert colour_of(1.0) == BINS[-1].colour
    assert colour_of(0.0) == BINS[0].colour


@pytest.mark.parametrize("bad", [-0.01, 1.0000001, math.nan, math.inf])
def test_colour_of_refuses_what_is_not_a_rate(bad: float) -> None:
    with pytest.raises(ValueError):
        colour_of(bad)


def test_bin_labels_in_both_languages() -> None:
    assert Bin(0.2, 0.4, "#000000").label("fr") == f"de 20 à 40{NBSP}%"
    assert Bin(0.2, 0.4, "#000000").label("en") == "20 to 40%"
    assert Bin(0.0, 0.2, "#000000").label("fr") == f"moins de 20{NBSP}%"
    assert Bin(0.0, 0.2, "#000000").label("en") == "under 20%"
    assert Bin(0.95, 1.0, "#000000").label("fr") == f"95{NBSP}% et plus"
    assert Bin(0.95, 1.0, "#000000").label("en") == "95% and more"
    # A threshold that is not a whole percentage: comma in French, and no binary noise.
    assert Bin(0.825, 0.975, "#000000").label("fr") == f"de 82,5 à 97,5{NBSP}%"
    assert Bin(0.825, 0.975, "#000000").label("en") == "82.5 to 97.5%"
    with pytest.raises(ValueError):
        Bin(0.2, 0.4, "#000000").label("de")


def test_legend_in_both_languages() -> None:
    fr, en = legend("fr"), legend("en")
    assert [c for c, _ in fr] == [c for c, _ in en]
    assert [c for c, _ in fr] == [b.colour for b in BINS] + [NO_DATA_COLOUR, NOT_PROBED_COLOUR]
    assert fr[0][1] == f"moins de 20{NBSP}%" and en[0][1] == "under 20%"
    assert fr[-3][1] == f"95{NBSP}% et plus" and en[-3][1] == "95% and more"
    assert fr[-2][1] == "aucun sondage valide" and en[-2][1] == "no valid probe"
    assert fr[-1][1] == "non suivi" and en[-1][1] == "not monitored"
    assert len({t for _, t in fr}) == len(fr) and len({t for _, t in en}) == len(en)
    assert all("%" not in t or f"{NBSP}%" in t for _, t in fr)
    assert all(NBSP not in t for _, t in en)
    assert NO_DATA_COLOUR in HATCH_CSS


# -- drawing ---------------------------------------------------------------------------------------


def test_every_shape_of_the_file_is_drawn_once_per_occurrence() -> None:
    expected = raw_codes()
    assert set(expected) == shape_codes()
    for areas in ([], [area(code, 0.5) for code in DEPARTEMENTS]):
        root = render(areas)
        assert Counter(el.get("data-departement") for el in drawn(root)) == expected


def test_every_real_departement_has_a_shape() -> None:
    """Only overseas collectivities may lack a shape; the map reports them as missing."""
    lacking = set(DEPARTEMENTS) - shape_codes()
    assert lacking <= COLLECTIVITES
    result = france_map(
        [area(code, 0.1) for code in DEPARTEMENTS], title="t", description="d", lang="en"
    )
    assert set(result.missing) == lacking


def test_a_code_without_shape_is_reported_not_dropped() -> None:
    result = france_map([area("999", 0.3), area("38", 0.6)], title="t", description="d")
    assert result.missing == ("999",)
    assert 'data-departement="999"' not in result.svg
    assert 'data-departement="38"' in result.svg


@settings(max_examples=30, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(raw_codes())), values, max_size=30))
def test_each_area_is_filled_with_its_colour(given_values: dict[str, float | None]) -> None:
    root = render([area(code, value) for code, value in given_values.items()])
    for element in drawn(root):
        code = element.get("data-departement")
        assert code is not None
        if code not in given_values:
            assert fill(element) == NOT_PROBED_COLOUR
            assert element.get("data-value") is None
            continue
        value = given_values[code]
        if value is None:
            assert fill(element) == f"url(#francemap-nodata) {colour_of(None)}"
            assert element.get("data-value") == ""
        else:
            assert fill(element) == expected_colour(value)
            assert float(element.get("data-value") or "nan") == pytest.approx(value, abs=5e-5)


def test_no_data_is_hatched_with_a_pattern_of_the_svg() -> None:
    root = render([area("38", None)], id_prefix="home")
    (pattern,) = root.iter(f"{NS}pattern")
    assert pattern.get("id") == "home-nodata"
    isere = [el for el in drawn(root) if el.get("data-departement") == "38"]
    assert [fill(el) for el in isere] == [f"url(#home-nodata) {NO_DATA_COLOUR}"]


def test_text_is_escaped_and_the_output_is_xml() -> None:
    result = france_map(
        [area("38", 0.62, href="departements/38.html?a=1&b=\"'", label=EVIL)],
        title=EVIL,
        description=EVIL,
    )
    assert "<script" not in result.svg and "<b>" not in result.svg
    root = ET.fromstring(str(result.svg))  # raises if escaping broke the markup
    assert root.findtext(f"{NS}title") == EVIL
    assert root.findtext(f"{NS}desc") == EVIL
    links = list(root.iter(f"{NS}a"))
    assert links and all(a.get("aria-label") == EVIL for a in links)
    assert all(a.findtext(f"{NS}title") == EVIL for a in links)
    assert {a.get("href") for a in links} == {"departements/38.html?a=1&b=\"'"}
    assert isinstance(result.svg, Markup)


@pytest.mark.parametrize("href", ["javascript:alert(1)", "https://example.org/", "//evil.org/x"])
def test_links_must_be_relative(href: str) -> None:
    with pytest.raises(ValueError):
        france_map([area("38", 0.5, href=href)], title="t", description="d")


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError):
        france_map([area("38", 1.5)], title="t", description="d")
    with pytest.raises(ValueError):
        france_map([area("38", 0.5), area("38", 0.6)], title="t", description="d")
    with pytest.raises(ValueError):
        france_map([], title="t", description="d", lang="de")
    with pytest.raises(ValueError):
        france_map([], title="t", description="d", id_prefix='x" onload="')


def test_links_only_where_an_href_is_given() -> None:
    with_href = {"38", "75", "974"}
    areas = [
        area(code, 0.4, href=f"d/{code}.html" if code in with_href else None)
        for code in DEPARTEMENTS
    ]
    root = render(areas)
    assert root.get("role") == "group"
    links = list(root.iter(f"{NS}a"))
    assert {a.get("data-departement") for a in links} == with_href
    assert all(a.get("href") == f"d/{a.get('data-departement')}.html" for a in links)
    # Paris is drawn twice; only one of its links is reachable by keyboard and screen readers.
    reachable = Counter(a.get("data-departement") for a in links if a.get("tabindex") != "-1")
    assert reachable == Counter(with_href)
    assert all(a.get("aria-hidden") == "true" for a in links if a.get("tabindex") == "-1")

    plain = render([area(code, 0.4) for code in DEPARTEMENTS])
    assert plain.get("role") == "img"
    assert not list(plain.iter(f"{NS}a"))


def test_accessible_and_self_contained() -> None:
    result = france_map([area("38", 0.4, href="d/38.html")], title="Carte", description="Desc")
    root = ET.fromstring(str(result.svg))
    assert root.get("width") == "100%" and root.get("height") is None
    assert root.get("viewBox") == raw_root().get("viewBox")
    title_id, desc_id = root.get("aria-labelledby"), root.get("aria-describedby")
    assert root.find(f"{NS}title[@id='{title_id}']") is not None
    assert root.find(f"{NS}desc[@id='{desc_id}']") is not None
    tags = {el.tag.removeprefix(NS) for el in root.iter()}
    assert not tags & {"script", "image", "use", "foreignObject", "style"}
    hrefs = {v for el in root.iter() for k, v in el.attrib.items() if k.endswith("href")}
    assert hrefs == {"d/38.html"}
    assert "http" not in str(result.svg).replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert all(not k.startswith("on") for el in root.iter() for k in el.attrib)


def test_deterministic_whatever_the_order_of_areas() -> None:
    areas = [
        area(code, (i % 11) / 10, href=f"d/{code}.html") for i, code in enumerate(DEPARTEMENTS)
    ]
    first = france_map(areas, title="t", description="d").svg
    again = france_map(list(reversed(areas)), title="t", description="d").svg
    assert first.encode() == again.encode()


def test_light_enough_for_the_home_page() -> None:
    areas = [
        area(code, 0.5, href=f"departements/{code}.html", label=f"{name} : 62 % d'échecs (IC 95 %)")
        for code, name in DEPARTEMENTS.items()
    ]
    size = len(france_map(areas, title="t", description="d").svg.encode())
    assert size < 250_000
    raw = len((importlib.resources.files("pygal_maps_fr") / "fr.departments.svg").read_bytes())
    assert size < raw / 2


# -- geometry against the original file ------------------------------------------------------------

TOKEN = re.compile(r"[A-Za-z]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def original_rings(transform: str | None, d: str) -> list[list[tuple[float, float]]]:
    """Points along each sub-path of the file (cubics sampled at eighths), translated."""
    dx = dy = 0.0
    if transform:
        match = re.fullmatch(r"translate\(([-\d.]+),([-\d.]+)\)", transform)
        assert match, transform
        dx, dy = float(match.group(1)), float(match.group(2))
    tokens = TOKEN.findall(d)
    rings: list[list[tuple[float, float]]] = []
    x = y = 0.0
    cmd = ""
    i = 0
    while i < len(tokens):
        if tokens[i].isalpha():
            cmd = tokens[i]
            i += 1
            if cmd in "zZ":
                x, y = rings[-1][0][0] - dx, rings[-1][0][1] - dy
            continue
        n = {"m": 2, "l": 2, "c": 6}[cmd.lower()]
        nums = [float(t) for t in tokens[i : i + n]]
        i += n
        if cmd.islower():
            nums = [v + (x if k % 2 == 0 else y) for k, v in enumerate(nums)]
        if cmd in "cC":
            p0, p1, p2, p3 = (x, y), (nums[0], nums[1]), (nums[2], nums[3]), (nums[4], nums[5])
            for t in (k / 8 for k in range(1, 8)):
                w = ((1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t**2 * (1 - t), t**3)
                px = sum(wk * pk[0] for wk, pk in zip(w, (p0, p1, p2, p3), strict=True))
                py = sum(wk * pk[1] for wk, pk in zip(w, (p0, p1, p2, p3), strict=True))
                rings[-1].append((px + dx, py + dy))
        x, y = nums[-2], nums[-1]
        if cmd in "mM":
            rings.append([])
            cmd = "l" if cmd == "m" else "L"
        rings[-1].append((x + dx, y + dy))
    return rings


def drawn_rings(d: str) -> list[list[tuple[float, float]]]:
    """Points of each sub-path the map draws: it writes only M, l, h, v and z."""
    tokens = TOKEN.findall(d)
    rings: list[list[tuple[float, float]]] = []
    x = y = 0.0
    cmd = ""
    i = 0
    while i < len(tokens):
        if tokens[i].isalpha():
            cmd = tokens[i]
            i += 1
            assert cmd in "Mlhvz", f"unexpected command {cmd}"
            continue
        if cmd == "M":
            x, y = float(tokens[i]), float(tokens[i + 1])
            rings.append([])
            i += 2
        elif cmd == "l":
            x, y = x + float(tokens[i]), y + float(tokens[i + 1])
            i += 2
        elif cmd == "h":
            x += float(tokens[i])
            i += 1
        else:
            y += float(tokens[i])
            i += 1
        rings[-1].append((x, y))
    return rings


def area_of(rings: list[list[tuple[float, float]]]) -> float:
    """Total absolute shoelace area: sub-paths here are islands, not holes."""
    total = 0.0
    for ring in rings:
        total += abs(
            sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(ring, ring[1:] + ring[:1], strict=True))
        )
    return total / 2


def perimeter_of(rings: list[list[tuple[float, float]]]) -> float:
    return sum(
        math.dist(a, b) for ring in rings for a, b in zip(ring, ring[1:] + ring[:1], strict=True)
    )


def box_of(rings: list[list[tuple[float, float]]]) -> tuple[float, float, float, float]:
    points = [p for ring in rings for p in ring]
    return (
        min(p[0] for p in points),
        min(p[1] for p in points),
        max(p[0] for p in points),
        max(p[1] for p in points),
    )


def test_shapes_stay_where_and_as_large_as_in_the_file() -> None:
    originals: list[tuple[str, list[list[tuple[float, float]]]]] = []
    for top in raw_root():
        for group in top:
            code = (group.get("class") or "").split()[0][1:]
            rings = [
                ring
                for path in group.iter(f"{NS}path")
                for ring in original_rings(top.get("transform"), path.get("d") or "")
            ]
            originals.append((code, rings))
    root = render([])
    shown = [(el.get("data-departement"), el.find(f"{NS}path")) for el in drawn(root)]
    assert len(shown) == len(originals)
    by_occurrence: dict[str | None, list[list[list[tuple[float, float]]]]] = {}
    for shown_code, path in shown:
        assert path is not None
        by_occurrence.setdefault(shown_code, []).append(drawn_rings(path.get("d") or ""))
    for code, rings in originals:
        mine = by_occurrence[code].pop(0) if code in by_occurrence else None
        assert mine is not None, code
        for theirs, ours in zip(box_of(rings), box_of(mine), strict=True):
            assert abs(theirs - ours) <= 1.0, code
        # Moving every point of an outline by at most e changes its area by at most e times its
        # perimeter; the map promises well under a unit.
        assert abs(area_of(mine) - area_of(rings)) <= 0.5 * perimeter_of(rings), code


def test_kept_shapes_are_read_back_and_made_again_when_stale_or_corrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``keep_shapes``: a later process reads the compacted shapes instead of compacting them;
    a file stamped by another code, or not a pickle, is compacted again and rewritten."""
    made = francemap._compacted(francemap._source())
    path = tmp_path / "cache" / "shapes.pickle"
    compacted: list[bytes] = []

    def counted(source: bytes) -> object:
        compacted.append(source)
        return made

    def new_process() -> None:
        monkeypatch.setattr(francemap, "_PROCESS_SHAPES", [])

    monkeypatch.setattr(francemap, "_compacted", counted)
    new_process()
    francemap.keep_shapes(path)
    assert len(compacted) == 1 and path.is_file()
    new_process()
    francemap.keep_shapes(path)
    assert len(compacted) == 1  # read back, not compacted
    assert francemap._shapes() == made
    stamp, value = pickle.loads(path.read_bytes())
    write_kept(path, (stamp[0], "another code", stamp[2]), value)
    new_process()
    francemap.keep_shapes(path)
    assert len(compacted) == 2  # stale: made again
    assert pickle.loads(path.read_bytes())[0] == stamp  # and kept under the right stamp
    path.write_bytes(b"\x80\x05 cut short")
    new_process()
    francemap.keep_shapes(path)
    assert len(compacted) == 3  # corrupt: made again
    assert francemap._shapes() == made
    new_process()
    francemap.keep_shapes(path)
    assert len(compacted) == 3
    assert francemap._shapes() == made  # what the map draws: the same shapes as compacted
