"""Untrusted text: how it is bounded where it enters, and escaped for each kind of output.

Pages, catalogues and file names are written by others, some of them hostile. One policy per
output kind lives here, so that every writer of that kind uses the same one:

- **entry** (``clean_text``, ``is_counter_id``): scraped text loses control, bidirectional and
  other format characters and is cut to a bounded length; a counter id read from a page must look
  like one. Catalogue labels holding any of them are refused (``unsafe_characters``, named).
- **CSV cells** (``csv_cell``, ``csv_writer``): OWASP's CSV-injection advice: a text cell that
  begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (or their full-width forms,
  which some spreadsheets read the same way) gets a leading ``'`` so that no spreadsheet takes it
  for a formula; numbers are written as numbers. The csv module quotes separators and quotes.
- **terminal** (``terminal_text``): no escape sequence, control character or bidi override reaches
  the terminal (Rich markup is off on the CLI's consoles, see ``cli/app.py``).
- **Markdown** (``markdown_inline``): every character with a meaning in CommonMark inline syntax
  is backslash-escaped, so that a label cannot become a link, an image, emphasis or HTML.
- **JSON** (``json_dumps``, ``json_text``): JSON is data, kept whole, but a viewer or terminal
  that shows it must not be driven by it: control (C0, DEL, C1), format (bidi overrides, soft
  hyphen, zero-width and tag characters) and line/paragraph separator characters, and lone
  surrogates, are written as ``\\uXXXX`` escapes; a JSON reader gets the very same string back.
- **HTML and SVG** are Jinja2's autoescape and ``xml.sax.saxutils`` (``site/``); not here.
"""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any, Final, Protocol

__all__ = [
    "BIDI_CONTROLS",
    "COUNTER_ID",
    "FORMULA_START",
    "MAX_MESSAGE",
    "MAX_VALUE",
    "clean_text",
    "csv_cell",
    "csv_writer",
    "is_counter_id",
    "json_dumps",
    "json_text",
    "markdown_inline",
    "mixed_scripts",
    "terminal_text",
    "unsafe_characters",
]

MAX_VALUE: Final = 200
"""Characters kept of a scraped value (a counter label, a platform message, a firewall id)."""
MAX_MESSAGE: Final = 2000
"""Characters kept of an observation's message, which may quote a page."""

COUNTER_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
"""What a counter (planning, motive) id read from a page may look like: the platforms use
numbers or short keys; anything else is not a counter id, whatever the page says."""

BIDI_CONTROLS: Final = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_INVISIBLE: Final = frozenset("\u200b\u200c\u200d\u2060\ufeff")


def _unsafe(char: str) -> bool:
    code = ord(char)
    return (
        code < 0x20
        or 0x7F <= code <= 0x9F
        or char in BIDI_CONTROLS
        or char in _INVISIBLE
        or unicodedata.category(char) in ("Cf", "Cs", "Co", "Cn", "Zl", "Zp")
    )


def _format(char: str) -> bool:
    """A format character that is neither bidi nor a zero-width space: soft hyphen, tag
    characters (U+E0000–E007F), interlinear annotations...: removed, not made a space."""
    return (
        char not in BIDI_CONTROLS and char not in _INVISIBLE and unicodedata.category(char) == "Cf"
    )


def unsafe_characters(text: str) -> list[str]:
    """The control, bidi, format (soft hyphen, tags...), invisible, separator or unassigned
    characters of ``text``, as ``U+00AD SOFT HYPHEN``, for a message; empty when it has none.
    Tabs and newlines count: a label is one line."""
    found: list[str] = []
    for char in text:
        if _unsafe(char):
            name = f"U+{ord(char):04X}"
            described = unicodedata.name(char, "")
            shown = f"{name} {described}" if described else name
            if shown not in found:
                found.append(shown)
    return found


_SPACES = re.compile(r"\s+")


def clean_text(text: str, limit: int = MAX_VALUE) -> str:
    """Scraped text made safe to store: format characters (soft hyphen, tags) removed, control,
    bidi and invisible characters made spaces, runs of spaces one, and the result is cut to
    ``limit`` characters (ending with "…")."""
    if len(text) > limit * 4:
        text = text[: limit * 4]  # bounded work whatever the size
    cleaned = "".join(("" if _format(char) else " ") if _unsafe(char) else char for char in text)
    cleaned = _SPACES.sub(" ", cleaned).strip()
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 1].rstrip() + "…"
    return cleaned


def is_counter_id(value: str) -> bool:
    """Whether a value read from a page can be a counter id (see ``COUNTER_ID``)."""
    return COUNTER_ID.fullmatch(value) is not None


# -- CSV ----------------------------------------------------------------------------------------

FORMULA_START: Final = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")
"""First characters that make a spreadsheet read a cell as a formula (``csv_cell``)."""


def csv_cell(value: Any) -> Any:
    """A cell a spreadsheet never runs: text that could start a formula gets a leading ``'``.
    Numbers, booleans and None pass unchanged (they are written as such, never as formulas).
    A carriage return inside text becomes a newline: the csv module quotes only the characters
    of its line terminator, and a bare CR in an unquoted cell breaks the row for every reader."""
    if not isinstance(value, str) or not value:
        return value
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    if value[0] in FORMULA_START:
        return "'" + value
    return value


class _Sink(Protocol):
    def write(self, text: str, /) -> Any: ...


def csv_writer(out: _Sink, *, lineterminator: str = "\n") -> Callable[[Iterable[Any]], None]:
    """``csv.writer(out).writerow`` with every cell through ``csv_cell``: the one way guichets
    writes a CSV row (open data, report, dossier)."""
    writer = csv.writer(out, lineterminator=lineterminator)

    def write(row: Iterable[Any]) -> None:
        writer.writerow([csv_cell(cell) for cell in row])

    return write


# -- terminal -----------------------------------------------------------------------------------

# CSI/OSC and other escape sequences first, so that their parameters go with them.
_ESCAPES: Final = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC, up to BEL or ST
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC
    r"|\x1b[@-Z\\-_]?"  # two-character sequences, or a lone ESC
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)


def terminal_text(text: str) -> str:
    """Text safe to print on a terminal: escape sequences removed, other control characters
    (but newlines and tabs) shown as ``�``, bidi and invisible characters removed."""
    text = _ESCAPES.sub("", text)
    out: list[str] = []
    for char in text:
        if char in "\n\t":
            out.append(char)
        elif char in BIDI_CONTROLS or char in _INVISIBLE or _format(char):
            continue
        elif _unsafe(char):
            out.append("\ufffd")
        else:
            out.append(char)
    return "".join(out)


# -- JSON ---------------------------------------------------------------------------------------

# Every character of Unicode categories Cc (but C0, which json escapes itself), Cf, Zl and Zp,
# and the surrogates; tests/faults/test_outputs.py checks the list against ``unicodedata``.
_JSON_UNSAFE: Final = re.compile(
    "[\x7f-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    "\ud800-\udfff\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]"
)


def _json_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code > 0xFFFF:  # a UTF-16 surrogate pair, as JSON spells characters beyond the BMP
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def json_text(text: str) -> str:
    """JSON text (as ``json.dumps(..., ensure_ascii=False)`` writes it) with every control,
    format and separator character escaped as ``\\uXXXX``. Such characters only occur inside
    strings (the syntax is ASCII), so the document means exactly what it meant."""
    return _JSON_UNSAFE.sub(_json_escape, text)


def json_dumps(value: Any, **options: Any) -> str:
    """``json.dumps`` of data that may hold stored, scraped or catalogue text: readable accents,
    no character that could drive a terminal or a viewer (``json_text``). The one way guichets
    writes JSON for people and programs (reports, exports, the console's API)."""
    return json_text(json.dumps(value, ensure_ascii=False, **options))


# -- Markdown -----------------------------------------------------------------------------------

# The characters that open or close an inline construct (emphasis, code, link, image, autolink,
# raw HTML, entity, table cell, strikethrough); the text is always inlined after other words, so
# the line-start ones (#, -, +, 1.) never apply, and parentheses only make a link after "]".
_MARKDOWN_SPECIAL: Final = re.compile(r"([\\`*_\[\]<>!|~&])")


def markdown_inline(text: str) -> str:
    """Text that stays text in CommonMark, inlined in a sentence or a table cell: one line,
    controls removed, and every character that opens an inline construct escaped with a
    backslash (CommonMark allows escaping any ASCII punctuation), so no link, image, autolink,
    emphasis, table cell or HTML comes out of it."""
    flat = clean_text(text, limit=max(len(text), 1))
    return _MARKDOWN_SPECIAL.sub(r"\\\1", flat)


# -- host names ---------------------------------------------------------------------------------


def _script(char: str) -> str | None:
    """The script of a letter, from its Unicode name (LATIN, CYRILLIC, GREEK...); None for
    digits, hyphens and other characters every script shares."""
    if not char.isalpha():
        return None
    try:
        return unicodedata.name(char).split(" ", 1)[0]
    except ValueError:
        return "UNKNOWN"


def mixed_scripts(label: str) -> set[str]:
    """The scripts of the letters of a host label: more than one, or one other than Latin in a
    French administration's host, marks a look-alike (``gouv.fr`` with a Cyrillic ``о``)."""
    return {script for char in label if (script := _script(char)) is not None}
