"""Outputs checked for injection: CSV cells a spreadsheet would run, terminal escapes, Markdown
that becomes links or images. Hostile values are stored as an old database could hold them (the
probe now bounds and cleans what it stores; the outputs must not rely on it)."""

from __future__ import annotations

import csv
import io
import re
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
from guichets.untrusted import csv_cell, csv_writer, markdown_inline, terminal_text

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
