"""The open data's month files in the data directory (``DATA/opendata``): written by a build's
month files' process and its workers (``site/opendata_files.py``), whatever becomes of the build,
and by one build of a data directory at a time. Real ``guichets site build`` processes on a real
data directory; synchronised by a FIFO in place of a partial file (the writer blocks writing it
until this side reads) and by the processes' own pipes: never a sleep or a clock.
"""

from __future__ import annotations

import asyncio
import os
import select
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from guichets.site.build import kept_data
from guichets.site.opendata_files import OBSERVATIONS, month_file
from tests.test_site_opendata import DAYS, START, _robot

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="forked month writers")

GUICHETS = [sys.executable, "-m", "guichets"]
LATEST = "2026-11"  # the demo's last month: its plain CSV (170 KB) overfills a pipe (64 KB)
HANG = 600.0  # seconds: a hang's bound only, never reached by a process that does its work


@pytest.fixture(scope="module")
def probed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with the robot's probes over two months (SQLite), never built."""
    home = tmp_path_factory.mktemp("month-writers") / "data"
    asyncio.run(_robot(home, None, START, DAYS))
    return home


@pytest.fixture
def home(probed: Path, tmp_path: Path) -> Iterator[Path]:
    copy = tmp_path / "data"
    shutil.copytree(probed, copy)
    yield copy


def _observations(home: Path) -> Path:
    kept = kept_data(home)
    assert kept is not None
    return kept / OBSERVATIONS


def _build(home: Path, out: Path, *more: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GUICHETS, "site", "build", "--home", str(home), "--out", str(out), *more],
        capture_output=True,
        text=True,
        timeout=HANG,
        check=False,
    )


def test_partial_files_left_in_the_open_data_go_and_only_they(home: Path, tmp_path: Path) -> None:
    """What killed writers left in the month files' folder (partial files of any age, links
    named as partial files) is removed by the next build, links unfollowed; a folder so named
    is walked, not removed (before: the build failed, IsADirectoryError, a traceback)."""
    assert _build(home, tmp_path / "first").returncode == 0
    folder = _observations(home)
    left = folder / f".{month_file(LATEST, 'csv')}.partial"
    left.write_text("half a month")
    named = folder / ".a-folder.partial"
    named.mkdir()
    (named / ".inside.partial").write_text("left")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("keep me")
    link = folder / ".link.partial"
    link.symlink_to(outside / "precious")
    theirs = folder / "notes.partial"  # not a name ours have
    theirs.write_text("not ours")
    done = _build(home, tmp_path / "second")
    assert done.returncode == 0, done.stderr
    assert not left.exists() and not (named / ".inside.partial").exists()
    assert named.is_dir()
    assert not link.is_symlink() and (outside / "precious").read_text() == "keep me"
    assert theirs.read_text() == "not ours"
