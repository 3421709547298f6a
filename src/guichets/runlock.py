"""One ``guichets run`` per data directory, and per PostgreSQL database.

Two runs on the same data would probe every service twice (wasted requests, two requests at once
to one host: against the politeness promise), and only the store's uniqueness would keep the data
clean. So a run takes, before anything else:

- an exclusive ``flock`` on ``HOME/run.lock``, a file that says who holds it (pid, host, start
  time). The kernel drops the lock when the process ends, however it ends (a SIGKILL included),
  so a lock is never stale; the file's text only names the holder;
- with PostgreSQL, a session advisory lock on a connection held for the whole run, whose
  ``application_name`` names the holder the same way (other machines can run on one database).

A second run exits at once with a message naming the first. The file's lock (:func:`file_lock`)
is also the one a site's build takes beside its folder (``site/publish.py``).

After a lost PostgreSQL connection the advisory lock goes with it (the data-directory lock stays),
and a second run on another machine could start: so a run asks :meth:`RunLock.check` before each
save and at each heartbeat. A lock found gone is taken again when it is free (the run goes on,
and says so in its log); when another run took it meanwhile, the run stops with one line naming
it, never probing unlocked. When the lock's session answers with an error that is not a lost
connection, whether the lock is held cannot be told: that is not taken for "not held" (taking it
again would first let go of it, for a second run to take); the run stops with one line saying so
(:class:`LockUnknown`). The advisory lock's SQL is in :mod:`guichets.store.advisory`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import socket
import stat
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from guichets.store import Store, StoreError
from guichets.store.advisory import AdvisoryLock, LockUnknown

__all__ = [
    "LOCK_FILE",
    "AlreadyRunning",
    "HeldLock",
    "LockLost",
    "LockRefused",
    "LockUnknown",
    "RunLock",
    "file_lock",
    "held_lock",
    "run_lock",
]

log = logging.getLogger(__name__)

LOCK_FILE: Final = "run.lock"

_APPLICATION: Final = "guichets run"
POLL_SECONDS: Final = 0.25  # how often a lock waited for is tried again (file_lock)


class AlreadyRunning(Exception):
    """Another run holds the data directory or the database; the message names it."""


class LockRefused(Exception):
    """A lock file that is not one: a symbolic link (whoever may write beside a site could point
    it at any file, for the lock's text to be written into) or not a regular file."""


class LockLost(StoreError):
    """The run's database lock went with its connection and another run holds it now: the run
    stops (a StoreError, so that the command says it in one line and exits 1)."""


class RunLock:
    """What a run holds; :meth:`check` before each save and at each heartbeat."""

    def __init__(self, database: AdvisoryLock | None = None) -> None:
        self.database = database
        self.retaken = 0  # times the database lock was found gone and taken again

    def check(self) -> None:
        """Nothing while the run holds its locks. A database lock lost with its connection is
        taken again if free; LockLost if another run took it; StoreError (a connection loss,
        to be waited out) while the database cannot be reached; LockUnknown (a StoreError that
        is not a connection loss: the run stops) when the lock's session could not tell whether
        it still holds it — the lock is then neither taken again nor let go."""
        lock = self.database
        if lock is None or lock.held():
            return
        who = lock.take()
        if who is None:
            self.retaken += 1
            log.warning(
                "the run lock on %s was lost with its connection; taken again", lock.store.url
            )
            return
        raise LockLost(
            f"the run lock on {lock.store.url} was lost with its connection and "
            f"{who or 'another guichets run'} holds it "
            "now: this run stops, so that two runs never probe at once"
        )


def _holder_text() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _describe(holder: dict[str, Any] | None, command: str) -> str:
    if not holder:
        return f"another {command} (it did not say who it is)"
    return (
        f"{holder.get('command', command)} pid {holder.get('pid', '?')} on host "
        f"{holder.get('host', '?')}, started {holder.get('started', '?')}"
    )


def _read_holder(handle: Any) -> dict[str, Any] | None:
    try:
        handle.seek(0)
        value = json.loads(handle.read(4096) or "null")
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


# The descriptors of the locks this process takes or holds (file_lock): see _forked.
_HELD: set[int] = set()


def _forked() -> None:
    """In a child forked while a lock is held (a build's workers, its month files' process):
    its copy of the lock's descriptor is replaced by one of /dev/null (the same number, for the
    copy of the parent's objects it has), so that the lock ends with the process that took it.
    Otherwise a child left running when its parent was killed holds it (for ever when it hangs,
    as pool workers whose parent is gone can), and every later build is refused, naming a
    process that is gone."""
    if not _HELD:
        return
    null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    try:
        for fd in _HELD:
            with contextlib.suppress(OSError):
                os.dup2(null, fd, inheritable=False)
    finally:
        os.close(null)
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)


# Never through a link (O_NOFOLLOW), never blocked by a FIFO (O_NONBLOCK: no effect on a file).
_OPEN: Final = os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK


def _open(path: Path) -> tuple[int, str]:
    """The lock file's descriptor and mode; LockRefused when it is not a regular file (a link,
    a FIFO, a folder), which is never written, nor anything it points at."""
    try:
        try:
            fd, mode = os.open(path, os.O_RDWR | os.O_CREAT | _OPEN, 0o644), "r+"
        except PermissionError:  # another user's lock file (a service's): a lock needs no writing
            fd, mode = os.open(path, os.O_RDONLY | _OPEN), "r"
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
            raise
        fd, mode = -1, ""
    if fd >= 0 and stat.S_ISREG(os.fstat(fd).st_mode):
        return fd, mode
    if fd >= 0:
        os.close(fd)
    kind = "a symbolic link" if path.is_symlink() else "not a regular file"
    raise LockRefused(
        f"the lock file {path} is {kind}: refused (a lock file is never followed nor written "
        "elsewhere). Remove it if you did not make it, and look at who may write in its folder"
    )


def _take(
    path: Path,
    command: str,
    busy: Callable[[str], Exception],
    wait: float,
    waiting: Callable[[str], None] | None,
    inherited: bool,
) -> Any:
    """The file ``path`` opened and locked (see :func:`file_lock`), its text naming this process
    as ``command``; unless ``inherited``, in :data:`_HELD` from its opening (see :func:`_forked`:
    the caller discards it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, mode = _open(path)
    handle = os.fdopen(fd, mode, encoding="utf-8")
    if not inherited:
        _HELD.add(fd)
    try:
        deadline = time.monotonic() + wait
        told = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                who = _describe(_read_holder(handle), command)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise busy(who) from None
                if waiting is not None and not told:
                    waiting(who)
                    told = True
                time.sleep(min(POLL_SECONDS, left))
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps({"command": command, **_holder_text()}) + "\n")
            handle.flush()
        except OSError:
            pass  # the lock holds; only the holder's description could not be written
    except BaseException:
        _HELD.discard(fd)
        handle.close()
        raise
    return handle


@contextlib.contextmanager
def file_lock(
    path: Path,
    command: str,
    busy: Callable[[str], Exception],
    *,
    wait: float = 0.0,
    waiting: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (made with its folder if missing) for the block,
    its text naming this process as ``command``: the one lock of the project, for a run's data
    directory here and for a site's build (``site/publish.py``).

    When another process holds it, ``waiting`` is told who (once), the lock is tried again every
    :data:`POLL_SECONDS` for up to ``wait`` seconds, then ``busy(who)`` is raised: ``who``
    describes the holder (its command, pid, host and start); another user's lock file is locked
    through a read-only descriptor (its text then does not name this holder). The kernel drops
    a lock when its process ends, however it ends, so a lock is never stale: children forked
    while it is held do not hold it (:func:`_forked`)."""
    with _take(path, command, busy, wait, waiting, inherited=False) as handle:
        try:
            yield
        finally:
            _HELD.discard(handle.fileno())
            with contextlib.suppress(OSError):
                handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)


class HeldLock:
    """A lock of :func:`held_lock`: held by this process and by the children it forks, until
    :meth:`close` here and the end of every child that holds it."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def keep_from_children(self) -> None:
        """Children forked from now on do not hold it (as :func:`file_lock`'s)."""
        if not self._handle.closed:
            _HELD.add(self._handle.fileno())

    def close(self) -> None:
        """Let go of this process's hold (never unlocked here: that would unlock it for the
        children holding it too); the lock is free once they have ended. Twice is once."""
        if not self._handle.closed:
            _HELD.discard(self._handle.fileno())
            self._handle.close()


def held_lock(
    path: Path,
    command: str,
    busy: Callable[[str], Exception],
    *,
    wait: float = 0.0,
    waiting: Callable[[str], None] | None = None,
) -> HeldLock:
    """:func:`file_lock`'s lock, taken as it takes it, but held by the children forked while
    it is held (until :meth:`HeldLock.keep_from_children`), each to its end: a lock over what
    a group of processes writes, free only once the last of them is gone, however each ends."""
    return HeldLock(_take(path, command, busy, wait, waiting, inherited=True))


def _folder_lock(home: Path) -> contextlib.AbstractContextManager[None]:
    def busy(who: str) -> Exception:
        return AlreadyRunning(
            f"{home} is in use by {who}; one run per data directory (the lock is "
            f"{home / LOCK_FILE}, released when that process ends)"
        )

    return file_lock(home / LOCK_FILE, _APPLICATION, busy)


@contextlib.contextmanager
def _database_lock(store: Store) -> Iterator[AdvisoryLock]:
    lock = AdvisoryLock(store, _APPLICATION, f"{_APPLICATION} {json.dumps(_holder_text())}")
    who = lock.take()
    if who is not None:
        raise AlreadyRunning(
            f"{store.url} is in use by {who or 'another guichets run'}; one run per database"
        )
    try:
        yield lock
    finally:
        lock.release()


@contextlib.contextmanager
def run_lock(home: Path, store: Store) -> Iterator[RunLock]:
    """Hold the data directory (and the PostgreSQL database) for one run; AlreadyRunning when
    another holds either, naming it."""
    with _folder_lock(home), contextlib.ExitStack() as stack:
        database = None
        if store.url.startswith("postgresql"):
            try:
                database = stack.enter_context(_database_lock(store))
            except StoreError as exc:
                raise AlreadyRunning(f"cannot take the run lock on {store.url}: {exc}") from exc
        yield RunLock(database)
