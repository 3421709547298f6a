"""When each service is probed: one probe per period, at a random instant within it.

A share of probes estimates the share of time a person would find a slot only if probe times are
spread without bias; hourly probes at a fixed minute miss slots released at fixed times and gone
within minutes. So the default plan draws each probe's instant uniformly within its period
(stratified sampling); the fixed-minute plan exists to measure what it costs.

Instants are reproducible: they derive from a seed, the service and the period, so that a restart
plans the same instants, and a period that already has its probe is never probed again.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from guichets.clock import ensure_utc

__all__ = ["Plan", "period_key", "period_start", "planned_at"]


class Plan(StrEnum):
    RANDOM = "random"  # uniform within each period (default)
    FIXED = "fixed"  # the same offset in every period, like a cron job


def period_start(instant: datetime, cadence_seconds: int) -> datetime:
    """Start of the period holding ``instant``; periods are aligned on the Unix epoch in UTC."""
    stamp = int(ensure_utc(instant).timestamp())
    return datetime.fromtimestamp(stamp - stamp % cadence_seconds, UTC)


def period_key(start: datetime, cadence_seconds: int) -> str:
    """A readable, unique name of a period, e.g. ``2026-10-05T13:00Z/PT3600S``; seconds show
    only for periods that do not start on a minute (cadences under a minute, in tests)."""
    start = ensure_utc(start)
    shape = "%Y-%m-%dT%H:%M:%SZ" if start.second else "%Y-%m-%dT%H:%MZ"
    return f"{start.strftime(shape)}/PT{cadence_seconds}S"


def _fraction(*parts: object) -> float:
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def planned_at(
    service: str, start: datetime, cadence_seconds: int, *, seed: int = 0, plan: Plan = Plan.RANDOM
) -> datetime:
    """The instant of the probe of ``service`` in the period beginning at ``start``."""
    if plan is Plan.FIXED:
        share = _fraction(seed, service)
    else:
        share = _fraction(seed, service, int(start.timestamp()))
    return start + timedelta(seconds=int(share * cadence_seconds))
