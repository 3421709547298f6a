"""The garbage collector's pace during bulk work: a site build collects its young objects
every 10,000 allocations instead of CPython's 700.

A build holds every month's report rows (hundreds of thousands of objects, long-lived) and makes
millions of short-lived ones (pages, table rows, chart pieces), almost none in reference cycles.
At CPython's default threshold the young generation is collected hundreds of times a build, and
each collection that promotes survivors makes the next older one come sooner, until a full
collection walks every row held: measured at 100 services x 365 days, 263 collections and 0.25
to 0.29 CPU-s of a 2.0 to 2.8 CPU-s rebuild, 113 and 0.15 to 0.21 of a 0.75 to 0.94 no-op; at
10,000, 16 collections and 0.06 to 0.09 CPU-s, 6 and 0.01 to 0.02 (docs/benchmarks.md). Cycles
are still collected, only later: garbage in cycles waits at most 10,000 allocations longer.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

__all__ = ["BULK_THRESHOLD", "fewer_collections"]

BULK_THRESHOLD: Final = 10_000  # allocations between two collections of the young generation


@contextmanager
def fewer_collections(young: int = BULK_THRESHOLD) -> Iterator[None]:
    """Collect the young generation every ``young`` allocations while the block runs, then go
    back to the threshold found. Nested blocks, or a process already collecting less often (or
    not at all), are left as they are."""
    before = gc.get_threshold()
    if before[0] == 0 or before[0] >= young:  # 0: automatic collection is off
        yield
        return
    gc.set_threshold(young, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
