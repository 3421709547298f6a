"""Observations made by hand for the stats and store tests (no tests here): one probe at a given
instant, and a mix of services, outcomes and Paris-day edges (midnights, the night the clocks go
back, the end of a month)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from guichets.model import PARIS, Detail, Observation, Outcome

__all__ = ["URL", "mixed_probes", "observation"]

URL = "http://www.isere.gouv.fr/booking/create/4129"


def observation(
    n: int,
    at: datetime,
    outcome: Outcome = Outcome.UNAVAILABLE,
    *,
    days: tuple[float, ...] = (),
    service: str = "38-grenoble-renouvellement",
    departement: str = "38",
    detail: str | None = None,
    url: str = URL,
    horizon_days: int = 91,
) -> Observation:
    """A probe at ``at`` that found slots ``days`` ahead (then it is available)."""
    slots = tuple((at + timedelta(days=d)).astimezone(PARIS) for d in days)
    if slots:
        outcome = Outcome.AVAILABLE
    default = {
        Outcome.AVAILABLE: Detail.SLOTS_SEEN,
        Outcome.UNAVAILABLE: Detail.NO_SLOT_PAGE,
        Outcome.BARRIER: Detail.BLOCKED,
        Outcome.SITE_ERROR: "http_502",
        Outcome.UNRECOGNIZED: Detail.LAYOUT_CHANGED,
    }[outcome]
    return Observation(
        probe_id=f"p{n:05d}",
        service=service,
        platform="ezbooking",
        url=url,
        started_at=at,
        finished_at=at + timedelta(seconds=4),
        outcome=outcome,
        detail=str(detail or default),
        slots=slots,
        horizon_end=(at + timedelta(days=horizon_days)).astimezone(PARIS),
        departement=departement,
    )


def mixed_probes() -> list[Observation]:
    """Two services of two départements, every outcome, around Paris midnights, the night the
    clocks go back (2026-10-25) and the end of October."""
    edges = [
        datetime(2026, 10, 24, 21, 50, tzinfo=UTC),  # 23:50 on the 24th in Paris
        datetime(2026, 10, 24, 22, 0, tzinfo=UTC),  # midnight: the 25th
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),  # 02:30 CEST
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC),  # 02:30 CET, an hour later
        datetime(2026, 10, 31, 22, 50, tzinfo=UTC),  # 23:50 on the 31st
        datetime(2026, 10, 31, 23, 30, tzinfo=UTC),  # 00:30 on 1 November
    ]
    kinds: list[tuple[Outcome, tuple[float, ...]]] = [
        (Outcome.AVAILABLE, (0.5, 3)),
        (Outcome.AVAILABLE, (12,)),
        (Outcome.AVAILABLE, (45,)),
        (Outcome.AVAILABLE, (75, 80)),
        (Outcome.UNAVAILABLE, ()),
        (Outcome.UNAVAILABLE, ()),
        (Outcome.BARRIER, ()),
        (Outcome.SITE_ERROR, ()),
        (Outcome.UNRECOGNIZED, ()),
    ]
    found = []
    n = 0
    for i, at in enumerate(edges):
        for j, (outcome, days) in enumerate(kinds):
            for service, dep in (("38-grenoble-renouvellement", "38"), ("69-lyon-etudiants", "69")):
                if (i + j) % 3 == 0 and service.startswith("69"):
                    continue
                n += 1
                found.append(observation(n, at + timedelta(minutes=j), outcome, days=days,
                                         service=service, departement=dep))  # fmt: skip
    return found
