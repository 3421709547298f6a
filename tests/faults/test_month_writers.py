"""The open data's month files in the data directory (``DATA/opendata``): written by a build's
month files' process and its workers (``site/opendata_files.py``), whatever becomes of the build,
and by one build of a data directory at a time. Real ``guichets site build`` processes on a real
data directory; synchronised by a FIFO in place of a partial file (the writer blocks writing it
until this side reads) and by the processes' own pipes: never a sleep or a clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from guichets.site import pages_work
from guichets.site.archive import ARCHIVE_DIR
from guichets.site.build import data_folder, kept_data, start_open_data
from guichets.site.opendata_files import OBSERVATIONS, MonthsBusy, hold_months, month_file
from guichets.store import Store
from tests.test_site_opendata import DAYS, START, _robot

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="forked month writers")

GUICHETS = [sys.executable, "-m", "guichets"]
LATEST = "2026-11"  # the demo's last month: its plain CSV (170 KB) overfills a pipe (64 KB)
HANG = 600.0  # seconds: a hang's bound only, never reached by a process that does its work
# How long processes sent SIGKILL may take to be gone: a bound that only catches their living on.
GONE = 120.0


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
    """What killed writers left in ``DATA/opendata`` (partial files of any age, links named as
    partial files, in any method version's folder) is removed by the next build, once it holds
    the month files' lock, links unfollowed; a folder so named is walked, not removed (before:
    the build failed, IsADirectoryError, a traceback; and an older version's were kept)."""
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
    older = home / "opendata" / "v0.9" / OBSERVATIONS / ".observations-2020-01.csv.gz.partial"
    older.parent.mkdir(parents=True)
    older.write_text("an older version's, half written")
    done = _build(home, tmp_path / "second")
    assert done.returncode == 0, done.stderr
    assert not left.exists() and not (named / ".inside.partial").exists()
    assert not older.exists()
    assert named.is_dir()
    assert not link.is_symlink() and (outside / "precious").read_text() == "keep me"
    assert theirs.read_text() == "not ours"


@contextlib.contextmanager
def _blocking_partial(home: Path) -> Iterator[int]:
    """The latest month's plain CSV to be written into a FIFO (made where its partial file goes):
    its writer opens it, writes 64 KB and blocks, until this side reads. Yields the FIFO's
    reading end (held open: a writer neither blocks opening it nor gets EPIPE)."""
    folder = _observations(home)
    folder.mkdir(parents=True)
    fifo = folder / f".{month_file(LATEST, 'csv')}.partial"
    os.mkfifo(fifo)
    end = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        yield end
    finally:
        os.close(end)
        fifo.unlink(missing_ok=True)


def _started(build: subprocess.Popen[Any], end: int) -> None:
    """Wait until a writer of ``build`` writes into the FIFO ``end`` reads, or the build ends."""
    ended = os.pidfd_open(build.pid)
    try:
        waiting = select.poll()
        waiting.register(end, select.POLLIN)
        waiting.register(ended, select.POLLIN)
        ready = dict(waiting.poll(HANG * 1000))
    finally:
        os.close(ended)
    assert end in ready, f"the build ended before writing the month: {build.communicate()}"


def _writing(home: Path, out: Path, end: int) -> subprocess.Popen[bytes]:
    """A ``guichets site build`` of ``home`` into ``out``, once a writer of it writes into the
    FIFO ``end`` reads (:func:`_blocking_partial`)."""
    build = subprocess.Popen(
        [*GUICHETS, "site", "build", "--home", str(home), "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _started(build, end)
    return build


def _exported(home: Path, tmp_path: Path) -> bytes:
    """The latest month's probes as ``guichets export observations`` writes them (plain CSV)."""
    exported = tmp_path / "exported.csv"
    subprocess.run(
        [*GUICHETS, "export", "observations", "--home", str(home), "--month", LATEST,
         "--format", "csv", "-o", str(exported)],
        capture_output=True, check=True, timeout=HANG,
    )  # fmt: skip
    return exported.read_bytes()


def _writers_gone(end: int, timeout: float) -> bool:
    """Whether every writer of the FIFO ``end`` reads closed it (their processes gone), within
    ``timeout``: POLLHUP, never reported while one holds it (nothing is read meanwhile)."""
    waiting = select.poll()
    waiting.register(end, 0)  # POLLHUP alone
    return bool(waiting.poll(timeout * 1000))


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="a process's end waited by pidfd")
def test_a_killed_build_s_month_writers_end_with_it(home: Path, tmp_path: Path) -> None:
    """A build killed (SIGKILL: nothing of it runs) while its month files' process has a worker
    writing a month: the writer ends with it, its partial file not renamed into place (before:
    the month files' process and its workers went on, writing ``DATA/opendata`` under the very
    names the next build writes, and they were found alive after two minutes). The next build
    then writes the month whole."""
    with _blocking_partial(home) as end:
        build = _writing(home, tmp_path / "site", end)
        build.kill()
        build.wait()
        assert _writers_gone(end, GONE), "the killed build's month writer lives on"
        fifo = _observations(home) / f".{month_file(LATEST, 'csv')}.partial"
        assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # never renamed into place
        assert not (_observations(home) / month_file(LATEST, "csv")).exists()
    done = _build(home, tmp_path / "site")
    assert done.returncode == 0, done.stderr
    written = _observations(home) / month_file(LATEST, "csv")
    assert written.read_bytes() == _exported(home, tmp_path)


def test_two_builds_of_one_data_directory_write_its_month_files_in_turn(
    home: Path, tmp_path: Path
) -> None:
    """Two builds of one data directory into two sites at once (each site's lock is its
    ``--out``'s): the second waits for the first's month files, saying so and naming it, until
    the first and every process writing them are gone (here the first is killed while a worker
    of it writes a month), then writes them whole (before: both wrote ``DATA/opendata`` at once,
    under the same partial names: one could rename the other's half-written file into place)."""
    with _blocking_partial(home) as end:
        first = _writing(home, tmp_path / "a", end)
        # The name goes (the first's writer keeps writing what it opened): a second writer
        # would make a partial file of its own, not block on this one.
        (_observations(home) / f".{month_file(LATEST, 'csv')}.partial").unlink()
        second = subprocess.Popen(
            [*GUICHETS, "site", "build", "--home", str(home), "--out", str(tmp_path / "b"),
             "--wait", f"{HANG:.0f}s"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert second.stderr is not None
        said = ""
        while line := second.stderr.readline():  # what it says first (wrapped), if anything
            said += line
            if line.rstrip().endswith(")"):
                break
        said = " ".join(said.split())
        first.kill()
        first.wait()
        _, err = second.communicate(timeout=HANG)
    assert said.startswith(
        f"waiting up to {HANG:.0f} s for another build writing the open data's month files of "
        f"{home / 'opendata'} (guichets site build pid {first.pid} on host"
    ), (said, err)
    assert second.returncode == 0, err
    published = data_folder(tmp_path / "b") / OBSERVATIONS
    assert (published / month_file(LATEST, "csv")).read_bytes() == _exported(home, tmp_path)


def test_a_build_that_cannot_fork_writes_its_months_when_asked_under_the_lock(
    home: Path, tmp_path: Path
) -> None:
    """One worker (one CPU): the month files are written in the build's process when they are
    first asked for, with the fingerprints given by then, holding the month files' lock from
    the start until they are written; the same months as a forked writer's."""
    with Store.open(None, home=home) as store:
        months = start_open_data(store, home, workers=1)
        assert months is not None and not months.busy()
        with pytest.raises(MonthsBusy, match="being written by another build"):
            hold_months(kept_data(home) or tmp_path)
        months.remember(None)
        found, written = months.result()
        assert [m.label for m in found] == ["2026-10", LATEST] and written == 5
        assert months.result() == (found, written)  # the same again, nothing written twice
        hold_months(kept_data(home) or tmp_path).close()  # free once written
        forked = start_open_data(store, home, workers=2)
        assert forked is not None
        assert forked.result() == (found, 0)


def test_a_build_that_fails_after_waiting_for_its_pages_keeps_no_page_digest(
    home: Path, tmp_path: Path
) -> None:
    """A rebuild whose closed months' pages are to be rendered again (their frozen copies gone)
    forks their release analyses' workers after waiting for the pages' (``PagesUnderWay``), then
    fails (its month files' writer cannot write the latest month): the site stays as it was, and
    so do the pages' digests. Before, they were kept at that wait, mid-build: the next build
    took the pages of the site left as it was for pages made from the new figures, and
    published them unchanged."""
    out = tmp_path / "site"
    assert _build(home, out).returncode == 0
    digests = home / "cache" / "site" / pages_work.CACHE_FILE
    kept = digests.read_bytes()
    with Store.open(home=home) as store:  # a probe as a run saves it: every page's key moves
        service = store.services()[0]
        last = list(store.observations(service=service))[-1]
        later = timedelta(minutes=7)
        store.save(replace(last, probe_id=last.probe_id[:-4] + "late", trail=(),
                           started_at=last.started_at + later,
                           finished_at=last.finished_at + later))  # fmt: skip
    for frozen in (out / ARCHIVE_DIR, out / "en" / ARCHIVE_DIR, home / "archive"):
        shutil.rmtree(frozen)  # the closed months' pages: rendered again, analyses forked
    # Where the writer of the latest month's CSV makes its partial file: a folder (left as it
    # is), which it cannot open: the month files' process fails, and the build with it.
    (_observations(home) / f".{month_file(LATEST, 'csv')}.partial").mkdir()
    published = sorted(p.relative_to(out) for p in out.rglob("*"))
    failed = _build(home, out)
    assert failed.returncode == 1, failed.stderr
    assert "month files failed" in failed.stderr
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == published
    assert digests.read_bytes() == kept
