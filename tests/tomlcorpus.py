"""The annotated corpus of ``tests/fixtures/toml_positions``: where each key path is written.

Shared by ``tests/test_tomlconfig_positions.py`` (the project's index against it) and
``bench/toml_positions.py`` (the candidate libraries against the same files). The annotations are
comments: ``#@ PATH`` (defined on this line), ``#@ PATH:COL`` (and at this 1-based column, in
characters), ``#@-N PATH`` (defined N lines above: a line inside a multi-line string cannot hold a
comment), ``#@! PATH`` (found nowhere).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "fixtures" / "toml_positions"

Loc = tuple[str | int, ...]
Position = tuple[int, int | None]  # line, column (1-based; None when the annotation has none)

_SEGMENT = re.compile(r'\[(\d+)\]|"((?:[^"\\]|\\.)*)"|([A-Za-z0-9_-]+)|(\.)')


def parse_loc(text: str, pos: int = 0) -> tuple[Loc, int]:
    """``sites[1]."u v".k`` -> ``("sites", 1, "u v", "k")`` (the inverse of
    ``guichets.tomlconfig.format_loc``), and where the path ends in ``text``."""
    loc: list[str | int] = []
    while pos < len(text):
        match = _SEGMENT.match(text, pos)
        if match is None:
            break
        index, quoted, bare, _dot = match.groups()
        if index is not None:
            loc.append(int(index))
        elif quoted is not None:
            loc.append(json.loads(f'"{quoted}"'))
        elif bare is not None:
            loc.append(bare)
        pos = match.end()
    return tuple(loc), pos


def annotations(text: str) -> tuple[dict[Loc, Position], set[Loc]]:
    """The positions the comments announce, and the paths they say are not keys."""
    present: dict[Loc, Position] = {}
    absent: set[Loc] = set()
    for number, line in enumerate(text.split("\n"), 1):
        for chunk in line.rstrip("\r").split("#@")[1:]:
            up = re.match(r"-(\d+)", chunk)
            chunk = chunk[up.end() :].strip() if up else chunk.strip()
            negated = chunk.startswith("!")
            chunk = chunk.removeprefix("!").strip()
            loc, end = parse_loc(chunk)
            column = re.match(r":(\d+)", chunk[end:])
            if negated:
                absent.add(loc)
            else:
                line_number = number - (int(up.group(1)) if up else 0)
                present[loc] = (line_number, int(column.group(1)) if column else None)
    return present, absent


def corpus() -> Iterator[tuple[str, str]]:
    """Each file as written, then with CRLF line ends (positions unchanged)."""
    for path in sorted(CORPUS.glob("*.toml")):
        text = path.read_text("utf-8")
        yield path.name, text
        yield f"{path.name} (CRLF)", text.replace("\n", "\r\n")
