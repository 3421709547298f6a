"""Putting a built site in place at once: built beside ``--out``, then swapped in.

A build killed halfway must not leave half a site where people read it, and a link planted in
``--out`` must not make the build write or delete anywhere else. So the build works in a staging
folder next to ``--out`` (same file system): it starts as a hard-linked copy of the current site
(cheap, and what lets a rebuild rewrite only what changed; every writer replaces a file by a new
one, never writes into an existing one, so the live site is never touched through a link), then
the two folders are exchanged in one ``renameat2(RENAME_EXCHANGE)`` where Linux offers it, else
by two renames a moment apart. Symbolic links, sockets and leftovers of killed builds in the old
site are not carried over.

The old site is left beside ``--out`` (under the staging folder's name) and removed by the next
build, in a forked child while that build renders, without following links: its pages replaced
by this build (every service page after a run) hold their last link there, and freeing files
written back to disk an hour earlier waits on the disk, not the CPU (about 2.5 ms a file on a
virtual disk mounted with ``discard``: 1 s for the 400 pages of 100 services), which the build's
own process then spends rendering instead of waiting. Between two builds the disk holds the old
versions of the files the last one replaced.

Removing the leftovers beside ``--out`` would remove another build's staging folder while it
works, so one build of a site at a time: a build holds an exclusive lock on ``.<out name>.lock``
beside ``--out`` from before its leftovers are looked for until its swap is done
(:func:`site_lock`, the run lock's ``flock``: dropped by the kernel when the process ends, however
it ends). A second build of the same site waits for it up to the time it is given (``guichets
site build --wait``), then fails with :class:`SiteBusy`, naming the holder and the lock.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from guichets import forks
from guichets.runlock import file_lock

__all__ = [
    "LOCK_SUFFIX",
    "STAGING_MARK",
    "SiteBusy",
    "SiteLock",
    "lock_path",
    "site_lock",
    "staged_site",
]

STAGING_MARK = ".building-"
"""Middle of the staging folder's name: ``.<out name>.building-<pid>`` beside ``--out``."""

LOCK_SUFFIX: Final = ".lock"
"""End of the lock file's name: ``.<out name>.lock`` beside ``--out``."""
_BUILD: Final = "guichets site build"  # the lock's holder, as the lock file names it

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name, use_errno=True)
    except OSError:
        return None


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically; False when the system cannot (then the caller renames)."""
    libc = _libc()
    function = getattr(libc, "renameat2", None) if libc is not None else None
    if function is None:
        return False
    result = function(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(a))


def _clone(source: Path, target: Path) -> None:
    """Hard-link every regular file of ``source`` into ``target`` (a copy where links fail);
    directories are made anew; symbolic links and leftovers are not carried over."""
    target.mkdir()
    with os.scandir(source) as entries:
        for entry in entries:
            if entry.is_symlink() or entry.name.endswith(".partial"):
                continue
            place = target / entry.name
            if entry.is_dir(follow_symlinks=False):
                _clone(Path(entry.path), place)
            elif entry.is_file(follow_symlinks=False):
                try:
                    os.link(entry.path, place, follow_symlinks=False)
                except OSError:
                    shutil.copy2(entry.path, place, follow_symlinks=False)


def _remove(path: Path) -> None:
    """Remove a folder we made or moved aside; a link is unlinked, never followed."""
    if path.is_symlink() or not path.is_dir():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    shutil.rmtree(path, ignore_errors=True)


def _leftovers(out: Path) -> Callable[[], None]:
    """Remove the folders earlier builds of this site left beside it (named by us: the old site
    the last build swapped out, staging folders of killed builds) in a forked child, while the
    build goes on; returns the wait for it. Without ``fork``, removed here and now."""
    # Named after ``out`` literally (not a glob of it, which would read ``[``, ``*`` or ``?`` in
    # its name as patterns and take other folders beside it for ours).
    prefix = f".{out.name}{STAGING_MARK}"
    with os.scandir(out.parent) as entries:
        found = [Path(entry.path) for entry in entries if entry.name.startswith(prefix)]
    if not found:
        return lambda: None
    if not hasattr(os, "fork"):
        for path in found:
            _remove(path)
        return lambda: None
    # A child of ours (``forks.ours``): a Ctrl-C (sent to the whole process group) or a stop that
    # reached a child with the parent's handlers would raise there, up the build's own stack,
    # and run a second copy of the build's error handlers (the month files' writer stopped,
    # connections closed, output flushed twice); it takes them at their default (it dies: the
    # next build removes what is left), and ends with the build.
    with forks.ours():
        child = os.fork()
    if child == 0:  # only unlinks: nothing of the parent's (connections, buffers) is touched
        try:
            for path in found:
                _remove(path)
        finally:
            os._exit(0)
    return lambda: _reap(child)


def _reap(child: int) -> None:
    os.waitpid(child, 0)


class SiteBusy(Exception):
    """Another build of the same site holds its lock; the message names it and the lock."""


@dataclass(frozen=True)
class SiteLock:
    """A site's lock, held by this process (:func:`site_lock`) for a build into ``out``."""

    out: Path


def _real(out: Path) -> Path:
    """A link named as --out is the operator's choice: the site is built where it points."""
    return out.resolve() if out.is_symlink() else out


def lock_path(out: Path) -> Path:
    """The lock file of the site ``out``: beside it, hidden, named after it."""
    out = _real(out)
    return out.parent / f".{out.name}{LOCK_SUFFIX}"


@contextlib.contextmanager
def site_lock(
    out: Path, *, wait: float = 0.0, waiting: Callable[[str], None] | None = None
) -> Iterator[SiteLock]:
    """Hold the site ``out``'s build lock for the block; when another build holds it,
    ``waiting`` is told once and the lock waited for up to ``wait`` seconds, then SiteBusy."""
    out = _real(out)
    path = lock_path(out)

    def busy(who: str) -> Exception:
        return SiteBusy(
            f"another build of the site {out} is under way ({who}); one build of a site at a "
            f"time. Build again when it ends, or wait for it longer (guichets site build --wait); "
            f"the lock is {path}, released when that process ends"
        )

    def told(who: str) -> None:
        if waiting is not None:
            waiting(f"waiting up to {wait:.0f} s for another build of the site {out} ({who})")

    with file_lock(path, _BUILD, busy, wait=wait, waiting=told):
        yield SiteLock(out)


@contextlib.contextmanager
def staged_site(out: Path, held: SiteLock | None = None) -> Iterator[Path]:
    """Yield a staging folder holding the current site; when the block ends without error, the
    staging folder becomes ``out`` at once. On error, ``out`` is left as it was. The site's lock
    is taken for it (SiteBusy at once when another build holds it) unless ``held`` (taken by
    the caller for the whole build: :func:`site_lock`)."""
    out = _real(out)
    if held is None:
        with site_lock(out) as taken, staged_site(out, taken) as work:
            yield work
        return
    if held.out != out:
        raise ValueError(f"the lock held is {held.out}'s, not {out}'s")
    out.parent.mkdir(parents=True, exist_ok=True)
    removed = _leftovers(out)
    # A name no leftover being removed can have, even with this process's id reused.
    work = out.parent / f".{out.name}{STAGING_MARK}{os.getpid()}-{secrets.token_hex(4)}"
    try:
        if out.is_dir():
            _clone(out, work)
        else:
            work.mkdir()
        yield work
        if not out.exists():
            os.rename(work, out)
        elif not _exchange(work, out):
            aside = work.with_name(f"{work.name}-old")
            os.rename(out, aside)
            os.rename(work, out)
        # else work now holds the old site: left for the next build to remove (_leftovers)
    except BaseException:
        _remove(work)
        raise
    finally:
        removed()
