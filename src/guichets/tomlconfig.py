"""Load user-written TOML files into pydantic models, with errors that point at a line.

Scenario files (and later the robot's catalogue of services) are written by hand. A bare
``ValidationError`` says ``sites.2.services.0.window_days``; a person editing the file needs
``scenario.toml:41:3: sites[2].services[0].window_days: ...``. The parser is tomli 2.1-2.2: its
errors carry ``lineno``/``colno`` (the standard library's tomllib has them only from Python 3.14)
and it reads TOML 1.0 as tomllib does (tomli 2.3 reads TOML 1.1, which changes what is valid).
A parser knows lines for syntax errors only, so :class:`LineIndex` re-scans the text lightly to
map a pydantic location back to the line and column where that key (or its enclosing table) is
written.

Why a scanner of our own rather than a library (measured by ``bench/toml_positions.py``, figures
in ``docs/benchmarks.md``, decision in ``docs/architecture.md``): tomlkit keeps each item's text
but no position, and tomlkit-extras, which recounts lines over it, fails on dotted keys, arrays
and nested arrays of tables; tree-sitter-toml gives every node's line and column, but a syntax
tree does not resolve key paths (array-of-tables indices, a ``[table]`` under the last entry,
dotted and quoted keys), so that part would stay ours and only the tokenizing would go. Both find
every annotated position of the corpus (``tests/fixtures/toml_positions``), lines and columns, LF
and CRLF; the scanner is as fast (1.9 s for both on an 8 MB catalogue, faster on the other big
files) in 40 % of the memory (135 MB against 342 MB), needs no compiled dependency pinned to a
grammar ABI, and its single pass also yields what explains syntax errors (where an unclosed value
was opened, a duplicate key's first line, a wrapped inline table) and refuses nesting beyond
:data:`MAX_DEPTH` before tomli, which alone ran out of 1.5 GB on a 100 KB dotted key.
"""

from __future__ import annotations

import bisect
import difflib
import re
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import pydantic
import tomli

__all__ = [
    "ConfigError",
    "LineIndex",
    "Problem",
    "format_loc",
    "format_problems",
    "load_model",
    "problems_from_validation",
    "read_toml",
]

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=pydantic.BaseModel)

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SHORT_VALUE = 40


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a config file, phrased for the person who edits it."""

    file: str
    line: int | None
    where: str
    message: str
    column: int | None = None

    def __str__(self) -> str:
        """``FILE:LINE[:COLUMN]: WHERE: MESSAGE``, the format editors and terminals link."""
        head = self.file
        if self.line is not None:
            head += f":{self.line}"
            if self.column is not None:
                head += f":{self.column}"
        parts = [head]
        if self.where:
            parts.append(self.where)
        parts.append(self.message)
        return ": ".join(parts)


def format_problems(problems: Iterable[Problem]) -> str:
    """All problems, one per line, so a CLI can report everything in one run."""
    return "\n".join(str(problem) for problem in problems)


class ConfigError(Exception):
    """One or more problems in a config file; str() is the full human message."""

    problems: list[Problem]
    path: Path

    def __init__(self, path: Path, problems: Sequence[Problem]) -> None:
        self.path = path
        self.problems = list(problems)
        super().__init__(format_problems(self.problems) or f"{path}: invalid configuration")


# --------------------------------------------------------------------------------------------
# Line index


@dataclass
class _Scan:
    """What the light scan learned: lines of keys, plus clues for explaining syntax errors."""

    lines: dict[Loc, int] = field(default_factory=dict)  # explicitly written paths
    implicit: dict[Loc, int] = field(default_factory=dict)  # every prefix, first mention
    columns: dict[Loc, int] = field(default_factory=dict)  # where in its line each path starts
    unclosed: tuple[int, str] | None = None  # (opening line, "what; fix") of first unclosed value
    duplicates: list[tuple[Loc, int, int]] = field(default_factory=list)  # (path, first, again)
    split_inline: set[int] = field(default_factory=set)  # lines where an inline table wraps
    too_deep: int | None = None  # first line nesting keys or values deeper than MAX_DEPTH


MAX_DEPTH = 64
"""Levels of nested keys, arrays and inline tables a config file may use: ours use four. Deeper,
the file is refused at the line (the parser's recursion and this scan's prefixes stay bounded)."""


class _Scanner:
    """Tolerant tokenizer for just enough TOML to know where keys are; never raises. Linear in
    the text: nesting beyond MAX_DEPTH stops the scan at that line (``too_deep``)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)
        self.pos = 0
        self.newlines = [i for i, char in enumerate(text) if char == "\n"]
        self.scan = _Scan()
        self.aot_counts: dict[Loc, int] = {}
        self.depth = 0  # arrays and inline tables open around the current position

    # -- helpers -------------------------------------------------------------------------

    def line_at(self, pos: int) -> int:
        return bisect.bisect_left(self.newlines, pos) + 1

    def column_at(self, pos: int, line: int) -> int:
        """1-based, in characters (the text is a str), as tomli counts ``colno``."""
        return pos - (self.newlines[line - 2] + 1 if line > 1 else 0) + 1

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < self.n else ""

    def skip_ws(self) -> None:
        while self.pos < self.n and self.text[self.pos] in " \t\r":
            self.pos += 1

    def skip_blank(self) -> None:
        """Skip whitespace, newlines and comments."""
        while self.pos < self.n:
            char = self.text[self.pos]
            if char in " \t\r\n":
                self.pos += 1
            elif char == "#":
                self.skip_line()
            else:
                return

    def skip_line(self) -> None:
        end = self.text.find("\n", self.pos)
        self.pos = self.n if end < 0 else end + 1

    def deep(self, size: int, line: int) -> bool:
        """Whether nesting ``size`` levels is too deep; then the scan stops there."""
        if size <= MAX_DEPTH:
            return False
        if self.scan.too_deep is None:
            self.scan.too_deep = line
        self.pos = self.n
        return True

    def record(self, path: Loc, pos: int, *, first_wins: bool = False) -> None:
        """``path`` is written at ``pos`` (its key, header or array element starts there)."""
        line = self.line_at(pos)
        if self.deep(len(path), line):
            return
        lines = self.scan.lines
        column = self.column_at(pos, line)
        if path in lines:
            if not first_wins:
                self.scan.duplicates.append((path, lines[path], line))
        else:
            lines[path] = line
            self.scan.columns[path] = column
        for size in range(1, len(path) + 1):
            if path[:size] not in self.scan.implicit:
                self.scan.implicit[path[:size]] = line
                self.scan.columns.setdefault(path[:size], column)

    def unclosed(self, line: int, what: str) -> None:
        if self.scan.unclosed is None:
            self.scan.unclosed = (line, what)

    # -- grammar ---------------------------------------------------------------------------

    def run(self) -> _Scan:
        table: Loc = ()
        while True:
            self.skip_blank()
            if self.pos >= self.n:
                return self.scan
            if self.text.startswith("[[", self.pos):
                table = self.header(table, array=True)
            elif self.peek() == "[":
                table = self.header(table, array=False)
            else:
                self.keyval(table)
            self.skip_line()

    def header(self, table: Loc, *, array: bool) -> Loc:
        start = self.pos
        self.pos += 2 if array else 1
        keys = self.key()
        if keys is None:
            return table
        resolved: Loc = ()
        for key in keys[:-1] if array else keys:
            resolved = self.through_arrays((*resolved, key))
        if array:
            array_path = (*resolved, keys[-1])
            count = self.aot_counts.get(array_path, 0)
            self.aot_counts[array_path] = count + 1
            self.record(array_path, start, first_wins=True)
            resolved = (*array_path, count)
        self.record(resolved, start)
        return resolved

    def through_arrays(self, path: Loc) -> Loc:
        """``[a.b]`` after ``[[a]]`` means the last entry of ``a``: insert its index."""
        count = self.aot_counts.get(path)
        return path if count is None else (*path, count - 1)

    def keyval(self, base: Loc) -> bool:
        start = self.pos
        keys = self.key()
        if keys is None or self.peek() != "=":
            return False
        self.pos += 1
        self.skip_ws()
        path = (*base, *keys)
        self.record(path, start)
        self.value(path)
        return True

    def key(self) -> list[str] | None:
        parts: list[str] = []
        while True:
            self.skip_ws()
            part = self.key_part()
            if part is None:
                return None
            parts.append(part)
            if self.deep(len(parts), self.line_at(self.pos)):
                return None
            self.skip_ws()
            if self.peek() != ".":
                return parts
            self.pos += 1

    def key_part(self) -> str | None:
        quote = self.peek()
        if quote in ('"', "'"):
            if self.text.startswith(quote * 3, self.pos):
                return None
            start = self.pos
            if not self.string():
                return None
            raw = self.text[start : self.pos]
            if quote == "'":
                return raw[1:-1]
            try:
                return next(iter(tomli.loads(f"{raw} = 0")))
            except (tomli.TOMLDecodeError, StopIteration):
                return raw[1:-1]
        match = _BARE_KEY.match(self.text, self.pos)
        if match is None:
            return None
        self.pos = match.end()
        return match.group()

    def string(self) -> bool:
        """Skip a string of any of the four kinds; False if it is not closed."""
        quote = self.text[self.pos]
        start_line = self.line_at(self.pos)
        escapes = quote == '"'
        if self.text.startswith(quote * 3, self.pos):
            self.pos += 3
            # str.find runs at C speed through a long string; each escape is skipped whole (its
            # next character never closes), and the closing quotes are looked for again only
            # once an escape has stepped over them: linear in the text.
            closing = self.text.find(quote * 3, self.pos)
            while closing >= 0:
                slash = self.text.find("\\", self.pos, closing) if escapes else -1
                if slash < 0:
                    self.pos = closing + 3
                    for _ in range(2):  # up to two quotes may close the content
                        if self.peek() == quote:
                            self.pos += 1
                    return True
                self.pos = slash + 2
                if self.pos > closing:
                    closing = self.text.find(quote * 3, self.pos)
            self.pos = self.n
            self.unclosed(start_line, f"multi-line string; close it with {quote * 3}")
            return False
        self.pos += 1
        while self.pos < self.n and self.text[self.pos] != "\n":
            char = self.text[self.pos]
            if escapes and char == "\\" and self.text[self.pos + 1 : self.pos + 2] != "\n":
                self.pos += 2
            elif char == quote:
                self.pos += 1
                return True
            else:
                self.pos += 1
        return False

    def value(self, path: Loc) -> None:
        char = self.peek()
        if char in ('"', "'"):
            self.string()
        elif char == "[":
            self.array(path)
        elif char == "{":
            self.inline_table(path)
        else:
            while self.pos < self.n and self.text[self.pos] not in ",]}#\n":
                self.pos += 1

    def array(self, path: Loc) -> None:
        start_line = self.line_at(self.pos)
        if self.deep(self.depth + 1, start_line):
            return
        self.depth += 1
        try:
            self._array(path, start_line)
        finally:
            self.depth -= 1

    def _array(self, path: Loc, start_line: int) -> None:
        self.pos += 1
        index = 0
        while True:
            self.skip_blank()
            if self.pos >= self.n:
                self.unclosed(start_line, "array; close it with ']'")
                return
            if self.peek() == "]":
                self.pos += 1
                return
            element = (*path, index)
            self.record(element, self.pos)
            before = self.pos
            self.value(element)
            self.skip_blank()
            if self.peek() == ",":
                self.pos += 1
                index += 1
            elif self.pos >= self.n:
                self.unclosed(start_line, "array; close it with ']'")
                return
            elif self.peek() == "]":
                self.pos += 1
                return
            elif self.pos == before:
                return

    def inline_table(self, path: Loc) -> None:
        start_line = self.line_at(self.pos)
        if self.deep(self.depth + 1, start_line):
            return
        self.depth += 1
        try:
            self._inline_table(path, start_line)
        finally:
            self.depth -= 1

    def _inline_table(self, path: Loc, start_line: int) -> None:
        self.pos += 1
        while True:
            self.inline_blank()
            if self.pos >= self.n:
                self.unclosed(start_line, "inline table; close it with '}'")
                return
            if self.peek() == "}":
                self.pos += 1
                return
            if not self.keyval(path):
                return
            self.inline_blank()
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() == "}":
                self.pos += 1
                return
            elif self.pos >= self.n:
                self.unclosed(start_line, "inline table; close it with '}'")
                return
            else:
                return

    def inline_blank(self) -> None:
        """Like :meth:`skip_blank`, but remember lines where an inline table wraps (invalid)."""
        line = self.line_at(self.pos)
        self.skip_blank()
        if self.pos < self.n and self.line_at(self.pos) != line:
            self.scan.split_inline.add(line)


class LineIndex:
    """Maps a key path to the line and column where it is written, from a light scan of the text."""

    def __init__(
        self,
        lines: Mapping[Loc, int],
        implicit: Mapping[Loc, int],
        columns: Mapping[Loc, int] | None = None,
    ) -> None:
        self._lines = dict(lines)
        self._implicit = dict(implicit)
        self._columns = dict(columns or {})

    @classmethod
    def from_text(cls, text: str) -> LineIndex:
        """Index valid TOML text; on invalid text, index what can be understood."""
        scan = _Scanner(text).run()
        return cls(scan.lines, scan.implicit, scan.columns)

    def where(self, loc: Sequence[str | int]) -> tuple[Loc, int | None, int | None]:
        """The location as the user wrote it, and the line and column of its best match.

        Segments pydantic adds that are not in the file (union member names, validator names)
        are skipped when a later segment matches again; trailing unmatched segments (a missing or
        unknown key) are kept, and the position is that of the deepest part that matched: its
        key, its ``[table]`` or ``[[array]]`` header, or its array element.
        """
        matched: Loc = ()
        kept: list[str | int] = []
        pending: list[str | int] = []
        for segment in loc:
            candidate = (*matched, segment)
            if candidate in self._implicit:
                matched = candidate
                kept.append(segment)
                pending.clear()
            else:
                pending.append(segment)
        kept.extend(pending)
        if not matched:
            return tuple(kept), None, None
        line = self._lines.get(matched, self._implicit[matched])
        return tuple(kept), line, self._columns.get(matched)

    def locate(self, loc: Sequence[str | int]) -> tuple[Loc, int | None]:
        """The location as the user wrote it, and its best line (see :meth:`where`)."""
        kept, line, _ = self.where(loc)
        return kept, line

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """Best line for a location: the key's own line; else the nearest enclosing table or
        array-of-tables entry's header line; None only if nothing matches."""
        return self.locate(loc)[1]

    def position(self, loc: Sequence[str | int]) -> tuple[int, int] | None:
        """Line and column where exactly this path is written (key, header or array element);
        None when it is only implied (``a`` of ``a.b = 1``) or absent."""
        path = tuple(loc)
        if path not in self._lines:
            return None
        return self._lines[path], self._columns[path]


def format_loc(loc: Sequence[str | int]) -> str:
    """``("sites", 2, "x y")`` -> ``sites[2]."x y"``: how the user would name it."""
    text = ""
    for segment in loc:
        if isinstance(segment, int):
            text += f"[{segment}]"
        else:
            name = segment if _BARE_KEY.fullmatch(segment) else _quote(segment)
            text += f".{name}" if text else name
    return text


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


# --------------------------------------------------------------------------------------------
# Reading


def read_toml(path: Path | str) -> tuple[dict[str, Any], LineIndex]:
    """Read and parse; raises ConfigError (with line and column from tomli) on malformed TOML,
    on a missing/unreadable file, or on invalid UTF-8."""
    path = Path(path)
    file = str(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        reason = error.strerror or str(error)
        problem = Problem(file, None, "", f"cannot read the file: {reason}")
        raise ConfigError(path, [problem]) from error
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(path, [_encoding_problem(file, data, error)]) from error
    text = text.removeprefix("\ufeff")  # tolerate the BOM some Windows editors add
    scan = _Scanner(text).run()  # linear, bounded: first, so that no parser meets a bomb
    if scan.too_deep is not None:
        message = (
            f"keys, arrays or inline tables nested more than {MAX_DEPTH} levels deep: a "
            "config file needs a few; write it flatter"
        )
        raise ConfigError(path, [Problem(file, scan.too_deep, "", message)])
    try:
        parsed = tomli.loads(text)
    except tomli.TOMLDecodeError as error:
        raise ConfigError(path, [_syntax_problem(file, text, error)]) from error
    except RecursionError as error:  # a nesting the scan did not see: still a clean refusal
        problem = Problem(file, None, "", "invalid TOML: nested too deeply to be read")
        raise ConfigError(path, [problem]) from error
    return parsed, LineIndex(scan.lines, scan.implicit, scan.columns)


def _encoding_problem(file: str, data: bytes, error: UnicodeDecodeError) -> Problem:
    line_start = data.rfind(b"\n", 0, error.start) + 1
    line = data.count(b"\n", 0, error.start) + 1
    column = len(data[line_start : error.start].decode("utf-8", "replace")) + 1
    bad = data[error.start : error.start + 1].hex()
    message = f"invalid UTF-8 (byte 0x{bad}); save the file with the UTF-8 encoding"
    return Problem(file, line, "", message, column)


def _syntax_problem(file: str, text: str, error: tomli.TOMLDecodeError) -> Problem:
    """The parser's message and position, plus a hint at what would be right."""
    message = error.msg  # tomli >= 2.1 gives the message and its position apart
    scan = _Scanner(text).run()
    at_end = error.pos >= len(text)
    line: int | None
    column: int | None
    if at_end:
        line, column = max(1, len(text.rstrip().splitlines())), None
    else:
        line, column = error.lineno, error.colno
    if scan.unclosed is not None and (at_end or scan.unclosed[0] <= (line or 0)):
        # Whatever the parser tripped on later, the fix is where the value was opened.
        opened, what = scan.unclosed
        kind, fix = what.split("; ", 1)
        full = f"invalid TOML: this {kind} is never closed"
        if not at_end:
            full += f" (the parser gave up at line {line}, column {column}: {message})"
        return Problem(file, opened, "", f"{full}; {fix}")
    hint = ""
    if message.startswith(("Cannot overwrite a value", "Cannot declare")):
        for path, first, again in scan.duplicates:
            if at_end or again == line:
                name = format_loc(path)
                full = f"invalid TOML: {name} is defined twice (first on line {first}); keep one"
                return Problem(file, again, "", full)
    if line in scan.split_inline:
        hint = "an inline table { ... } must fit on one line; use a [table] header instead"
    elif message == "Invalid value":
        hint = (
            'expected a quoted string ("text"), a number, true or false, a date (2024-05-31), '
            "an array [...] or an inline table { ... }"
        )
    elif message == "Invalid statement":
        hint = (
            "expected key = value, a [table] or an [[array]] header; "
            'quote keys with spaces or accents ("clé" = 1)'
        )
    elif message.startswith("Expected '='"):
        hint = 'write key = value; quote keys with spaces or accents ("clé" = 1)'
    full = f"invalid TOML: {message}" + (f"; {hint}" if hint else "")
    return Problem(file, line, "", full, column)


# --------------------------------------------------------------------------------------------
# Validation


def load_model(path: Path | str, model: type[M]) -> M:
    """Read, parse and validate, so callers get either a model or a ConfigError listing every
    problem (line, location, message with the bad value when short, e.g. "(found 'xyz')"),
    sorted by line, instead of a raw pydantic ValidationError."""
    data, index = read_toml(path)
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as error:
        problems = problems_from_validation(error, index, str(path), model=model)
        raise ConfigError(Path(path), problems) from error


def problems_from_validation(
    error: pydantic.ValidationError,
    index: LineIndex,
    file: str,
    *,
    model: type[pydantic.BaseModel] | None = None,
) -> list[Problem]:
    """One Problem per pydantic error, sorted by line (file-level problems first).

    With ``model``, unknown keys get a "did you mean" drawn from the fields allowed there.
    """
    problems = []
    for details in error.errors(include_url=False):
        loc = tuple(details["loc"])
        where_loc, line, column = index.where(loc)
        tag = str(details.get("ctx", {}).get("discriminator", "")).strip("'\"")
        if details["type"] == "union_tag_invalid" and tag:
            _, tag_line, tag_column = index.where((*where_loc, tag))
            if tag_line is not None:  # point at `kind = "..."` itself
                line, column = tag_line, tag_column
        message = _describe(details, loc, model)
        problems.append(Problem(file, line, format_loc(where_loc), message, column))
    problems.sort(key=lambda problem: (problem.line is not None, problem.line or 0))
    return problems


def _describe(details: Any, loc: Loc, model: type[pydantic.BaseModel] | None) -> str:
    kind: str = details["type"]
    key = loc[-1] if loc and isinstance(loc[-1], str) else None
    if kind == "missing" and key is not None:
        assignment = f"{format_loc([key])} = ..."
        place = "to this table" if len(loc) > 1 else "at the top of the file, before any [table]"
        return f"missing required key {key!r}; add {assignment} {place}"
    if kind == "extra_forbidden" and key is not None:
        return f"unknown key {key!r}; {_unknown_key_hint(key, loc[:-1], model)}"
    message: str = details["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        message = "expected a table ([name] header or { key = value, ... })"
    elif kind in ("list_type", "tuple_type", "set_type", "frozen_set_type"):
        message = "expected an array [...]"
    shown = _show_value(details.get("input"), shape_error=kind.endswith(("_type", "_parsing")))
    return f"{message} (found {shown})" if shown else message


def _unknown_key_hint(key: str, parent: Loc, model: type[pydantic.BaseModel] | None) -> str:
    allowed = _keys_at(model, parent) if model is not None else None
    if not allowed:
        return "remove it or check its spelling"
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    listed = ", ".join(allowed[:15]) + (", ..." if len(allowed) > 15 else "")
    return f"allowed keys here: {listed}"


def _show_value(value: Any, *, shape_error: bool) -> str | None:
    """The bad input as the user wrote it, when it is short enough to quote."""
    if isinstance(value, Mapping):
        return "a table" if shape_error else None
    if isinstance(value, list | tuple):
        return "an array" if shape_error else None
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float):
        text = repr(value)
    elif isinstance(value, datetime | date | time):
        text = value.isoformat()
    elif isinstance(value, str):
        if len(value) > _SHORT_VALUE:
            return f"a string of {len(value)} characters"
        text = repr(value)
    else:
        return None
    return text if len(text) <= _SHORT_VALUE else None


def _keys_at(model: type[pydantic.BaseModel], loc: Loc) -> list[str] | None:
    """Keys the model accepts at a location, or None when the way there is ambiguous."""
    current: Any = model
    for segment in loc:
        current = _unwrap(current)
        origin, args = get_origin(current), get_args(current)
        if isinstance(current, type) and issubclass(current, pydantic.BaseModel):
            found = _field_for(current, segment)
            if found is None:
                return None
            current = found.annotation
        elif isinstance(segment, int) and args and origin in (list, set, frozenset, Sequence):
            current = args[0]
        elif isinstance(segment, int) and origin is tuple and args:
            if len(args) == 2 and args[1] is Ellipsis:
                current = args[0]
            elif segment < len(args):
                current = args[segment]
            else:
                return None
        elif isinstance(segment, str) and origin in (dict, Mapping) and len(args) == 2:
            current = args[1]
        else:
            return None
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, pydantic.BaseModel):
        return [info.alias or name for name, info in current.model_fields.items()]
    return None


def _field_for(model: type[pydantic.BaseModel], key: str | int) -> Any:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info
    return None


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated`` and ``X | None`` so the walk sees the model or container inside."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation
