"""Where the evidence lives in a data directory, and the lock that marks a file being written.

    HOME/evidence/warc/        the WARC files (one gzip member per record)
    HOME/evidence/warc/workers/<worker>/  each worker's own files (``guichets worker``), HOME
                               being then a root shared by every machine
    HOME/evidence/orphans/     bytes moved aside after a crash: records of probes never stored
    HOME/evidence/screenshots/ screenshots taken at probe time (--screenshots)

A writer holds an exclusive ``flock`` on its open file for as long as it writes it, so recovery,
verification and retention can tell a live file from one a killed run left behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from guichets import datadir
from guichets.files import fsync_dir

__all__ = [
    "evidence_dir",
    "fsync_dir",
    "in_scope",
    "locked",
    "orphans_dir",
    "screenshots_dir",
    "try_lock",
    "warc_dir",
    "warc_files",
    "worker_prefix",
]

WARC_SUFFIX = ".warc.gz"


def evidence_dir(home: Path) -> Path:
    return datadir.evidence(home)


def warc_dir(home: Path) -> Path:
    return evidence_dir(home) / "warc"


WORKERS = "workers"  # HOME/evidence/warc/workers/<worker>/: each worker's own files


def worker_prefix(worker: str | None) -> str:
    """How the names of a worker's files begin in ``evidence_files`` (relative to the WARC
    folder): ``workers/<worker>/``; empty for ``guichets run``'s files at the top."""
    return "" if worker is None else f"{WORKERS}/{worker}/"


def in_scope(name: str, prefix: str) -> bool:
    """Whether file ``name`` belongs to the writer whose names begin with ``prefix``."""
    return name.startswith(prefix) and "/" not in name[len(prefix) :]


def warc_files(home: Path) -> list[tuple[str, Path]]:
    """Every WARC file under the WARC folder, a worker's included, by its stored name."""
    folder = warc_dir(home)
    if not folder.is_dir():
        return []
    found = [(p.name, p) for p in folder.glob(f"*{WARC_SUFFIX}")]
    found += [
        (f"{WORKERS}/{p.parent.name}/{p.name}", p)
        for p in folder.glob(f"{WORKERS}/*/*{WARC_SUFFIX}")
    ]
    return sorted(found)


def orphans_dir(home: Path) -> Path:
    return evidence_dir(home) / "orphans"


def screenshots_dir(home: Path) -> Path:
    return evidence_dir(home) / "screenshots"


def try_lock(fd: int) -> bool:
    """Take the exclusive lock of an open file without waiting; False if a writer holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextlib.contextmanager
def locked(path: Path) -> Iterator[int | None]:
    """The file open for reading and writing under its lock, or None if a live writer holds it."""
    fd = os.open(path, os.O_RDWR)
    try:
        if not try_lock(fd):
            yield None
            return
        yield fd
    finally:
        os.close(fd)  # closing releases the lock


def is_live(path: Path) -> bool:
    """Whether a writer holds the file's lock right now."""
    with locked(path) as fd:
        return fd is None


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte is written."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
