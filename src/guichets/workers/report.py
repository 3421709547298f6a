"""What the vantage points saw: barriers seen from one place and not another, and how often two
places probing the same period agree.

A barrier seen from every vantage point is the site's; a barrier seen from A while B reads the
page is most likely a block of the robot's address at A: "bloqué depuis A, lu depuis B". With one
robot the two look alike. These read the ``vantage`` of each probe, replicates included (they are
the second vantage point), and never feed the statistics' counts.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from guichets.model import Outcome
from guichets.periods import DateRange, local_day
from guichets.store import Store, as_utc
from guichets.store.vantage import book_rows, lost_period_rows, replicate_pairs, vantage_rows

__all__ = [
    "agreement",
    "book_status",
    "lost_periods",
    "seen_from",
    "split_vantages",
    "vantage_barriers",
    "vantage_sentence",
]

_VALID = (Outcome.AVAILABLE.value, Outcome.UNAVAILABLE.value)


def vantage_barriers(
    store: Store,
    days: DateRange,
    *,
    service: str | None = None,
    departement: str | None = None,
) -> dict[str, list[tuple[Any, str, str, int]]]:
    """Per service: ``(Paris day, vantage, outcome, probes)`` of probes that carry a vantage."""
    counts: dict[tuple[str, Any, str, str], int] = defaultdict(int)
    rows = vantage_rows(store, days, service=service, departement=departement)
    for name, at, vantage, outcome in rows:
        counts[(name, local_day(as_utc(at)), vantage, outcome)] += 1
    out: dict[str, list[tuple[Any, str, str, int]]] = defaultdict(list)
    for (name, day, vantage, outcome), n in sorted(counts.items()):
        out[name].append((day, vantage, outcome, n))
    return dict(out)


def seen_from(
    found: list[tuple[Any, str, str, int]], days: DateRange
) -> dict[str, list[str]] | None:
    """Which vantage points met a barrier and which read the page, over ``days``; None when no
    probe of these days names its vantage point (one robot: nothing to say)."""
    blocked, read, any_seen = set(), set(), False
    for day, vantage, outcome, _ in found:
        if day not in days:
            continue
        any_seen = True
        if outcome == Outcome.BARRIER.value:
            blocked.add(vantage)
        elif outcome in _VALID:
            read.add(vantage)
    if not any_seen:
        return None
    return {"barrier_from": sorted(blocked), "read_from": sorted(read)}


def lost_periods(
    store: Store, days: DateRange, *, service: str | None = None
) -> dict[str, list[tuple[Any, str]]]:
    """Per service: ``(Paris day, reason)`` of each period of the shared schedule recorded as
    lost in these days (nobody probed it while it was open): the robot's own gaps."""
    out: dict[str, list[tuple[Any, str]]] = defaultdict(list)
    for name, start, note in lost_period_rows(store, days, service=service):
        out[name].append((local_day(as_utc(start)), note))
    return dict(out)


def split_vantages(seen: dict[str, list[str]] | None) -> tuple[list[str], list[str]] | None:
    """The vantage points that only met the barrier and those that only read the page, when a
    barrier was met from some vantage points and not from others; else None."""
    if not seen:
        return None
    only = [v for v in seen["barrier_from"] if v not in seen["read_from"]]
    readers = [v for v in seen["read_from"] if v not in seen["barrier_from"]]
    if not only or not readers:
        return None
    return only, readers


def vantage_sentence(seen: dict[str, list[str]] | None) -> str | None:
    """« bloqué depuis A, lu depuis B » when a barrier was met from some vantage points only."""
    split = split_vantages(seen)
    if split is None:
        return None
    return f"bloqué depuis {', '.join(split[0])}, lu depuis {', '.join(split[1])}"


def agreement(store: Store, days: DateRange | None = None) -> dict[str, Any]:
    """Each replicate against its period's first probe: same outcome, same category."""
    pairs = same = valid = same_category = 0
    by_pair: dict[str, dict[str, int]] = defaultdict(lambda: {"pairs": 0, "same_outcome": 0})
    barriers: list[dict[str, str]] = []
    for service, key, v2, o2, c2, v1, o1, c1 in replicate_pairs(store, days):
        pairs += 1
        pair = by_pair[" / ".join(sorted([str(v1), str(v2)]))]
        pair["pairs"] += 1
        if o1 == o2:
            same += 1
            pair["same_outcome"] += 1
        if o1 in _VALID and o2 in _VALID:
            valid += 1
            same_category += c1 == c2
        for (vb, ob), (vr, orr) in (((v1, o1), (v2, o2)), ((v2, o2), (v1, o1))):
            if ob == Outcome.BARRIER.value and orr in _VALID:
                barriers.append(
                    {"service": service, "period_key": key, "blocked_from": vb, "read_from": vr}
                )
    return {
        "pairs": pairs,
        "same_outcome": same,
        "outcome_agreement": same / pairs if pairs else None,
        "valid_pairs": valid,
        "same_category": same_category,
        "category_agreement": same_category / valid if valid else None,
        "by_vantage_pair": dict(by_pair),
        "vantage_barriers": barriers,
    }


def book_status(store: Store) -> dict[str, Any]:
    """The workers and the book's periods by state, and the lost ones with their reason."""
    found, states, lost = book_rows(store)
    return {
        "workers": [
            {
                "name": w.name,
                "vantage": w.vantage,
                "hostname": w.hostname,
                "started_at": _iso(w.started_at),
                "heartbeat_at": _iso(w.heartbeat_at),
                "stopped_at": _iso(w.stopped_at),
                "stop_reason": w.stop_reason,
            }
            for w in found
        ],
        "periods": {state: int(n) for state, n in states},
        "lost": [
            {"service": s, "period_key": k, "role": r, "note": note} for s, k, r, note in lost
        ],
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
