"""The site's SVG charts, read back as XML: what is drawn must be what was counted.

Geometry is read from the chart itself (the 0 % and 100 % gridlines of each panel), not restated
from the module's layout constants, so that a change of layout does not need a change of test.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guichets.french import NBSP
from guichets.model import Category, Outcome
from guichets.site.charts import (
    CATEGORY_COLOURS,
    NOT_MEASURED_COLOURS,
    MonthBar,
    RatePoint,
    category_bars,
    rate_band,
    sparkline,
)
from guichets.site.fragments import MonthFragments, PageFragments
from guichets.stats.wilson import FEW, Share

NS = "{http://www.w3.org/2000/svg}"
TOL = 0.011  # each drawn edge is rounded to 0.005 units, so a height may be off by 0.01
MONTHS = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.")


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def by_class(root: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in root.iter(NS + tag) if cls in e.get("class", "").split()]


def f(e: ET.Element, name: str) -> float:
    return float(e.get(name, "nan"))


def panels(root: ET.Element) -> list[tuple[float, float]]:
    """(y of 100 %, y of 0 %) of each panel, from its gridlines."""
    found = []
    for grid in by_class(root, "g", "y-grid"):
        ys = [f(line, "y1") for line in grid.iter(NS + "line")]
        found.append((min(ys), max(ys)))
    return found


def months(root: ET.Element) -> list[ET.Element]:
    return by_class(root, "g", "month")


def label(i: int) -> str:
    return f"{MONTHS[i % len(MONTHS)]} {2026 + i // len(MONTHS)}"


def bar(i: int, categories: Mapping[str, int], others: Mapping[str, int] | None = None) -> MonthBar:
    return MonthBar(label(i), categories, others or {})


def point(i: int, count: int | None, total: int) -> RatePoint:
    if count is None:
        return RatePoint(label(i), None, None, None, 0)
    share = Share(count, total)
    assert share.value is not None and share.interval is not None
    return RatePoint(label(i), share.value, *share.interval, total)


def check_bars(svg: str, bars: Sequence[MonthBar]) -> None:
    """Every bar as counted: shares of valid probes above, shares of all probes in the strip."""
    root = parse(svg)
    (main_top, main_bottom), (strip_top, strip_bottom) = panels(root)
    assert main_bottom < strip_top, "the strip of probes that measured nothing is apart"
    groups = months(root)
    assert len(groups) == len(bars)
    for group, b in zip(groups, bars, strict=True):
        valid = sum(b.categories.values())
        probes = valid + sum(b.not_measured.values())
        assert group.get("data-label") == b.label
        segments = by_class(group, "rect", "segment")
        if valid:
            assert not by_class(group, "rect", "empty")
            drawn = {s.get("data-category"): s for s in segments}
            assert set(drawn) == {c for c, n in b.categories.items() if n}
            for category, rect in drawn.items():
                count = b.categories[str(category)]
                assert rect.get("data-count") == str(count)
                assert rect.get("fill") == CATEGORY_COLOURS[str(category)]
                expected = (main_bottom - main_top) * count / valid
                assert math.isclose(f(rect, "height"), expected, rel_tol=1e-3, abs_tol=TOL)
                assert main_top - TOL <= f(rect, "y")
                assert f(rect, "y") + f(rect, "height") <= main_bottom + TOL
            total = sum(f(s, "height") for s in segments)
            assert math.isclose(total, main_bottom - main_top, abs_tol=TOL)
        else:
            assert not segments
            (empty,) = by_class(group, "rect", "empty")
            assert "empty" in empty.get("fill", "")
        for rect in by_class(group, "rect", "not-measured"):
            assert rect.get("data-category") is None
            count = b.not_measured[str(rect.get("data-outcome"))]
            expected = (strip_bottom - strip_top) * count / probes
            assert math.isclose(f(rect, "height"), expected, rel_tol=1e-3, abs_tol=TOL)
            assert strip_top - TOL <= f(rect, "y") <= strip_bottom
        drawn_nm = {r.get("data-outcome") for r in by_class(group, "rect", "not-measured")}
        assert drawn_nm == {o for o, n in b.not_measured.items() if n}


# -- category bars --------------------------------------------------------------------------------


def test_segments_are_proportional_to_counts_and_fill_the_bar() -> None:
    bars = [
        bar(0, {"A": 10, "B": 5, "C": 3, "D": 1, "E": 81}, {"site_error": 7}),
        bar(1, {"A": 1, "E": 999}),
        bar(2, {"C": 4}, {"barrier": 2, "unrecognized": 1}),
    ]
    check_bars(category_bars(bars, id="c", title="t", description="d"), bars)


def test_e_is_at_the_bottom_so_its_top_reads_as_the_failure_rate() -> None:
    root = parse(category_bars([bar(0, {"A": 1, "E": 3})], id="c", title="t", description="d"))
    (top, bottom), _ = panels(root)
    (e,) = [s for s in by_class(root, "rect", "segment") if s.get("data-category") == "E"]
    assert math.isclose(f(e, "y") + f(e, "height"), bottom, abs_tol=TOL)
    assert math.isclose(f(e, "y"), bottom - 0.75 * (bottom - top), abs_tol=TOL)


def test_probes_that_measured_nothing_are_never_stacked_into_e() -> None:
    """A month of errors and barriers with few valid probes: E keeps only its own count."""
    bars = [bar(0, {"A": 3, "E": 1}, {"site_error": 90, "barrier": 5, "unrecognized": 1})]
    root = parse(category_bars(bars, id="c", title="t", description="d"))
    check_bars(category_bars(bars, id="c", title="t", description="d"), bars)
    (main_top, main_bottom), (strip_top, _) = panels(root)
    (e,) = [s for s in by_class(root, "rect", "segment") if s.get("data-category") == "E"]
    assert math.isclose(f(e, "height"), (main_bottom - main_top) / 4, abs_tol=TOL)
    for rect in by_class(root, "rect", "not-measured"):
        assert f(rect, "y") >= strip_top - TOL > main_bottom
        assert rect.get("fill") not in CATEGORY_COLOURS.values()


def test_a_month_with_no_valid_probe_is_a_hatched_labelled_slot() -> None:
    bars = [bar(0, {"A": 2}), bar(1, {}, {"site_error": 40}), bar(2, {"E": 2})]
    for lang, words in (("fr", "aucun sondage valide"), ("en", "no valid probe")):
        root = parse(category_bars(bars, id="c", title="t", description="d", lang=lang))
        check_bars(category_bars(bars, id="c", title="t", description="d", lang=lang), bars)
        empty_month = months(root)[1]
        (empty,) = by_class(empty_month, "rect", "empty")
        pattern_id = re.fullmatch(r"url\(#(.+)\)", empty.get("fill", ""))
        assert pattern_id is not None
        (pattern,) = [p for p in root.iter(NS + "pattern") if p.get("id") == pattern_id[1]]
        assert len(list(pattern)) >= 2, "a hatch, not a plain fill"
        texts = ["".join(t.itertext()) for t in by_class(empty_month, "text", "empty-label")]
        assert texts == [words]
        assert words in "".join("".join(g.itertext()) for g in by_class(root, "g", "legend"))
        # The errors of that month still show, in the strip.
        (error,) = by_class(empty_month, "rect", "not-measured")
        assert error.get("data-outcome") == "site_error"
    full = parse(category_bars([bars[0]], id="c", title="t", description="d"))
    legend = "".join("".join(g.itertext()) for g in by_class(full, "g", "legend"))
    assert "aucun sondage valide" not in legend


def test_tooltips_carry_the_numbers() -> None:
    bars = [bar(9, {"A": 8, "E": 12}, {"site_error": 5})]
    root = parse(category_bars(bars, id="c", title="t", description="d"))
    tips = {"".join(t.itertext()) for t in root.iter(NS + "title")}
    assert f"oct. 2026 — E{NBSP}: 12 sondages (60{NBSP}%)" in tips
    assert f"oct. 2026 — site en panne{NBSP}: 5 sondages (20{NBSP}% de tous les sondages)" in tips
    root = parse(category_bars(bars, id="c", title="t", description="d", lang="en"))
    tips = {"".join(t.itertext()) for t in root.iter(NS + "title")}
    assert "oct. 2026 — E: 12 probes (60%)" in tips


def test_enum_keys_are_accepted_and_unknown_keys_refused() -> None:
    by_enum = bar(0, {Category.A: 2, Category.E: 1}, {Outcome.SITE_ERROR: 1})
    by_str = bar(0, {"A": 2, "E": 1}, {"site_error": 1})
    assert category_bars([by_enum], id="c", title="t", description="d") == category_bars(
        [by_str], id="c", title="t", description="d"
    )
    with pytest.raises(ValueError, match="unknown"):
        category_bars([bar(0, {"F": 1})], id="c", title="t", description="d")
    with pytest.raises(ValueError, match="unknown"):
        category_bars([bar(0, {"A": 1}, {"available": 1})], id="c", title="t", description="d")
    with pytest.raises(ValueError, match="negative"):
        category_bars([bar(0, {"A": -1})], id="c", title="t", description="d")


def test_many_months_keep_bars_and_thin_their_labels() -> None:
    few = [bar(i, {"A": 1}) for i in range(3)]
    many = [bar(i, {"A": 1}) for i in range(48)]
    few_root = parse(category_bars(few, id="c", title="t", description="d"))
    many_root = parse(category_bars(many, id="c", title="t", description="d"))
    few_labels = ["".join(t.itertext()) for g in by_class(few_root, "g", "x-labels") for t in g]
    many_labels = ["".join(t.itertext()) for g in by_class(many_root, "g", "x-labels") for t in g]
    assert few_labels == [b.label for b in few]
    assert many_labels[0] == many[0].label
    assert 2 <= len(many_labels) < len(many)
    # Labels are evenly spaced, so they are every n-th month.
    xs = [f(t, "x") for g in by_class(many_root, "g", "x-labels") for t in g]
    gaps = {round(b - a, 1) for a, b in pairwise(xs)}
    assert len(gaps) == 1
    # The chart grows wider rather than thinning its bars without end.
    width = float(many_root.get("viewBox", "").split()[2])
    bar_width = f(by_class(many_root, "rect", "outline")[0], "width")
    assert width > float(few_root.get("viewBox", "").split()[2])
    assert bar_width * len(many) > width / 3


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.dictionaries(st.sampled_from("ABCDE"), st.integers(0, 5000), max_size=5),
            st.dictionaries(
                st.sampled_from(("barrier", "site_error", "unrecognized")),
                st.integers(0, 5000),
                max_size=3,
            ),
        ),
        min_size=1,
        max_size=48,
    )
)
def test_bars_match_random_counts(counts: list[tuple[dict[str, int], dict[str, int]]]) -> None:
    bars = [bar(i, categories, others) for i, (categories, others) in enumerate(counts)]
    check_bars(category_bars(bars, id="c", title="t", description="d"), bars)


# -- failure rate band ----------------------------------------------------------------------------


def test_band_covers_each_point_which_sits_at_its_value() -> None:
    points = [point(0, 3, 40), point(1, 40, 40), point(2, 0, 40), point(3, 17, 35)]
    root = parse(rate_band(points, id="r", title="t", description="d"))
    ((top, bottom),) = panels(root)
    (band,) = by_class(root, "polygon", "band")
    outline = [tuple(map(float, xy.split(","))) for xy in band.get("points", "").split()]
    circles = by_class(root, "circle", "point")
    assert len(circles) == len(points)
    for circle, p in zip(circles, points, strict=True):
        assert p.value is not None and p.low is not None and p.high is not None
        x, y = f(circle, "cx"), f(circle, "cy")
        assert math.isclose(y, bottom - p.value * (bottom - top), abs_tol=TOL)
        assert float(circle.get("data-value", "")) == pytest.approx(p.value, abs=5e-5)
        ys = [by for bx, by in outline if math.isclose(bx, x, abs_tol=TOL)]
        # y grows downwards: the high bound is drawn above the value, the low one below.
        assert min(ys) <= y <= max(ys)
        assert math.isclose(min(ys), bottom - p.high * (bottom - top), abs_tol=TOL)
        assert math.isclose(max(ys), bottom - p.low * (bottom - top), abs_tol=TOL)


def test_a_period_without_valid_probe_breaks_line_and_band() -> None:
    points = [
        point(0, 5, 50),
        point(1, 9, 50),
        point(2, None, 0),
        point(3, 20, 50),
        point(4, 30, 50),
    ]
    root = parse(rate_band(points, id="r", title="t", description="d"))
    lines = by_class(root, "polyline", "line")
    bands = by_class(root, "polygon", "band")
    assert len(lines) == len(bands) == 2
    (gap,) = by_class(root, "rect", "gap")
    gap_left, gap_right = f(gap, "x"), f(gap, "x") + f(gap, "width")
    for shape in [*lines, *bands]:
        xs = [float(xy.split(",")[0]) for xy in shape.get("points", "").split()]
        assert max(xs) <= gap_left or min(xs) >= gap_right
    assert len(by_class(root, "circle", "point")) == 4


def test_a_lone_point_between_gaps_still_has_its_interval() -> None:
    points = [point(0, None, 0), point(1, 10, 40), point(2, None, 0)]
    root = parse(rate_band(points, id="r", title="t", description="d"))
    assert not by_class(root, "polyline", "line")
    (band,) = by_class(root, "polygon", "band")
    ys = [float(xy.split(",")[1]) for xy in band.get("points", "").split()]
    (circle,) = by_class(root, "circle", "point")
    assert min(ys) < f(circle, "cy") < max(ys)


def test_points_on_few_probes_are_hollow_and_the_legend_says_why() -> None:
    few, many = point(0, 2, FEW - 1), point(1, 20, FEW)
    root = parse(rate_band([few, many], id="r", title="t", description="d"))
    hollow, solid = by_class(root, "circle", "point")
    assert hollow.get("fill") == "#fff" and "few" in hollow.get("class", "")
    assert solid.get("fill") != "#fff" and "few" not in solid.get("class", "")
    legend = "".join("".join(g.itertext()) for g in by_class(root, "g", "legend"))
    assert str(FEW) in legend
    alone = parse(rate_band([many], id="r", title="t", description="d"))
    assert str(FEW) not in "".join("".join(g.itertext()) for g in by_class(alone, "g", "legend"))


def test_point_tooltip() -> None:
    p = RatePoint("oct. 2026", 0.625, 0.55, 0.7, 48)
    root = parse(rate_band([p], id="r", title="t", description="d"))
    (circle,) = by_class(root, "circle", "point")
    assert circle.get("data-value") == "0.6250"
    tip = "".join(next(circle.iter(NS + "title")).itertext())
    assert tip == (
        f"oct. 2026 — échec{NBSP}: 62{NBSP}% (IC 95{NBSP}%{NBSP}: 55–70{NBSP}%) ; "
        "48 sondages valides"
    )


def test_inconsistent_rates_are_refused() -> None:
    for bad in (
        RatePoint("x", 0.5, None, None, 10),
        RatePoint("x", 0.5, 0.6, 0.7, 10),
        RatePoint("x", 50.0, 40.0, 60.0, 10),
    ):
        with pytest.raises(ValueError):
            rate_band([bad], id="r", title="t", description="d")


# -- every chart ----------------------------------------------------------------------------------


def some_bars() -> list[MonthBar]:
    return [bar(i, {"A": i, "C": 3, "E": 10 - i}, {"barrier": i % 3}) for i in range(10)]


def some_points() -> list[RatePoint]:
    return [point(i, None if i == 4 else i, 10 + 5 * i) for i in range(10)]


def both_charts(lang: str) -> list[str]:
    return [
        category_bars(some_bars(), id="c", title="t", description="d", lang=lang),
        rate_band(some_points(), id="r", title="t", description="d", lang=lang),
    ]


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("fr", ["0 %", "25 %", "50 %", "75 %", "100 %"]),
        ("en", ["0%", "25%", "50%", "75%", "100%"]),
    ],
)
def test_tick_labels_in_both_languages(lang: str, expected: list[str]) -> None:
    for svg in both_charts(lang):
        grid = by_class(parse(svg), "g", "y-grid")[0]
        ticks = sorted(
            ("".join(t.itertext()) for t in grid.iter(NS + "text")),
            key=lambda s: int(s.rstrip("%").strip()),
        )
        assert ticks == [t.replace(" ", NBSP) for t in expected]


def test_escaping() -> None:
    nasty = '<script>alert("x")</script> & l\'été'
    bars = [MonthBar(nasty, {"E": 1}, {"barrier": 1})]
    points = [RatePoint(nasty, 0.5, 0.2, 0.8, 10)]
    for svg in (
        category_bars(bars, id="c", title=nasty, description=nasty),
        rate_band(points, id="r", title=nasty, description=nasty),
        sparkline([0.5], label=nasty),
    ):
        assert "<script" not in svg
        root = parse(svg)
        assert not list(root.iter(NS + "script"))
        texts = ["".join(e.itertext()) for e in root.iter() if e.tag in (NS + "title", NS + "desc")]
        assert nasty in texts


def test_accessible_and_self_contained() -> None:
    page = [
        category_bars(some_bars(), id="bars-75", title="t", description="d"),
        rate_band(some_points(), id="rate-75", title="t", description="d"),
        category_bars([], id="bars-empty", title="t", description="d"),
    ]
    ids: list[str] = []
    for svg in page:
        root = parse(svg)
        assert root.get("role") == "img"
        assert root.get("width") == "100%" and root.get("viewBox")
        assert root.get("font-family") == "system-ui, sans-serif"
        own = {e.get("id") for e in root.iter() if e.get("id")}
        ids += [str(e.get("id")) for e in root.iter() if e.get("id")]
        title_id, desc_id = root.get("aria-labelledby", "").split()
        assert root.find(f"{NS}title").get("id") == title_id  # type: ignore[union-attr]
        assert root.find(f"{NS}desc").get("id") == desc_id  # type: ignore[union-attr]
        assert not [e for e in root.iter() if any("href" in k for k in e.attrib)]
        assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
        for e in root.iter():
            for value in e.attrib.values():
                for ref in re.findall(r"url\(#([^)]+)\)", value):
                    assert ref in own
        for rect in by_class(root, "rect", "segment"):
            assert rect.get("fill")
    assert len(ids) == len(set(ids)), "two charts on one page share no id"


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        category_bars(some_bars(), id='x" onload="', title="t", description="d")
    with pytest.raises(ValueError):
        rate_band(some_points(), id="r", title="t", description="d", lang="de")


def test_no_data_yet() -> None:
    for lang, words in (("fr", "pas encore de données"), ("en", "no data yet")):
        for svg in (
            category_bars([], id="c", title="t", description="d", lang=lang),
            rate_band([], id="r", title="t", description="d", lang=lang),
        ):
            root = parse(svg)
            assert root.get("role") == "img"
            assert words in ["".join(t.itertext()) for t in root.iter(NS + "text")]


def test_deterministic() -> None:
    first = category_bars(some_bars(), id="c", title="t", description="d")
    assert first == category_bars(some_bars(), id="c", title="t", description="d")
    shuffled = [
        MonthBar(b.label, dict(reversed(list(b.categories.items()))), b.not_measured)
        for b in some_bars()
    ]
    assert first == category_bars(shuffled, id="c", title="t", description="d")
    assert rate_band(some_points(), id="r", title="t", description="d") == rate_band(
        some_points(), id="r", title="t", description="d"
    )


# -- colours --------------------------------------------------------------------------------------


def lightness(colour: str) -> float:
    """CIE L*, what is left of a colour on a greyscale printout."""
    rgb = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    y = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    return 116 * y ** (1 / 3) - 16 if y > 0.008856 else 903.3 * y


def test_categories_darken_from_a_to_e_even_in_greyscale() -> None:
    assert list(CATEGORY_COLOURS) == ["A", "B", "C", "D", "E"]
    ls = [lightness(CATEGORY_COLOURS[c]) for c in "ABCDE"]
    assert all(a - b >= 10 for a, b in pairwise(ls))


def test_not_measured_are_greys_apart_from_the_scale() -> None:
    assert set(NOT_MEASURED_COLOURS) == {"barrier", "site_error", "unrecognized"}
    for colour in NOT_MEASURED_COLOURS.values():
        assert colour[1:3] == colour[3:5] == colour[5:7], f"{colour} is not a grey"
        assert colour not in CATEGORY_COLOURS.values()
    assert len(set(NOT_MEASURED_COLOURS.values())) == 3


# -- sparkline ------------------------------------------------------------------------------------


def test_sparkline() -> None:
    svg = sparkline([0.2, 0.9, None, 0.1, 0.4], label="Taux d'échec <b>")
    root = parse(svg)
    assert root.get("role") == "img" and root.get("aria-label") == "Taux d'échec <b>"
    lines = list(root.iter(NS + "polyline"))
    assert len(lines) == 2
    first = [tuple(map(float, xy.split(","))) for xy in lines[0].get("points", "").split()]
    assert first[1][1] < first[0][1], "a higher rate is drawn higher"
    assert first[0][0] < first[1][0]
    assert parse(sparkline([], label="x")).get("aria-label") == "x"
    assert sparkline([0.3], label="x") == sparkline([0.3], label="x")


# -- closed periods drawn once and kept -----------------------------------------------------------


def test_closed_periods_kept_give_the_same_bytes_and_move_with_their_numbers(
    tmp_path: Path,
) -> None:
    """Through the site's own keeper (``MonthFragments``' page), saved and read back as a build
    does."""
    bars = [bar(i, {"A": i + 1, "E": 3}, {"barrier": i % 2}) for i in range(5)]
    bars.insert(2, bar(2, {}, {"site_error": 4}))  # an empty month among the closed ones
    points = [point(i, i, 20) for i in range(5)] + [point(5, None, 0), point(6, 1, 3)]

    def both(kept: PageFragments) -> None:
        assert category_bars(bars, id="c", title="t", description="d", kept=kept, closed=5) == (
            category_bars(bars, id="c", title="t", description="d")
        )
        assert rate_band(points, id="r", title="t", description="d", kept=kept, closed=6) == (
            rate_band(points, id="r", title="t", description="d")
        )

    kept = MonthFragments(tmp_path, "code").page("service", "s", "fr")
    both(kept)  # drawn and kept
    assert kept.changed and sorted(kept.kept) == ["band|r|fr", "bars|c|fr"]
    kept.save()
    again = MonthFragments(tmp_path, "code").page("service", "s", "fr")
    both(again)  # read back: nothing drawn again
    assert not again.changed
    # A closed month whose numbers moved is drawn again, never taken from what was kept.
    bars[0] = bar(0, {"A": 9, "E": 3})
    points[0] = point(0, 7, 20)
    both(again)
    assert again.changed


def test_a_page_keeps_its_pieces_in_a_file_of_its_own(tmp_path: Path) -> None:
    """``site/fragments.py``: a file a page and language, read back by a later build of the
    same code (by whichever process renders the page), nothing when the code changed or the
    name is not a file's."""
    bars = [bar(i, {"A": i + 1, "E": 3}, {"barrier": i % 2}) for i in range(5)]
    (tmp_path / "fragments.pickle").write_bytes(b"every page's pieces, the former layout")
    made = MonthFragments(tmp_path, "code-1")
    assert not (tmp_path / "fragments.pickle").exists()
    page = made.page("service", "nice-sejour", "fr")
    drawn = category_bars(bars, id="c", title="t", description="d", kept=page, closed=4)
    page.save()
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.pickle")] == [
        "fragments/service/fr/nice-sejour.pickle"
    ]
    again = MonthFragments(tmp_path, "code-1").page("service", "nice-sejour", "fr")
    assert category_bars(bars, id="c", title="t", description="d", kept=again, closed=4) == drawn
    assert not again.changed  # read back, not drawn again
    assert MonthFragments(tmp_path, "code-2").page("service", "nice-sejour", "fr").kept == {}
    assert MonthFragments(tmp_path, "code-1").page("service", "en", "fr").kept == {}
    odd = MonthFragments(tmp_path, "code-1").page("service", "../x", "fr")
    odd.put("n", "k", ("piece",))
    odd.save()
    assert odd.path is None and not (tmp_path / "fragments" / "x.pickle").exists()


def test_legends_drawn_once_a_language_fill_their_keys_with_each_charts_own_patterns() -> None:
    """A legend is laid out once a language and size (``charts._bars_legend``, ``_band_legend``,
    with a stand-in for the chart's id): every chart's keys still name its own patterns, the
    same bytes as a legend drawn for it alone."""
    from guichets.site import charts

    bars = [bar(0, {"A": 2}), bar(1, {}, {"site_error": 4, "barrier": 1})]
    points = [point(0, 5, 50), point(1, None, 0), point(2, 2, FEW - 1)]
    for lang in ("fr", "en"):
        drawn = {}
        for id in ("first", "second"):
            charts._bars_legend.cache_clear()
            charts._band_legend.cache_clear()
            alone = (
                category_bars(bars, id=id, title="t", description="d", lang=lang),
                rate_band(points, id=id, title="t", description="d", lang=lang),
            )
            drawn[id] = (
                category_bars(bars, id=id, title="t", description="d", lang=lang),
                rate_band(points, id=id, title="t", description="d", lang=lang),
            )
            assert drawn[id] == alone
        charts._bars_legend.cache_clear()
        charts._band_legend.cache_clear()
        for id, other in (("first", "second"), ("second", "first")):
            svg = "".join(
                (
                    category_bars(bars, id=id, title="t", description="d", lang=lang),
                    rate_band(points, id=id, title="t", description="d", lang=lang),
                )
            )
            assert svg == "".join(drawn[id])
            assert "\x00" not in svg
            assert f"url(#{id}-barrier)" in svg and f"url(#{id}-empty)" in svg
            assert f"#{other}-" not in svg
