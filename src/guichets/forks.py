"""Processes forked by ours (a build's month files' process and its workers, the figures' and
the pages' pool workers, the remover of an old site): one way for all of them.

Forked inside :func:`ours` (the block that starts them, a pool's whole life), a child

- takes SIGINT and SIGTERM at their default, with the parent's wakeup descriptor let go: the
  parent's handlers are not its own. ``guichets run --site`` builds in a thread of a process
  whose event loop stops the run on SIGTERM (``usecases/run.py``): a child that kept that
  handler ignored a SIGTERM (a build's ``stop``, systemd's) and wrote it to the run's own
  wakeup descriptor, stopping the run. The two signals are blocked in the parent across the
  fork, so that none reaches the child before it has them at their default;
- ends when the thread that forked it ends (Linux's ``PR_SET_PDEATHSIG``, SIGKILL): a build
  killed (SIGKILL, the OOM killer) takes its workers with it, and the month files' process its
  own workers. Left running, they wrote the kept month files under the names the next build
  writes (two writers of one partial file publish a corrupt one) and filled the cache, and pool
  workers whose parent is gone can hang. Every child of ours is waited for by the thread that
  forked it before that thread ends (``guichets run --site`` builds in a thread that lives as
  long as the run). A child whose parent died before it could ask for this ends at once.

Each costs a system call or two a fork: nothing next to a fork.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Final

__all__ = ["STOPS", "ours"]

STOPS: Final = (signal.SIGINT, signal.SIGTERM)
_PR_SET_PDEATHSIG: Final = 1  # <linux/prctl.h>


class _State(threading.local):
    depth = 0  # how many ``ours`` blocks this thread is in
    mask: set[int | signal.Signals] | None = None  # the thread's signal mask before the fork
    parent = 0  # the pid of the process forking


_STATE = _State()
_PRCTL = None
if sys.platform.startswith("linux"):
    with contextlib.suppress(OSError, AttributeError):
        _PRCTL = ctypes.CDLL(None, use_errno=True).prctl


@contextlib.contextmanager
def ours() -> Iterator[None]:
    """Every process forked by this thread in the block is a child of ours (see the module)."""
    _STATE.depth += 1
    try:
        yield
    finally:
        _STATE.depth -= 1


def _before() -> None:
    if _STATE.depth:
        _STATE.mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOPS)
        _STATE.parent = os.getpid()


def _after_in_parent() -> None:
    if _STATE.depth and _STATE.mask is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, _STATE.mask)  # a stop waiting is taken here
        _STATE.mask = None


def _after_in_child() -> None:
    if not _STATE.depth:  # (still counted in the child: what it forks in the block is ours too)
        return
    for stop in STOPS:
        signal.signal(stop, signal.SIG_DFL)
    with contextlib.suppress(ValueError):
        signal.set_wakeup_fd(-1)
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != _STATE.parent:  # the parent died before the line above
            os._exit(1)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOPS)  # a stop already sent ends it here


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before, after_in_parent=_after_in_parent, after_in_child=_after_in_child
    )
