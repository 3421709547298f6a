"""running totals: probes stored per UTC hour, and the daily rollups' sums per Paris day, kept by
the database's own triggers

Revision ID: 0008_running_totals
Revises: 0007_alert_outbox
Create Date: 2026-12-06

A site build reads, for every month, the sums of its daily rollups and the count of every probe it
stores (``Store.rollup_totals``): over three years of 500 services, 45 ms a month read from 15,000
rollups and 360,000 index entries, 1.7 s of every rebuild; and a first build checks each month's
rollups against its probes of the robot's sample (``rollups.stale``), a read of every probe.
``hourly_probes`` (one row per UTC hour: a Paris month starts and ends on one; every probe, and
those of the robot's sample: neither replicates nor assisted reads) and ``daily_totals`` (one row
per Paris day) answer the same sums from a few hundred rows. Triggers keep them in the writing
transaction, whoever writes (``Store.save``, a rollup rebuild, raw SQL): on SQLite plain SQL
triggers, on PostgreSQL plpgsql functions whose upserts (``INSERT … ON CONFLICT DO UPDATE``) lose no
count when two writers touch the same hour. The tables are filled here once from the data already
stored (a read of every probe: about 30 s for 13 million).

The SQL is spelled out here, not imported: a migration is frozen history. On SQLite the hour of a
probe is the text of ``started_at`` cut to its hour (``YYYY-MM-DD HH:00:00.000000``, how
``UTCDateTime`` stores an hour), and a value that is not in that form is kept whole, so that for
every bound on an hour a probe's hour compares with it as its ``started_at`` does (the counts are
those of the ``started_at`` index, exactly). A later SQLite migration that copies ``probes`` or
``daily_rollups`` (batch mode) drops their triggers with the old table: it must create them again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_running_totals"
down_revision: str | None = "0007_alert_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COUNTS = (
    "probes",
    "available",
    "unavailable",
    "barrier",
    "site_error",
    "unrecognized",
    "cat_a",
    "cat_b",
    "cat_c",
    "cat_d",
    "cat_e",
    "slots_seen",
)
_TOTALS = ("rollups", *_COUNTS)  # daily_totals' columns after day: rows, then each count's sum


def _sqlite_hour(value: str) -> str:
    return (
        f"CASE WHEN typeof({value}) = 'text' AND substr({value}, 14) >= ':00:00.000000' "
        f"THEN substr({value}, 1, 13) || ':00:00.000000' ELSE {value} END"
    )


def _pg_hour(value: str) -> str:
    return f"date_trunc('hour', {value} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"


def _robot(row: str, false: str) -> str:
    """1 for a probe of the robot's sample (neither a replicate nor an assisted read), else 0:
    the predicate of ``rollups.stale``, spelled as SQLAlchemy spells it on each engine."""
    return f"CASE WHEN {row}.replicate_of IS NULL AND {row}.assisted IS {false} THEN 1 ELSE 0 END"


def _add_hour(hour: str, sign: str, robot: str, alias: str = "") -> str:
    """One probe more (sign '') or less ('-') in its hour, and in its robot's count."""
    target = f"hourly_probes{alias}"
    old = "hourly_probes" if not alias else "h"
    return (
        f"INSERT INTO {target} (hour, probes, robot) VALUES ({hour}, {sign}1, {sign}({robot})) "
        f"ON CONFLICT (hour) DO UPDATE SET probes = {old}.probes + excluded.probes, "
        f"robot = {old}.robot + excluded.robot"
    )


def _add_day(day: str, rows: str, values: list[str], alias: str = "") -> str:
    """A day's totals moved by ``rows`` rollups and these ``values`` of the counts."""
    target = f"daily_totals{alias}"
    old = "daily_totals" if not alias else "t"
    sets = ", ".join(f"{c} = {old}.{c} + excluded.{c}" for c in _TOTALS)
    return (
        f"INSERT INTO {target} (day, {', '.join(_TOTALS)}) "
        f"VALUES ({day}, {rows}, {', '.join(values)}) ON CONFLICT (day) DO UPDATE SET {sets}"
    )


def _of(row: str, sign: str = "") -> list[str]:
    return [f"{sign}{row}.{c}" for c in _COUNTS]


def _sqlite() -> list[str]:
    new, old = _sqlite_hour("NEW.started_at"), _sqlite_hour("OLD.started_at")
    robot_new, robot_old = _robot("NEW", "0"), _robot("OLD", "0")
    counted = ", ".join(("day", *_COUNTS))
    same_day = [f"NEW.{c} - OLD.{c}" for c in _COUNTS]
    return [
        f"INSERT INTO hourly_probes (hour, probes, robot) "
        f"SELECT {_sqlite_hour('started_at')}, count(*), sum({_robot('probes', '0')}) "
        "FROM probes GROUP BY 1",
        f"INSERT INTO daily_totals (day, {', '.join(_TOTALS)}) "
        f"SELECT day, count(*), {', '.join(f'sum({c})' for c in _COUNTS)} "
        "FROM daily_rollups GROUP BY day",
        "CREATE TRIGGER tr_probes_hour_insert AFTER INSERT ON probes "
        f"BEGIN {_add_hour(new, '', robot_new)}; END",
        "CREATE TRIGGER tr_probes_hour_delete AFTER DELETE ON probes "
        f"BEGIN {_add_hour(old, '-', robot_old)}; END",
        "CREATE TRIGGER tr_probes_hour_update "
        "AFTER UPDATE OF started_at, replicate_of, assisted ON probes "
        f"WHEN ({old}) IS NOT ({new}) OR ({robot_old}) IS NOT ({robot_new}) "
        f"BEGIN {_add_hour(old, '-', robot_old)}; {_add_hour(new, '', robot_new)}; END",
        "CREATE TRIGGER tr_daily_rollups_totals_insert AFTER INSERT ON daily_rollups "
        f"BEGIN {_add_day('NEW.day', '1', _of('NEW'))}; END",
        "CREATE TRIGGER tr_daily_rollups_totals_delete AFTER DELETE ON daily_rollups "
        f"BEGIN {_add_day('OLD.day', '-1', _of('OLD', '-'))}; END",
        f"CREATE TRIGGER tr_daily_rollups_totals_update AFTER UPDATE OF {counted} "
        "ON daily_rollups WHEN OLD.day IS NEW.day "
        f"BEGIN {_add_day('NEW.day', '0', same_day)}; END",
        f"CREATE TRIGGER tr_daily_rollups_totals_move AFTER UPDATE OF {counted} "
        "ON daily_rollups WHEN OLD.day IS NOT NEW.day "
        f"BEGIN {_add_day('OLD.day', '-1', _of('OLD', '-'))}; "
        f"{_add_day('NEW.day', '1', _of('NEW'))}; END",
    ]


def _postgresql() -> list[str]:
    new, old = _pg_hour("NEW.started_at"), _pg_hour("OLD.started_at")
    robot_new, robot_old = _robot("NEW", "false"), _robot("OLD", "false")
    counted = ", ".join(("day", *_COUNTS))
    same_day = [f"NEW.{c} - OLD.{c}" for c in _COUNTS]
    return [
        # Writers kept out until the triggers are made (in this transaction): a probe or a rollup
        # committed between the first totals' read and the triggers would be counted by neither.
        # Taken in the order a save and a rebuild take them (probes, then rollups): no deadlock.
        "LOCK TABLE probes, daily_rollups IN SHARE ROW EXCLUSIVE MODE",
        f"INSERT INTO hourly_probes (hour, probes, robot) "
        f"SELECT {_pg_hour('started_at')}, count(*), sum({_robot('probes', 'false')}) "
        "FROM probes GROUP BY 1",
        f"INSERT INTO daily_totals (day, {', '.join(_TOTALS)}) "
        f"SELECT day, count(*), {', '.join(f'sum({c})' for c in _COUNTS)} "
        "FROM daily_rollups GROUP BY day",
        f"""CREATE FUNCTION hourly_probes_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF {old} = {new} AND ({robot_old}) = ({robot_new}) THEN
            RETURN NULL;
        END IF;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        {_add_hour(old, "-", robot_old, " AS h")};
    END IF;
    IF TG_OP <> 'DELETE' THEN
        {_add_hour(new, "", robot_new, " AS h")};
    END IF;
    RETURN NULL;
END $$""",
        f"""CREATE FUNCTION daily_totals_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.day = NEW.day THEN
            {_add_day("NEW.day", "0", same_day, " AS t")};
            RETURN NULL;
        END IF;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        {_add_day("OLD.day", "-1", _of("OLD", "-"), " AS t")};
    END IF;
    IF TG_OP <> 'DELETE' THEN
        {_add_day("NEW.day", "1", _of("NEW"), " AS t")};
    END IF;
    RETURN NULL;
END $$""",
        # TRUNCATE fires no row trigger: the totals of a table emptied so go with it.
        """CREATE FUNCTION running_totals_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'probes' THEN
        DELETE FROM hourly_probes;
    ELSE
        DELETE FROM daily_totals;
    END IF;
    RETURN NULL;
END $$""",
        "CREATE TRIGGER tr_probes_hour AFTER INSERT OR DELETE "
        "OR UPDATE OF started_at, replicate_of, assisted ON probes "
        "FOR EACH ROW EXECUTE FUNCTION hourly_probes_count()",
        f"CREATE TRIGGER tr_daily_rollups_totals AFTER INSERT OR DELETE OR UPDATE OF {counted} "
        "ON daily_rollups FOR EACH ROW EXECUTE FUNCTION daily_totals_count()",
        "CREATE TRIGGER tr_probes_hour_truncate AFTER TRUNCATE ON probes "
        "FOR EACH STATEMENT EXECUTE FUNCTION running_totals_truncated()",
        "CREATE TRIGGER tr_daily_rollups_totals_truncate AFTER TRUNCATE ON daily_rollups "
        "FOR EACH STATEMENT EXECUTE FUNCTION running_totals_truncated()",
    ]


def upgrade() -> None:
    op.create_table(
        "hourly_probes",
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("probes", sa.BigInteger(), nullable=False),
        sa.Column("robot", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("hour", name="pk_hourly_probes"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "daily_totals",
        sa.Column("day", sa.Date(), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in _TOTALS),
        sa.PrimaryKeyConstraint("day", name="pk_daily_totals"),
        sqlite_with_rowid=False,
    )
    sqlite = op.get_context().dialect.name == "sqlite"
    for statement in _sqlite() if sqlite else _postgresql():
        op.execute(statement)


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        for name in (
            "tr_probes_hour_insert",
            "tr_probes_hour_delete",
            "tr_probes_hour_update",
            "tr_daily_rollups_totals_insert",
            "tr_daily_rollups_totals_delete",
            "tr_daily_rollups_totals_update",
            "tr_daily_rollups_totals_move",
        ):
            op.execute(f"DROP TRIGGER {name}")
    else:
        op.execute("DROP TRIGGER tr_probes_hour ON probes")
        op.execute("DROP TRIGGER tr_probes_hour_truncate ON probes")
        op.execute("DROP TRIGGER tr_daily_rollups_totals ON daily_rollups")
        op.execute("DROP TRIGGER tr_daily_rollups_totals_truncate ON daily_rollups")
        op.execute("DROP FUNCTION hourly_probes_count()")
        op.execute("DROP FUNCTION daily_totals_count()")
        op.execute("DROP FUNCTION running_totals_truncated()")
    op.drop_table("daily_totals")
    op.drop_table("hourly_probes")
