"""The tables of the store: runs of the robot, probes, and the pages kept as evidence.

This module is the reference for the shape of the database; the Alembic migrations in
``migrations/versions`` must produce exactly these tables (a test compares them), so that a
database created by migrations and one described here can never drift apart unnoticed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from guichets.model import Category, Outcome

__all__ = ["NAMING_CONVENTION", "UTCDateTime", "kept_pages", "metadata", "probes", "runs"]

# Named constraints and indexes: migrations (and SQLite's batch mode) can only alter what has a
# stable name.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """An instant: timezone-aware UTC in and out, whatever the backend.

    PostgreSQL keeps ``timestamptz``; SQLite has no time zones, so the value is stored as naive
    UTC (its fixed-width text sorts in time order). A naive datetime is refused on write: an
    instant without an offset is ambiguous evidence.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}: {value!r}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"naive datetime {value.isoformat()} refused: the store keeps instants; "
                "give a timezone-aware value, e.g. datetime(..., tzinfo=UTC)"
            )
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):  # pragma: no cover - the drivers give datetimes
            raise TypeError(f"expected a datetime from the database, got {value!r}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _in(values: list[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


runs = Table(
    "runs",
    metadata,
    Column("id", Text, primary_key=True),  # uuid4 hex
    Column("started_at", UTCDateTime, nullable=False),
    # The last sign of life: the robot's own gaps lie between a run's last heartbeat and the next
    # run's start, so statistics never blame a site for a time nobody looked.
    Column("heartbeat_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime, nullable=True),  # null while running, or if the run died
    Column("hostname", Text, nullable=False),
    Column("version", Text, nullable=False),
    Column("command", Text, nullable=False),
    Column("catalogue_digest", Text, nullable=True),
)

probes = Table(
    "probes",
    metadata,
    Column("probe_id", Text, primary_key=True),
    Column("run_id", Text, ForeignKey("runs.id"), nullable=True),
    Column("service", Text, nullable=False),
    Column("departement", Text, nullable=True),
    Column("platform", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("counter", Text, nullable=True),
    Column("period_key", Text, nullable=True),  # the schedule's slot, "2026-10-05T13:00Z/PT1H"
    Column("scheduled_for", UTCDateTime, nullable=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("detail", Text, nullable=False),
    Column("category", Text, nullable=True),  # derived from the probe; stored for queries
    Column("first_slot", UTCDateTime, nullable=True),
    Column("slots_count", Integer, nullable=False),
    Column("slots", Text, nullable=False),  # JSON: ISO 8601 local date-times with their offset
    Column("horizon_end", UTCDateTime, nullable=True),
    Column("requests", Integer, nullable=False),
    Column("http_status", Integer, nullable=True),
    Column("message", Text, nullable=False),
    Column("trail", Text, nullable=False),  # JSON: the requests made, in order
    Column("extra", Text, nullable=False),  # JSON: platform findings, e.g. next release
    Column("cpu_seconds", Double, nullable=False),
    Column("robots_override", Text, nullable=True),  # host and reason, if robots.txt overridden
    # A restart must never store a second probe for the same slot of the schedule. NULL keys
    # (probes run by hand) are distinct on both backends.
    UniqueConstraint("service", "period_key"),
    CheckConstraint(f"outcome IN ({_in([o.value for o in Outcome])})", name="outcome"),
    CheckConstraint(
        f"category IS NULL OR category IN ({_in([c.value for c in Category])})", name="category"
    ),
    CheckConstraint("slots_count >= 0 AND requests >= 0", name="counts"),
    Index("ix_probes_service_started_at", "service", "started_at"),
    Index("ix_probes_started_at", "started_at"),
    Index("ix_probes_departement_started_at", "departement", "started_at"),
)

# Pages the robot could not recognize, kept to show what it saw and to fix its reader.
kept_pages = Table(
    "kept_pages",
    metadata,
    Column("probe_id", Text, ForeignKey("probes.probe_id"), primary_key=True),
    Column("url", Text, nullable=False),
    Column("body", LargeBinary, nullable=False),
)
