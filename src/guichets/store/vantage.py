"""The rows behind what the vantage points saw: probes that name their vantage point, the shared
schedule's lost periods, each replicate with its period's first probe, the workers and the book.

The figures made of them (barriers seen from one place and not another, agreement between two
places) are computed in :mod:`guichets.workers.report`; only the queries live here, with the
rest of the SQL.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import aliased

from guichets.periods import DateRange
from guichets.store import Store
from guichets.store.schema import probes, schedule_periods, workers

__all__ = ["BookRows", "book_rows", "lost_period_rows", "replicate_pairs", "vantage_rows"]

BookRows = tuple[list[Any], list[tuple[str, int]], list[tuple[str, str, str, str]]]


def vantage_rows(
    store: Store,
    days: DateRange,
    *,
    service: str | None = None,
    departement: str | None = None,
) -> list[tuple[str, Any, str, str]]:
    """``(service, started_at, vantage, outcome)`` of the probes of ``days`` that carry a
    vantage point, by service and time."""
    query = (
        select(probes.c.service, probes.c.started_at, probes.c.vantage, probes.c.outcome)
        .where(
            probes.c.vantage.is_not(None),
            probes.c.started_at >= days.start,
            probes.c.started_at < days.end,
        )
        .order_by(probes.c.service, probes.c.started_at)
    )
    if service is not None:
        query = query.where(probes.c.service == service)
    if departement is not None:
        query = query.where(probes.c.departement == departement)
    with store.reading("read the vantage points") as conn:
        return [(name, at, vantage, outcome) for name, at, vantage, outcome in conn.execute(query)]


def lost_period_rows(
    store: Store, days: DateRange, *, service: str | None = None
) -> list[tuple[str, Any, str]]:
    """``(service, period_start, note)`` of the probe periods of the shared schedule recorded as
    lost in ``days``."""
    query = (
        select(schedule_periods.c.service, schedule_periods.c.period_start, schedule_periods.c.note)
        .where(
            schedule_periods.c.state == "lost",
            schedule_periods.c.role == "probe",
            schedule_periods.c.period_start >= days.start,
            schedule_periods.c.period_start < days.end,
        )
        .order_by(schedule_periods.c.service, schedule_periods.c.period_start)
    )
    if service is not None:
        query = query.where(schedule_periods.c.service == service)
    with store.reading("read the lost periods") as conn:
        return [(name, start, note) for name, start, note in conn.execute(query)]


def replicate_pairs(store: Store, days: DateRange | None = None) -> list[tuple[Any, ...]]:
    """Each replicate with its period's first probe: ``(service, replicate_of, vantage,
    outcome, category)`` of the replicate, then ``(vantage, outcome, category)`` of the first."""
    first = aliased(probes)
    query = select(
        probes.c.service,
        probes.c.replicate_of,
        probes.c.vantage,
        probes.c.outcome,
        probes.c.category,
        first.c.vantage,
        first.c.outcome,
        first.c.category,
    ).join(
        first,
        and_(first.c.service == probes.c.service, first.c.period_key == probes.c.replicate_of),
    )
    if days is not None:
        query = query.where(probes.c.started_at >= days.start, probes.c.started_at < days.end)
    with store.reading("read the replicates") as conn:
        rows = conn.execute(query.order_by(probes.c.service, probes.c.replicate_of)).all()
    return [tuple(row) for row in rows]


def book_rows(store: Store) -> BookRows:
    """The workers' rows (by name; attributes named as the table's columns), the book's
    periods counted by state, and the last 1,000 lost periods ``(service, period_key, role,
    note)``."""
    with store.reading("read the workers") as conn:
        found = list(conn.execute(select(workers).order_by(workers.c.name)).all())
        states = conn.execute(
            select(schedule_periods.c.state, func.count()).group_by(schedule_periods.c.state)
        ).all()
        lost = conn.execute(
            select(
                schedule_periods.c.service,
                schedule_periods.c.period_key,
                schedule_periods.c.role,
                schedule_periods.c.note,
            )
            .where(schedule_periods.c.state == "lost")
            .order_by(schedule_periods.c.period_end.desc())
            .limit(1000)
        ).all()
    return (
        found,
        [(state, int(n)) for state, n in states],
        [(s, k, r, note) for s, k, r, note in lost],
    )
