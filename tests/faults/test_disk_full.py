"""A full disk: ``guichets run`` stops with one line naming the WARC file it could not write,
leaves nothing half-written (``evidence verify`` passes afterwards), and ``evidence recover`` on
a full disk says what it could not do, creates no empty file and crashes on nothing.

Each test runs on two disks. ``tmpfs``: a real small file system of a few hundred kilobytes,
mounted for the test (root only; make test runs as root), skipped, saying so, where mounting is
not allowed. ``simulated``: the same size of disk in a folder, the command run through
``tests/faults/fulldisk.py``, which makes every write of the process under that folder fail with
``ENOSPC`` once the folder's files would outgrow the size (no root needed; it always runs). The
assertions are the same.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from guichets.catalogue import catalogue_to_toml
from guichets.evidence import layout
from guichets.evidence.verify import verify
from guichets.runlock import LOCK_FILE
from guichets.store import Store
from guichets.usecases.demo import simulated_catalogue
from tests.evidence_support import raw_sql
from tests.faults import fulldisk
from tests.simthread import SimulatorThread

ENV = dict(os.environ, COLUMNS="300", NO_COLOR="1")
HUNG = 600.0  # only a hung process reaches this
KINDS = ("tmpfs", "simulated")


@dataclass
class Disk:
    """A small disk at ``folder``: how to run guichets on it and how to fill it."""

    kind: str
    folder: Path
    size: int

    def command(self, *args: str) -> list[str]:
        if self.kind == "tmpfs":
            return [sys.executable, "-m", "guichets", *args]
        helper = Path(fulldisk.__file__)
        return [sys.executable, str(helper), "--root", str(self.folder), "--size",
                str(self.size), "--", *args]  # fmt: skip

    def fill(self) -> Path:
        """Fill the disk to the last byte."""
        if self.kind == "simulated":
            return fulldisk.fill(self.folder, self.size)
        return _fill(self.folder)


def _disk(kind: str, folder: Path, size: int) -> Disk:
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "tmpfs":
        _mount(folder, size)
    return Disk(kind, folder, size)


def _mount(folder: Path, size: int) -> None:
    if os.geteuid() != 0:
        pytest.skip("a small tmpfs needs root to mount (make test runs as root); "
                    "the simulated disk runs the same test")  # fmt: skip
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size // 1024}k", "tmpfs", str(folder)],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}; "
                    "the simulated disk runs the same test")  # fmt: skip


def _unmount(disk: Disk) -> None:
    if disk.kind == "tmpfs":
        subprocess.run(["umount", "-l", str(disk.folder)], check=False)


@pytest.fixture(params=KINDS)
def small_disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Disk]:
    """A 384 KB disk: a few probes' WARC records fill it."""
    disk = _disk(request.param, tmp_path / "small", 384 * 1024)
    try:
        yield disk
    finally:
        _unmount(disk)


@pytest.fixture(scope="module")
def live() -> Iterator[SimulatorThread]:
    with SimulatorThread("france-demo", hosts="loopback", system_clock=True) as sim:
        yield sim


def _fill(folder: Path) -> Path:
    """Fill the file system to the last byte."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as error:
                assert error.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def _empty_files(folder: Path) -> list[Path]:
    """Empty files, but the run lock (empty when no run holds it: runlock.py)."""
    return [
        p
        for p in folder.rglob("*")
        if p.is_file() and p.stat().st_size == 0 and p.name != LOCK_FILE
    ]


def test_run_on_a_full_disk_says_where_and_leaves_nothing_half_written(
    live: SimulatorThread, small_disk: Disk, tmp_path: Path
) -> None:
    """The evidence on a disk that fills during the run: exit 1, one line naming the WARC file
    and the lack of space, no traceback; the probes stored before verify intact, and the file
    holds exactly their records (no half record after them)."""
    database = tmp_path / "db" / "guichets.sqlite"
    database.parent.mkdir()
    catalogue = tmp_path / "catalogue.toml"
    catalogue.write_text(catalogue_to_toml(simulated_catalogue(live.sim, "1d")), "utf-8")
    home = small_disk.folder / "data"
    done = subprocess.run(
        small_disk.command("run", "--catalogue", str(catalogue), "--home", str(home),
         "--db", f"sqlite:///{database}", "--once", "--gap", "0", "--concurrency", "1"),
        capture_output=True, text=True, env=ENV, timeout=HUNG,
    )  # fmt: skip
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    said = " ".join(done.stderr.split())
    assert "error: no space left to write" in said and str(layout.warc_dir(home)) in said, said
    with Store.open(f"sqlite:///{database}") as store:
        stored = store.count()
        files = store.evidence_files()
        result = verify(home, store)
    assert stored >= 1 and files
    assert result.intact, [str(p) for p in result.problems]
    assert not _empty_files(small_disk.folder)


@pytest.fixture(params=KINDS)
def disk_for_a_warc(
    request: pytest.FixtureRequest, demo_home: Path, tmp_path: Path
) -> Iterator[Disk]:
    """A disk just larger than the demo's smallest WARC file."""
    size = min(p.stat().st_size for p in layout.warc_dir(demo_home).iterdir())
    disk = _disk(request.param, tmp_path / "small", (size // 1024 + 256) * 1024)
    try:
        yield disk
    finally:
        _unmount(disk)


def test_recover_on_a_full_disk_does_not_crash_nor_leave_empty_files(
    demo_home: Path, disk_for_a_warc: Disk, tmp_path: Path
) -> None:
    """A killed run's tail to move aside while the disk is full: recover exits 1 saying it could
    not write in orphans/ (path and reason), leaves no 0-byte file and the WARC file as it was;
    once space is back, the same command moves the tail and exits 0."""
    disk = disk_for_a_warc
    home = disk.folder / "data"
    database = tmp_path / "guichets.sqlite"
    shutil.copyfile(demo_home / "guichets.sqlite", database)
    warc = layout.warc_dir(demo_home)
    name = min(warc.iterdir(), key=lambda p: p.stat().st_size).name
    layout.warc_dir(home).mkdir(parents=True)
    shutil.copyfile(warc / name, layout.warc_dir(home) / name)
    with (layout.warc_dir(home) / name).open("ab") as out:
        out.write(b"the records of a probe a killed run never stored" * 200)
    raw_sql(tmp_path, f"UPDATE evidence_files SET closed_at = NULL WHERE name = '{name}'")
    before = (layout.warc_dir(home) / name).read_bytes()
    filler = disk.fill()
    command = disk.command("evidence", "recover", "--home", str(home), "--db",
                           f"sqlite:///{database}")  # fmt: skip
    full = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=HUNG)
    assert full.returncode == 1, (full.stdout, full.stderr)
    assert "Traceback" not in full.stderr
    said = " ".join(full.stdout.split())
    assert "not done: no space left to write" in said and "orphans" in said, said
    assert not _empty_files(disk.folder)
    assert (layout.warc_dir(home) / name).read_bytes() == before
    filler.unlink()
    again = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=HUNG)
    assert again.returncode == 0, (again.stdout, again.stderr)
    assert "moved 9600 bytes of unstored records" in again.stdout
