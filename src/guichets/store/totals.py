"""Running totals: every probe stored per UTC hour (``hourly_probes``), the daily rollups' sums per
Paris day (``daily_totals``), kept by the database's triggers (migration 0008_running_totals).

A period's totals are then read from a few hundred rows, by primary key: a month of 500 services
stores 360,000 probes and 15,000 rollups, which the indexes answered in 45 ms, in every month of
every site build; and whether its rollups count the probes of the robot's sample (:func:`behind`),
which took a read of every probe, 1-2 s a month. The sums are those the direct queries give, exactly
(:func:`counted`, kept for bounds off the hour and for the tests): the hour of a probe compares with
a bound on an hour as its ``started_at`` does, and a day's totals are the sums of its rollups as
they are stored. :func:`recount` computes them again from the base tables, for a period whose
rollups are rebuilt: the repair of totals written past their triggers (a SQLite ``INSERT OR
REPLACE``, which deletes without firing them; a PostgreSQL session with triggers disabled).
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    Connection,
    Date,
    and_,
    bindparam,
    case,
    delete,
    false,
    func,
    literal_column,
    select,
)

from guichets.periods import DateRange
from guichets.store.schema import UTCDateTime, daily_rollups, daily_totals, hourly_probes, probes

__all__ = ["TOTALS", "behind", "counted", "read", "recount", "sample", "stored"]

# The counts summed, in daily_totals' order: "probes", the outcomes, the categories, "slots_seen".
TOTALS: Final = tuple(c.name for c in daily_totals.columns)[2:]

# The hour of a probe, as the triggers compute it (the migration spells the same SQL).
_SQLITE_HOUR: Final = (
    "CASE WHEN typeof(probes.started_at) = 'text' AND substr(probes.started_at, 14) >= "
    "':00:00.000000' THEN substr(probes.started_at, 1, 13) || ':00:00.000000' "
    "ELSE probes.started_at END"
)
_PG_HOUR: Final = "date_trunc('hour', probes.started_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"


def _on_hours(days: DateRange) -> bool:
    """Whether the period starts and ends on an hour (UTC): every Paris day since 1911 does."""
    return all(t.minute == t.second == t.microsecond == 0 for t in (days.start, days.end))


def _hours(days: DateRange) -> ColumnElement[bool]:
    return and_(hourly_probes.c.hour >= days.start, hourly_probes.c.hour < days.end)


def _days(table: Any, days: DateRange) -> ColumnElement[bool]:
    return and_(table.c.day >= days.first, table.c.day <= days.last)


# Built once (a statement of fourteen sums costs more to build than to run): bound per period.
_STORED: Final = (
    select(func.coalesce(func.sum(hourly_probes.c.probes), 0))
    .where(
        hourly_probes.c.hour >= bindparam("start", type_=UTCDateTime()),
        hourly_probes.c.hour < bindparam("end", type_=UTCDateTime()),
    )
    .scalar_subquery()
)
_READ: Final = select(
    *(func.coalesce(func.sum(daily_totals.c[name]), 0) for name in ("rollups", *TOTALS)), _STORED
).where(
    daily_totals.c.day >= bindparam("first", type_=Date()),
    daily_totals.c.day <= bindparam("last", type_=Date()),
)
_STORED_ALONE: Final = select(_STORED)
_BEHIND: Final = select(
    select(func.coalesce(func.sum(hourly_probes.c.robot), 0))
    .where(
        hourly_probes.c.hour >= bindparam("start", type_=UTCDateTime()),
        hourly_probes.c.hour < bindparam("end", type_=UTCDateTime()),
    )
    .scalar_subquery(),
    select(func.coalesce(func.sum(daily_totals.c.probes), 0))
    .where(
        daily_totals.c.day >= bindparam("first", type_=Date()),
        daily_totals.c.day <= bindparam("last", type_=Date()),
    )
    .scalar_subquery(),
)


def sample() -> list[ColumnElement[bool]]:
    """The probes of the robot's sample, the only ones a rollup counts: neither a replicate (a
    second vantage point's probe) nor a read behind a captcha a person answered
    (docs/human-assisted.md). The triggers' ``robot`` count spells the same predicate."""
    return [probes.c.replicate_of.is_(None), probes.c.assisted.is_(false())]


def _bounds(days: DateRange) -> dict[str, Any]:
    return {"first": days.first, "last": days.last, "start": days.start, "end": days.end}


def read(conn: Connection, days: DateRange) -> list[int]:
    """The rollups of ``days`` (how many rows), the sums of their counts (:data:`TOTALS`), then
    every probe stored in those days: from the running totals, in one statement (one snapshot)."""
    if not _on_hours(days):
        return counted(conn, days)
    return [int(v) for v in conn.execute(_READ, _bounds(days)).one()]


def stored(conn: Connection, days: DateRange) -> int:
    """Every probe stored in ``days``, whatever it is (replicates, assisted reads): the sum of
    its hours, at most 25 rows a day."""
    if not _on_hours(days):
        return _indexed(conn, days)
    return int(conn.execute(_STORED_ALONE, _bounds(days)).scalar_one())


def behind(conn: Connection, days: DateRange) -> bool | None:
    """Whether the rollups of ``days`` count fewer or more probes than the robot's sample stores
    (``rollups.stale`` for a whole period): two sums of the running totals in one statement;
    None when the period is off the hour (then count the tables)."""
    if not _on_hours(days):
        return None
    robot, rolled = conn.execute(_BEHIND, _bounds(days)).one()
    return int(robot) != int(rolled)


def counted(conn: Connection, days: DateRange) -> list[int]:
    """What :func:`read` gives, counted from the base tables (their indexes)."""
    columns = [daily_rollups.c[name] for name in TOTALS]
    query = select(func.count(), *(func.coalesce(func.sum(c), 0) for c in columns)).where(
        _days(daily_rollups, days)
    )
    return [*(int(v) for v in conn.execute(query).one()), _indexed(conn, days)]


def _indexed(conn: Connection, days: DateRange) -> int:
    query = select(func.count()).where(
        probes.c.started_at >= days.start, probes.c.started_at < days.end
    )
    return int(conn.execute(query).scalar_one())


def recount(conn: Connection, days: DateRange) -> None:
    """Compute the running totals of ``days`` again from the probes and the rollups, in the
    caller's write transaction (a rollup rebuild's, which keeps writers out)."""
    conn.execute(delete(daily_totals).where(_days(daily_totals, days)))
    columns = [daily_rollups.c[name] for name in TOTALS]
    conn.execute(
        daily_totals.insert().from_select(
            ["day", "rollups", *TOTALS],
            select(daily_rollups.c.day, func.count(), *(func.sum(c) for c in columns))
            .where(_days(daily_rollups, days))
            .group_by(daily_rollups.c.day),
        )
    )
    if not _on_hours(days):  # an hour astride the bounds: left as the triggers counted it
        return
    sql = _PG_HOUR if conn.dialect.name == "postgresql" else _SQLITE_HOUR
    hour = literal_column(sql, UTCDateTime())
    conn.execute(delete(hourly_probes).where(_hours(days)))
    conn.execute(
        hourly_probes.insert().from_select(
            ["hour", "probes", "robot"],
            select(
                hour, func.count(), func.coalesce(func.sum(case((and_(*sample()), 1), else_=0)), 0)
            )
            .select_from(probes)
            .where(probes.c.started_at >= days.start, probes.c.started_at < days.end)
            .group_by(hour),
        )
    )
