"""Outputs checked for injection: CSV cells a spreadsheet would run, terminal escapes, Markdown
that becomes links or images, JSON that carries raw control or bidi characters. Hostile values
are stored as an old database could hold them (the probe now bounds and cleans what it stores;
the outputs must not rely on it)."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from guichets.cli import app
from guichets.cli.app import SafeConsole
from guichets.model import Detail, Observation, Outcome
from guichets.site.build import markdown
from guichets.store import Store
from guichets.untrusted import (
    csv_cell,
    csv_writer,
    json_dumps,
    json_text,
    markdown_inline,
    terminal_text,
)

T0 = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)
FORMULAS = ['=HYPERLINK("http://x","y")', "+1", "@SUM(1)", "-2+3", "\t=1", "\r=1", "＝1+1"]


def _hostile(number: int, value: str) -> Observation:
    return Observation(
        probe_id=f"p{number}", service="75-titres", platform="ezbooking",
        url="https://rdv.example.gouv.fr/booking/create/1234",
        started_at=T0 + timedelta(hours=number),
        finished_at=T0 + timedelta(hours=number, seconds=3), outcome=Outcome.UNRECOGNIZED,
        detail=Detail.UNEXPECTED_PAGE, counter=value, message=value, departement="75",
    )  # fmt: skip


def _formula_cells(text: str) -> list[str]:
    """Cells a spreadsheet would take for a formula: they start with = + - @ tab or CR (or a
    full-width form) and are not plain numbers."""
    found = []
    for row in csv.reader(io.StringIO(text)):
        for cell in row:
            if cell and cell[0] in "=+-@\t\r\uff1d\uff0b\uff0d\uff20":
                try:
                    float(cell)
                except ValueError:
                    found.append(cell)
    return found


def test_no_exported_cell_is_a_formula(tmp_path: Path) -> None:
    """``export observations --format csv`` and ``report --format csv`` over stored values made
    to be formulas: every such cell starts with ``'``; the values are otherwise kept."""
    with Store.open(None, home=tmp_path) as store:
        for number, value in enumerate(FORMULAS):
            store.save(_hostile(number, value))
    env = {"GUICHETS_HOME": str(tmp_path), "COLUMNS": "300", "NO_COLOR": "1"}
    exported = CliRunner().invoke(app, ["export", "observations", "--format", "csv"], env=env)
    assert exported.exit_code == 0, exported.output
    assert not _formula_cells(exported.stdout), _formula_cells(exported.stdout)
    assert '\'=HYPERLINK(""http://x"",""y"")' in exported.stdout  # kept, made inert
    report = CliRunner().invoke(app, ["report", "--format", "csv", "--from", "2026-10-05",
                                      "--to", "2026-10-06"], env=env)  # fmt: skip
    assert report.exit_code == 0, report.output
    assert not _formula_cells(report.stdout)


@given(
    st.lists(st.one_of(st.text(max_size=20), st.integers(), st.floats(allow_nan=False)), max_size=6)
)
def test_the_csv_policy_holds_for_any_cell(cells: list[object]) -> None:
    """Whatever the cells, no written text cell can start a formula, and numbers stay numbers."""
    out = io.StringIO()
    csv_writer(out)(cells)
    assert not _formula_cells(out.getvalue())
    for cell in cells:
        if not isinstance(cell, str):
            assert csv_cell(cell) is cell


@given(st.text(max_size=60))
def test_terminal_text_never_carries_an_escape(text: str) -> None:
    """No ESC, C1 control, other C0 control but newline and tab, or bidi override survives."""
    shown = terminal_text(text + "\x1b[31m\x9b2J\u202e")
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", shown)


def test_the_cli_console_prints_markup_and_escapes_literally() -> None:
    """Rich markup in a value is printed as typed (not eaten, not a crash); escapes removed."""
    console = SafeConsole()
    with console.capture() as captured:
        console.print("[bold]x[/bold] [/] [link=http://x]y[/link] \x1b]0;title\x07\x1b[2J end")
    text = captured.get()
    assert "[bold]x[/bold] [/] [link=http://x]y[/link]" in text and "\x1b" not in text


@given(st.text(max_size=60))
def test_a_label_stays_text_in_the_press_summary(label: str) -> None:
    """Any label, escaped for Markdown and rendered as the site renders the press summary,
    makes no link, image, emphasis, code or HTML element."""
    html = str(markdown(f"- **Isère (38) — {markdown_inline(label)}** : texte."))
    for tag in ("<a ", "<img", "<em>", "<code>", "<script", "<h", "<table", "<del", "<s>"):
        assert tag not in html, (label, html)
    assert html.count("<strong>") <= 1  # the summary's own bold only (a blank label breaks it)


# Stored text as an old database or a hand-edited one may hold it: C1 controls (U+0085 NEL,
# U+009B CSI), bidi overrides, a soft hyphen, tag characters, a line separator.
DRIVING = ["a\x85b", "\x9b31mred", "Pr\u00e9fecture \u202egnp.exe", "ac\u00adc\u00e8s",
           "flag\U000e0066\U000e0072", "one\u2028two", "del\x7f"]  # fmt: skip


def _raw_driving(text: str) -> list[str]:
    """Characters of a JSON text that a terminal or a viewer would act on."""
    return [
        f"U+{ord(c):04X}" for c in text
        if c != "\n" and unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs")
    ]  # fmt: skip


def test_json_outputs_escape_controls_and_bidi_and_keep_the_data(tmp_path: Path) -> None:
    """``export observations --format jsonl`` and ``report --format json`` over stored values
    holding C1, bidi, format and separator characters: no such character is written raw (each
    is a ``\\uXXXX`` escape), accents stay readable, and a JSON reader gets the stored value
    back exactly."""
    with Store.open(None, home=tmp_path) as store:
        for number, value in enumerate(DRIVING):
            store.save(_hostile(number, value))
    env = {"GUICHETS_HOME": str(tmp_path), "COLUMNS": "300", "NO_COLOR": "1"}
    exported = CliRunner().invoke(app, ["export", "observations", "--format", "jsonl"], env=env)
    assert exported.exit_code == 0, exported.output
    assert not _raw_driving(exported.stdout), _raw_driving(exported.stdout)
    assert "\\u202e" in exported.stdout and "Pr\u00e9fecture" in exported.stdout
    messages = {json.loads(line)["message"] for line in exported.stdout.splitlines()}
    assert messages == set(DRIVING)
    report = CliRunner().invoke(app, ["report", "--format", "json", "--from", "2026-10-05",
                                      "--to", "2026-10-06"], env=env)  # fmt: skip
    assert report.exit_code == 0, report.output
    assert not _raw_driving(report.stdout)
    json.loads(report.stdout)


def test_the_json_policy_covers_every_control_format_and_separator_character() -> None:
    """``json_text``'s list of characters against this Python's Unicode database: every Cc
    (from DEL), Cf, Zl and Zp character and every surrogate is escaped, nothing else is (but
    code points still unassigned in this Python's Unicode, inside the list's ranges)."""
    for code in range(0x7F, sys.maxunicode + 1):
        char = chr(code)
        kind = unicodedata.category(char)
        escaped = json_text(char) != char
        must = kind in ("Cc", "Cf", "Zl", "Zp", "Cs")
        assert escaped == must or (escaped and kind == "Cn"), (f"U+{code:04X}", kind)


@given(st.dictionaries(st.text(max_size=8), st.text(max_size=30), max_size=4))
def test_json_dumps_reads_back_the_same_data(value: dict[str, str]) -> None:
    """Whatever the text, the JSON holds no raw control or format character and reads back
    equal."""
    text = json_dumps(value)
    assert not _raw_driving(text.replace("\n", "")), text
    assert json.loads(text) == value


def test_the_cli_writes_json_only_through_the_json_policy() -> None:
    """Every JSON document a command prints goes through ``untrusted.json_dumps``: a new listing
    that calls ``json.dumps`` itself would print stored text's bidi and control characters raw.
    (The evidence heads are the exception: service ids and digests, checked ASCII.)"""
    cli = Path(__file__).resolve().parents[2] / "src" / "guichets" / "cli"
    direct = {
        path.name: line
        for path in sorted(cli.glob("*.py"))
        for line in path.read_text("utf-8").splitlines()
        if "json.dumps(" in line and path.name != "evidence.py"
    }
    assert direct == {}, direct
