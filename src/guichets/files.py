"""Files written whole or not at all: one way for every writer of the project.

A file is written under a hidden partial name in its own folder (``.NAME.partial``), then renamed
into place: a reader never sees half a file, and a crash or a full disk leaves at most a partial
file that the next writer overwrites (``site/publish.py`` and the open data skip them). With
``durable=True`` the data and the rename are also flushed to disk (``fsync``), for the evidence;
the site and caches skip that cost, since they are rebuilt from the database.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Final, Literal, overload

__all__ = [
    "atomic_file",
    "copy_atomic",
    "fsync_dir",
    "link_atomic",
    "partial_path",
    "read_kept",
    "remove_stale_partials",
    "write_atomic",
    "write_kept",
]

log = logging.getLogger(__name__)


def partial_path(path: Path) -> Path:
    """Where ``path`` is written before it is renamed into place."""
    return path.with_name(f".{path.name}.partial")


# A partial file last written longer ago than this is no writer's: every writer of a cache
# creates its partial anew (mtime: now) and renames it as soon as it is written, in seconds
# (``link_atomic``'s partial, a hard link keeping its source's times, is never made in a cache).
STALE_PARTIAL: Final = 3600.0


def _is_partial(name: str) -> bool:
    """Whether ``name`` is one :func:`partial_path` gives."""
    return name.startswith(".") and name.endswith(".partial") and len(name) > len("..partial")


def remove_stale_partials(folder: Path, *, older_than: float | None = STALE_PARTIAL) -> int:
    """Remove the partial files a killed writer left in ``folder`` and its folders (a folder of
    ours: the cache, the open data's month files): regular files named as :func:`partial_path`
    names them, last written more than ``older_than`` seconds ago; a fresh one may be another
    process's, at work. ``older_than=None``: whatever their age, and the links named so too
    (removed, never followed: a writer opening the name would follow one), for a folder whose
    every writer holds a lock that the caller holds (``DATA/opendata``). Otherwise links are
    neither removed nor followed. Linked folders are never walked, folders never removed, nor
    anything else (a FIFO, a socket); what cannot be looked at or removed is left. Returns how
    many were removed."""
    before = None if older_than is None else time.time() - older_than
    return _remove_partials(folder, before)


def _remove_partials(folder: Path, before: float | None) -> int:
    removed = 0
    try:
        with os.scandir(folder) as scan:
            entries = list(scan)
    except OSError:  # no such folder (no build kept anything yet), or not readable
        return 0
    for entry in entries:
        with contextlib.suppress(OSError):  # gone meanwhile, say
            if entry.is_dir(follow_symlinks=False):
                removed += _remove_partials(Path(entry.path), before)
            elif _is_partial(entry.name) and _left(entry, before):
                os.unlink(entry.path)
                removed += 1
    return removed


def _left(entry: os.DirEntry[str], before: float | None) -> bool:
    """Whether ``entry`` (named as a partial file) is one a writer left (see
    :func:`remove_stale_partials`)."""
    if entry.is_symlink():
        return before is None
    if not entry.is_file(follow_symlinks=False):
        return False  # a FIFO, a socket: not what a writer of ours makes
    return before is None or entry.stat(follow_symlinks=False).st_mtime < before


def fsync_dir(folder: Path) -> None:
    """Make a file's creation, rename or removal in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@overload
def atomic_file(
    path: Path, mode: Literal["wb"] = "wb", *, durable: bool = False, permissions: int = 0o666
) -> contextlib.AbstractContextManager[IO[bytes]]: ...
@overload
def atomic_file(
    path: Path, mode: Literal["w"], *, durable: bool = False, permissions: int = 0o666
) -> contextlib.AbstractContextManager[IO[str]]: ...
def atomic_file(
    path: Path, mode: str = "wb", *, durable: bool = False, permissions: int = 0o666
) -> contextlib.AbstractContextManager[IO[Any]]:
    """``with atomic_file(path) as out:`` writes ``out`` into ``path`` when the block ends
    without error, and leaves nothing behind otherwise. Text mode is UTF-8 with the newlines
    written as given; ``permissions`` applies to a new file (``0o600`` for secrets)."""
    return _atomic(path, mode, durable, permissions)


@contextlib.contextmanager
def _into_place(path: Path, *, durable: bool = False) -> Iterator[Path]:
    """The one shape of every writer here: yields ``path``'s partial name to be filled; when the
    block ends without error, renames it into place (with ``durable``, the rename flushed);
    on any error, removes it and lets the error go on."""
    partial = partial_path(path)
    try:
        yield partial
        os.replace(partial, path)
        if durable:
            fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise


@contextlib.contextmanager
def _atomic(path: Path, mode: str, durable: bool, permissions: int) -> Iterator[IO[Any]]:
    with _into_place(path, durable=durable) as partial:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, permissions)
        opened: IO[Any] = (
            os.fdopen(fd, "wb") if "b" in mode else os.fdopen(fd, "w", encoding="utf-8", newline="")
        )
        with opened as out:
            yield out
            out.flush()
            if durable:
                os.fsync(out.fileno())


def write_atomic(path: Path, data: bytes, *, durable: bool = False) -> None:
    """``path`` holds ``data``, whole, or keeps what it held."""
    with atomic_file(path, durable=durable) as out:
        out.write(data)


def copy_atomic(source: Path, path: Path) -> None:
    """A copy of ``source`` at ``path``, as a new file: never written through an existing one
    (it may be a hard link shared with a published site)."""
    with _into_place(path) as partial:
        shutil.copyfile(source, partial)


def link_atomic(source: Path, path: Path) -> None:
    """``path`` becomes the file ``source`` in one rename: a hard link, or a copy keeping its
    times when linking fails (e.g. across file systems)."""
    with _into_place(path) as partial:
        partial.unlink(missing_ok=True)
        try:
            os.link(source, partial)
        except OSError:
            shutil.copy2(source, partial)


# What a cache file may hold that is not (stamp, value) as ``write_kept`` wrote it: missing or
# not readable (a folder in its place, a folder of the path a file, no permission: OSError), cut,
# written by an older code (a class moved or gone), or not a pair.
_UNREADABLE = (
    OSError,
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    AttributeError,
    ImportError,
    IndexError,
)
UNREADABLE = _UNREADABLE  # for a cache file read otherwise than by ``read_kept``


def read_kept(path: Path, stamp: object) -> Any:
    """The value ``write_kept`` kept at ``path`` under ``stamp``, or None: a cache is only a
    cache, so a missing, unreadable or differently stamped file reads as nothing kept and its
    value is computed again. The stamp says what the value was made from (a format number, the
    code's digest, a fingerprint of the data); one reader for every cache of the data directory
    (``DATA/cache/``), which is ours, written by ``write_kept`` (pickle is not for files of
    others)."""
    try:
        kept, value = pickle.loads(path.read_bytes())
    except _UNREADABLE:
        return None
    return value if kept == stamp else None


def write_kept(path: Path, stamp: object, value: object) -> bool:
    """Keep ``value`` at ``path`` under ``stamp`` (written whole or not at all, folder made);
    whether it was kept. A cache is only a cache: a file that cannot be written there (a
    read-only folder, a folder in its place, a full disk) is a warning in the log and the work
    done again next time, never a failure of what it would have saved time for."""
    data = pickle.dumps((stamp, value), protocol=pickle.HIGHEST_PROTOCOL)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
    except OSError as exc:
        log.warning("not kept in the cache (done again next time): %s", exc)
        return False
    return True
