"""The index finds every key at the line and column the corpus says it is written, with CRLF line
ends too, and finds nothing inside strings (``tests/fixtures/toml_positions``; the same files
measure the candidate libraries in ``bench/toml_positions.py``)."""

from __future__ import annotations

import pytest

from guichets.tomlconfig import LineIndex, format_loc
from tests.tomlcorpus import annotations, corpus

CASES = list(corpus())


def test_the_corpus_is_there_and_annotated() -> None:
    assert len(CASES) >= 12
    for _, text in CASES:
        assert annotations(text)[0]


@pytest.mark.parametrize(("name", "text"), CASES, ids=[name for name, _ in CASES])
def test_every_annotated_key_is_found_where_it_is_written(name: str, text: str) -> None:
    index = LineIndex.from_text(text)
    present, absent = annotations(text)
    for loc, (line, column) in present.items():
        found = index.position(loc)
        assert found is not None, (name, format_loc(loc))
        assert found[0] == line, (name, format_loc(loc), found)
        assert column is None or found[1] == column, (name, format_loc(loc), found)
        assert index.locate(loc) == (loc, line)
    for loc in absent:
        assert index.position(loc) is None, (name, format_loc(loc))


def test_position_is_only_for_paths_written_as_such() -> None:
    index = LineIndex.from_text("a.b = 1\n[[t]]\nx = [1,\n  {y = 2}]\n")
    assert index.position(("a", "b")) == (1, 1)
    assert index.position(("a",)) is None  # implied by the dotted key, not written
    assert index.line_of(("a",)) == 1
    assert index.position(("t", 0)) == (2, 1)
    assert index.position(("t", 0, "x", 1, "y")) == (4, 4)
    assert index.where(("t", 0, "x", 1, "z")) == (("t", 0, "x", 1, "z"), 4, 3)
