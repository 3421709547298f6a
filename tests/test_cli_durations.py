"""Durations typed on the command line: anything but ASCII digits and a unit is a usage error
(exit 2, naming the option and the text), never a traceback. ``str.isdigit`` takes a superscript
two, which ``int`` then refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from guichets.cli.app import app

EXAMPLE = Path(__file__).resolve().parents[1] / "catalogues" / "example.toml"
BAD = ("soon", "\u00b2m", "1\u0663h", "0m", "-1h")  # a superscript two, an Arabic-Indic three


@pytest.mark.parametrize("text", BAD)
def test_site_every_refuses_what_is_not_a_duration(tmp_path: Path, text: str) -> None:
    result = CliRunner().invoke(
        app,
        ["run", "--catalogue", str(tmp_path / "c.toml"), "--home", str(tmp_path / "d"),
         "--site", str(tmp_path / "site"), "--site-every", text],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert f"--site-every {text!r}" in result.output
    assert not (tmp_path / "d").exists()  # refused before anything is made


@pytest.mark.parametrize("text", ["\u00b2h", "1\u0663h"])
def test_until_refuses_what_is_neither_an_instant_nor_a_duration(tmp_path: Path, text: str) -> None:
    result = CliRunner().invoke(
        app,
        ["run", "--catalogue", str(EXAMPLE), "--home", str(tmp_path / "d"), "--until", text],
    )
    assert result.exit_code == 2, result.output
    assert f"--until {text!r}" in result.output
    assert not (tmp_path / "d").exists()
