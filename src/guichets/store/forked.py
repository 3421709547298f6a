"""Work over one store shared among processes forked from this one.

A first build's months are independent pieces of work that read only the store (a month's rows,
a closed month's release analysis): forked workers take them side by side, each with its own
connections to the same database (:meth:`Store.forked`: SQLite in WAL lets readers share the
file, PostgreSQL serves each its own session). A child cannot reach SQLite in memory (a new
connection there is another, empty database: :meth:`Store.forkable`), and one task is not
worth a process: :func:`worth_forking` says when to.
"""

from __future__ import annotations

import gc
import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager

from guichets import forks
from guichets.store import Store

__all__ = ["forked_pool", "forked_store", "worth_forking"]

_FORKED_STORE: Store | None = None  # the parent's store, for the forked workers


def worth_forking(store: Store, workers: int, tasks: int) -> bool:
    """Whether ``tasks`` over ``store`` go to forked workers: two or more of each, a store a
    child reaches, and ``fork`` on this system."""
    return (
        min(workers, tasks) >= 2
        and store.forkable()
        and "fork" in multiprocessing.get_all_start_methods()
    )


def forked_store() -> Store:
    """In a worker of :func:`forked_pool`: the parent's store, on the worker's own connections."""
    assert _FORKED_STORE is not None, "called outside a worker of forked_pool"
    return _FORKED_STORE


def _forked() -> None:
    if _FORKED_STORE is not None:
        _FORKED_STORE.forked()


@contextmanager
def forked_pool(store: Store, workers: int) -> Iterator[ProcessPoolExecutor]:
    """``workers`` processes forked from this one (at the first task submitted), whose tasks
    reach ``store`` by :func:`forked_store`; ask :func:`worth_forking` first.

    The parent's objects are frozen while the pool lives (``gc.freeze``): the workers'
    collections never touch them, so the pages they share with the parent stay shared. The
    workers are children of ours (``forks.ours``): the signals at their default, ended with
    their parent."""
    global _FORKED_STORE
    _FORKED_STORE = store
    context = multiprocessing.get_context("fork")
    gc.freeze()
    try:
        with forks.ours(), ProcessPoolExecutor(workers, context, initializer=_forked) as pool:
            yield pool
    finally:
        gc.unfreeze()
        _FORKED_STORE = None
