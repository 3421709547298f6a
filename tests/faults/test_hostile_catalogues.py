"""Hostile catalogues: ``guichets catalogue check`` refuses what would send the robot into its own
network, look-alike hosts, labels that hide or reorder text, and files made to exhaust it, each
with exit 2 and ``FILE:LINE``; in bounded time and memory, checked with resource limits on the
process (CPU seconds and address space), not with a wall clock."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guichets.catalogue import check_report
from guichets.cli import app

GUICHETS = [sys.executable, "-m", "guichets"]
ENV = dict(os.environ, COLUMNS="300", NO_COLOR="1")
CPU_SECONDS = 60  # generous: a sound check takes well under a second of CPU
MEMORY = 1_500_000_000  # bytes of address space: Python and its libraries need a few hundred MB


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GUICHETS, "catalogue", "check", str(path)], capture_output=True, text=True, env=ENV,
        preexec_fn=_limits, timeout=600,
    )  # fmt: skip


def service(url: str = "https://www.isere.gouv.fr/booking/create/4129", **more: str) -> str:
    fields = {"id": '"38-grenoble-renouvellement"', "departement": '"38"',
              "site": '"Préfecture de l\'Isère"', "procedure": '"renouvellement"',
              "platform": '"ezbooking"', "url": f'"{url}"', "cadence": '"1h"', **more}  # fmt: skip
    return "[[services]]\n" + "".join(f"{k} = {v}\n" for k, v in fields.items())


def _refused(tmp_path: Path, text: str, line: int, words: str, name: str = "c.toml") -> None:
    """Checked in this process (the cheap way; the bombs below get a process of their own)."""
    path = tmp_path / name
    path.write_text(text, "utf-8")
    code, said = check_report(path)
    assert code == 2, said
    assert f"{path}:{line}" in said and words in said, said


@pytest.mark.parametrize(
    ("host", "words"),
    [
        ("127.0.0.1", "numeric loopback address"),
        ("127.1.2.3:8765", "numeric loopback address"),
        ("10.1.2.3", "numeric private address"),
        ("192.168.1.1", "numeric private address"),
        ("169.254.169.254", "link-local"),
        ("[::1]", "numeric loopback address"),
        ("[fe80::1]", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("8.8.8.8", "numeric address"),
        ("2130706433", "number in disguise"),
        ("0x7f.1", "number in disguise"),
        ("localhost", "this machine"),
        ("rdv.localhost", "this machine"),
        ("www.isеre.gouv.fr", "mixes scripts"),  # a Cyrillic е
        ("www.xn--isre-43d.gouv.fr", "mixes scripts"),  # the same, as punycode
        ("ρdv.gouv.fr", "non-Latin"),
    ],
)
def test_hosts_of_the_robots_own_network_and_look_alikes(
    tmp_path: Path, host: str, words: str
) -> None:
    """Each host is refused at the url's line with what is wrong."""
    _refused(tmp_path, service(f"https://{host}/booking/create/4129"), 7, words)


def test_allow_local_lets_the_simulator_through_but_never_link_local(tmp_path: Path) -> None:
    """``allow_local = true``: loopback accepted (the simulator); link-local still refused."""
    good = tmp_path / "good.toml"
    good.write_text("allow_local = true\n" + service("http://127.0.0.1:8765/booking/create/1"))
    assert check_report(good)[0] == 0
    _refused(tmp_path, "allow_local = true\n" + service("http://169.254.1.1/booking/create/1"),
             8, "link-local")  # fmt: skip


@pytest.mark.parametrize(
    ("label", "words"),
    [
        ('"deux\\nlignes"', "U+000A"),
        ('"\\u001b[31mrouge"', "U+001B"),
        ('"Pr\\u00e9fecture \\u202egnp.exe"', "U+202E"),
        ('"z\\u200bero"', "U+200B"),
        ('"Pr\\u00e9f\\u00adecture"', "U+00AD SOFT HYPHEN"),
        ('"titre\\U000e0041\\U000e007f"', "U+E0041 TAG LATIN CAPITAL LETTER A"),
        ('"Pr\\u00e9fecture \\u202egnp.exe"', "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ('"une\\u2028ligne"', "U+2028 LINE SEPARATOR"),
        ('"' + "x" * 201 + '"', "too long"),
    ],
)
def test_labels_that_hide_reorder_or_flood(tmp_path: Path, label: str, words: str) -> None:
    """A label with control, bidi, format (soft hyphen, tag characters) or invisible characters,
    or too long, is refused at its line, each character named by its code point and name."""
    _refused(tmp_path, service(label=label), 9, words)


def test_a_fifty_megabyte_label_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    """A 50 MB file: refused by its size, within the limits."""
    path = tmp_path / "huge.toml"
    with path.open("w", encoding="utf-8") as out:
        out.write(service().rstrip("\n") + '\nlabel = "')
        chunk = "x" * 1_000_000
        for _ in range(50):
            out.write(chunk)
        out.write('"\n')
    done = check(path)
    assert done.returncode == 2 and "a catalogue is at most" in done.stderr, done.stderr


def test_rich_markup_and_escapes_in_a_file_name_are_printed_as_they_are(tmp_path: Path) -> None:
    """A file name with Rich markup and an escape sequence: shown literally, the escape removed,
    nothing eaten, no crash."""
    folder = tmp_path / "[bold]x["  # with the next segment: "[bold]x[/bold]…"
    folder.mkdir()
    path = folder / "bold]c\x1b[2Jat.toml"
    path.write_text(service("https://127.0.0.1/booking/create/1"), "utf-8")
    done = CliRunner().invoke(app, ["catalogue", "check", str(path)], env={"COLUMNS": "300"})
    assert done.exit_code == 2, done.output
    said = "".join(done.stderr.split())  # the terminal may fold the long name
    assert "[bold]x[/bold]cat.toml" in said and "\x1b" not in done.stderr, done.stderr


def test_deeply_nested_arrays_end_in_exit_2_with_the_line(tmp_path: Path) -> None:
    """Arrays nested 500 deep: exit 2 naming the file and line, no RecursionError traceback."""
    path = tmp_path / "deep.toml"
    path.write_text("x = " + "[" * 500 + "]" * 500 + "\n", "utf-8")
    done = check(path)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and f"{path}:1" in done.stderr


def test_deep_tables_are_checked_in_bounded_time(tmp_path: Path) -> None:
    """A 100 KB header of dotted keys (quadratic for a naive line scanner): exit 2 within the
    CPU and memory limits."""
    path = tmp_path / "tables.toml"
    path.write_text("[" + ".".join(["a"] * 50_000) + "]\nx = 1\n", "utf-8")
    done = check(path)
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert f"{path}:1" in done.stderr
