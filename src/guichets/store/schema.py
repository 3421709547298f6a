"""The tables of the store: runs of the robot, probes, and the pages kept as evidence.

This module is the reference for the shape of the database; the Alembic migrations in
``migrations/versions`` must produce exactly these tables (a test compares them), so that a
database created by migrations and one described here can never drift apart unnoticed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
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
from sqlalchemy.sql.expression import false
from sqlalchemy.types import TypeDecorator

from guichets.model import Category, Outcome

__all__ = [
    "NAMING_CONVENTION",
    "UTCDateTime",
    "alert_outbox",
    "alerts",
    "assisted_attempts",
    "daily_details",
    "daily_rollups",
    "daily_totals",
    "evidence_files",
    "evidence_heads",
    "evidence_ledger",
    "evidence_records",
    "host_gates",
    "hourly_probes",
    "kept_pages",
    "metadata",
    "probes",
    "runs",
    "schedule_periods",
    "workers",
]

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
    # A read behind a captcha a person answered (guichets assist, docs/human-assisted.md): kept
    # out of the robot's figures; ``person`` is an opaque id, never a name.
    Column("assisted", Boolean(create_constraint=False), nullable=False, server_default=false()),
    Column("person", Text, nullable=True),
    # Several machines (guichets.workers): who probed, and from where. A replicate is a second
    # probe of a period from another vantage point, a check of the robot: its period_key carries
    # "#replicate" and replicate_of the period's own key, and statistics never count it.
    Column("worker", Text, nullable=True),
    Column("vantage", Text, nullable=True),
    Column("replicate_of", Text, nullable=True),
    # A restart must never store a second probe for the same slot of the schedule. NULL keys
    # (probes run by hand) are distinct on both backends.
    UniqueConstraint("service", "period_key"),
    CheckConstraint(f"outcome IN ({_in([o.value for o in Outcome])})", name="outcome"),
    CheckConstraint(
        f"category IS NULL OR category IN ({_in([c.value for c in Category])})", name="category"
    ),
    CheckConstraint("slots_count >= 0 AND requests >= 0", name="counts"),
    CheckConstraint("assisted OR person IS NULL", name="person"),
    Index("ix_probes_service_started_at", "service", "started_at"),
    Index("ix_probes_person_started_at", "person", "started_at"),
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


# -- evidence (docs/evidence.md) -----------------------------------------------------------------
# The raw exchanges live in WARC files under the data directory; these tables say where each
# record is and what its SHA-256 must be, so that a changed byte, a removed record or a removed
# probe shows.

# One WARC file: its digest is stored when it is closed (a file still open has none yet).
evidence_files = Table(
    "evidence_files",
    metadata,
    Column("name", Text, primary_key=True),  # file name under evidence/warc/
    Column("created_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime, nullable=True),
    Column("size", BigInteger, nullable=True),  # bytes, once closed
    Column("sha256", Text, nullable=True),  # hex, of the whole file, once closed
    Column("hostname", Text, nullable=False),
    Column("software", Text, nullable=False),  # guichets, warcio and Python versions
    Column("clock", Text, nullable=False),  # "system" or "simulated": where WARC-Date comes from
    Column("pruned_at", UTCDateTime, nullable=True),  # removed by retention; digest kept
)

# One WARC record (a gzip member of its file). Retention may drop the bytes, never the row.
evidence_records = Table(
    "evidence_records",
    metadata,
    Column("record_id", Text, primary_key=True),  # WARC-Record-ID, <urn:uuid:...>
    Column("probe_id", Text, ForeignKey("probes.probe_id"), nullable=True),  # null: warcinfo
    Column("ordinal", Integer, nullable=False),  # order within the probe
    Column("kind", Text, nullable=False),  # WARC-Type: request, response, metadata, warcinfo
    Column("uri", Text, nullable=False),
    Column("status", Integer, nullable=True),  # HTTP status of a response record
    Column("sha256", Text, nullable=False),  # hex, of the uncompressed record
    Column("file", Text, ForeignKey("evidence_files.name"), nullable=False),
    Column("position", BigInteger, nullable=True),  # byte offset of its gzip member; null if pruned
    Column("size", BigInteger, nullable=True),  # bytes of its gzip member
    Column("pruned_at", UTCDateTime, nullable=True),
    Index("ix_evidence_records_probe_id_ordinal", "probe_id", "ordinal"),
    Index("ix_evidence_records_file_position", "file", "position"),
)

# The ledger: one entry per probe, chained per service (each entry's digest covers the previous).
evidence_ledger = Table(
    "evidence_ledger",
    metadata,
    Column("probe_id", Text, ForeignKey("probes.probe_id"), primary_key=True),
    Column("service", Text, nullable=False),
    Column("seq", Integer, nullable=False),  # 1, 2, 3... per service
    Column("records", Integer, nullable=False),
    Column("records_sha256", Text, nullable=False),  # over the records' digests, in order
    Column("probe_sha256", Text, nullable=False),  # over the probe's stored row, canonical
    Column("entry_sha256", Text, nullable=False),  # over the previous entry's and this one's
    UniqueConstraint("service", "seq"),
)

# The last entry of each service's chain: without it, removing the newest probes would not show.
evidence_heads = Table(
    "evidence_heads",
    metadata,
    Column("service", Text, primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("entry_sha256", Text, nullable=False),
)


# -- daily rollups (docs/method.md) --------------------------------------------------------------
# What each service's probes of one Paris day add up to (guichets.tally), kept up to date by
# Store.save in the probe's own transaction, so that a report over years reads days, not probes.
# Rebuilt from the probes by Store.rollups when their counts disagree (guichets.store.rollups).
daily_rollups = Table(
    "daily_rollups",
    metadata,
    Column("service", Text, primary_key=True),
    Column("day", Date, primary_key=True),  # the Paris date on which the probes started
    Column("departement", Text, nullable=True),
    Column("site", Text, nullable=False),  # the booking site's host name
    Column("probes", Integer, nullable=False),
    Column("available", Integer, nullable=False),
    Column("unavailable", Integer, nullable=False),
    Column("barrier", Integer, nullable=False),
    Column("site_error", Integer, nullable=False),
    Column("unrecognized", Integer, nullable=False),
    Column("cat_a", Integer, nullable=False),
    Column("cat_b", Integer, nullable=False),
    Column("cat_c", Integer, nullable=False),
    Column("cat_d", Integer, nullable=False),
    Column("cat_e", Integer, nullable=False),
    Column("first_slot", UTCDateTime, nullable=True),  # the earliest slot seen that day
    Column("slots_seen", Integer, nullable=False),
    # Lead times in whole seconds, comma-separated: first slot minus probe time for probes that
    # found one, horizon minus probe time for probes that found nothing (censored).
    Column("leads", Text, nullable=False),
    Column("censored", Text, nullable=False),
    Index("ix_daily_rollups_day", "day"),
    Index("ix_daily_rollups_departement_day", "departement", "day"),
)

# The same days, counted by outcome and detail: barriers by kind, errors by kind.
daily_details = Table(
    "daily_details",
    metadata,
    Column("service", Text, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("outcome", Text, primary_key=True),
    Column("detail", Text, primary_key=True),
    Column("probes", Integer, nullable=False),
    Index("ix_daily_details_day", "day"),
)


# Running totals (docs/site.md, "Rebuilds"): every probe stored per UTC hour, and the sums of the
# daily rollups per Paris day, kept by triggers of the database itself on ``probes`` and
# ``daily_rollups`` (migration 0008_running_totals spells them), whoever writes: a site build
# reads a month's totals from a few hundred of these rows instead of its tens of thousands of
# rollups and probes (``Store.rollup_totals``). On SQLite, a migration that copies either table
# (batch mode) drops its triggers with it: it must create them again.
hourly_probes = Table(
    "hourly_probes",
    metadata,
    Column("hour", UTCDateTime, primary_key=True),  # the hour's start (UTC)
    Column("probes", BigInteger, nullable=False),  # every probe, replicates and assisted too
    Column("robot", BigInteger, nullable=False),  # the robot's sample: neither of those
    sqlite_with_rowid=False,
)

daily_totals = Table(
    "daily_totals",
    metadata,
    Column("day", Date, primary_key=True),  # a Paris date, as daily_rollups.day
    Column("rollups", BigInteger, nullable=False),  # the day's rows in daily_rollups
    *(
        Column(name, BigInteger, nullable=False)  # the sum of that column over them
        for name in (
            "probes",
            *(o.value for o in Outcome),
            *(f"cat_{c.value.lower()}" for c in Category),
            "slots_seen",
        )
    ),
    sqlite_with_rowid=False,
)


# -- alerts (docs/alerts.md) ---------------------------------------------------------------------
# What the alert rules (guichets.alerts) raised: a counter closed, the robot blind to a service, a
# platform's pages changed, a service no longer probed. One row per episode, opened and closed.
alerts = Table(
    "alerts",
    metadata,
    Column("id", Text, primary_key=True),  # uuid4 hex
    Column("kind", Text, nullable=False),  # closed, blind, layout_changed, stalled
    Column("cause", Text, nullable=False),  # no_slot, captcha, blocked, site_error, no_probe…
    Column("service", Text, nullable=True),  # null for an alert about a whole platform
    Column("platform", Text, nullable=True),
    Column("departement", Text, nullable=True),
    Column("since", UTCDateTime, nullable=False),  # when the condition began (first probe of it)
    Column("opened_at", UTCDateTime, nullable=False),  # when the rule raised it
    Column("last_seen", UTCDateTime, nullable=False),  # the last probe that showed the condition
    Column("closed_at", UTCDateTime, nullable=True),  # null while open
    Column("opened_by", Text, nullable=False),  # JSON: ids of the probes that triggered it
    Column("closed_by", Text, nullable=True),  # the probe that ended it
    Column("figures", Text, nullable=False),  # JSON: the figures behind it (counts, hours…)
    CheckConstraint("kind IN ('closed', 'blind', 'layout_changed', 'stalled')", name="kind"),
    Index("ix_alerts_service_opened_at", "service", "opened_at"),
    Index("ix_alerts_closed_at", "closed_at"),
)


# Each alert message not yet delivered to one receiver (docs/alerts.md, "Delivery"): quiet hours, a
# receiver down. Kept here, not in memory, so that a run that stops leaves it to the next one; a
# row is deleted once delivered, and stays (state given_up) after its last retry, for a person.
alert_outbox = Table(
    "alert_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),  # the order messages were queued
    Column("alert_id", Text, nullable=False),  # the alert (or digest-DAY for a daily digest)
    Column("kind", Text, nullable=False),
    Column("change", Text, nullable=False),  # opened, closed, digest
    Column("cause", Text, nullable=False),
    Column("service", Text, nullable=True),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("target", Text, nullable=False),  # the receiver's URL as shown: secrets masked
    Column("target_key", Text, nullable=False),  # sha256 of the whole URL: never the URL itself
    Column("queued_at", UTCDateTime, nullable=False),
    Column("due", UTCDateTime, nullable=False),  # not before (quiet hours, backoff, a claim)
    Column("attempts", Integer, nullable=False),
    Column("last_attempt_at", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("state", Text, nullable=False),  # waiting, given_up
    CheckConstraint("state IN ('waiting', 'given_up')", name="state"),
    Index("ix_alert_outbox_target_key_state", "target_key", "state"),
)


# -- several machines (guichets.workers, docs/architecture.md) -----------------------------------
# Used on PostgreSQL only (the shared schedule lives there), created on both backends so that one
# schema describes every store.

# A worker: one process taking due probes, on some machine, seen from some vantage point.
workers = Table(
    "workers",
    metadata,
    Column("name", Text, primary_key=True),
    Column("vantage", Text, nullable=False),  # where it probes from, e.g. "paris-fibre"
    Column("hostname", Text, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("heartbeat_at", UTCDateTime, nullable=False),
    Column("stopped_at", UTCDateTime, nullable=True),  # null while running, or if it died
    Column("stop_reason", Text, nullable=True),
)

# One period of one service in the shared schedule: planned (its job deferred), probing (a worker
# holds its lease), done (its probe stored) or lost (nobody probed it while it was open: the
# robot's own gap, kept and counted, never dropped silently).
schedule_periods = Table(
    "schedule_periods",
    metadata,
    Column("service", Text, primary_key=True),
    Column("period_key", Text, primary_key=True),
    Column("role", Text, primary_key=True),  # "probe", or "replicate" (a second vantage point)
    Column("period_start", UTCDateTime, nullable=False),
    Column("period_end", UTCDateTime, nullable=False),
    Column("planned_at", UTCDateTime, nullable=False),  # the period's random instant
    Column("state", Text, nullable=False),
    Column("job_id", BigInteger, nullable=True),  # the procrastinate job that carries it
    Column("worker", Text, nullable=True),  # the last worker that took it
    Column("vantage", Text, nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("claimed_at", UTCDateTime, nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),  # renewed by the worker's heartbeat
    Column("probe_id", Text, nullable=True),
    Column("note", Text, nullable=False),  # why it was retried or lost, for people
    CheckConstraint("state IN ('planned', 'probing', 'done', 'lost')", name="state"),
    CheckConstraint("role IN ('probe', 'replicate')", name="role"),
    Index("ix_schedule_periods_state_period_end", "state", "period_end"),
)

# Politeness shared by every worker: one request at a time per host through a lease on its row,
# the time of the last request (the gap), Retry-After and the circuit breaker.
host_gates = Table(
    "host_gates",
    metadata,
    Column("host", Text, primary_key=True),  # scheme://host:port
    Column("holder", Text, nullable=True),  # the worker sending to it now
    Column("lease_until", UTCDateTime, nullable=True),
    Column("last_done", UTCDateTime, nullable=True),
    Column("retry_until", UTCDateTime, nullable=True),
    Column("failures", Integer, nullable=False),
    Column("open_until", UTCDateTime, nullable=True),
)


# -- assisted attempts (docs/human-assisted.md) ---------------------------------------------------
# One attempt of one person on one service through ``guichets assist``: the captcha shown, the
# answers typed, the reads made in the session it opened (each a probe with assisted = true and
# extra["attempt"] = its id). No captcha image, sound or answer is ever stored.
assisted_attempts = Table(
    "assisted_attempts",
    metadata,
    Column("attempt_id", Text, primary_key=True),  # uuid4 hex
    Column("person", Text, nullable=False),  # opaque id
    Column("service", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("captcha_shown_at", UTCDateTime, nullable=True),
    Column("passed_at", UTCDateTime, nullable=True),  # the site accepted an answer
    Column("finished_at", UTCDateTime, nullable=True),  # null while under way
    Column("answers", Integer, nullable=False),  # answers typed by the person
    Column("wrong_answers", Integer, nullable=False),  # refused by the site
    Column("person_seconds", Double, nullable=False),  # the person's time: shown -> last answer
    Column("reads", Integer, nullable=False),  # probes made in the session
    Column("state", Text, nullable=False),
    Column("note", Text, nullable=False),  # what happened, for people
    CheckConstraint("state IN ('running', 'read', 'abandoned', 'refused', 'failed')", name="state"),
    CheckConstraint(
        "answers >= wrong_answers AND wrong_answers >= 0 AND reads >= 0", name="counts"
    ),
    Index("ix_assisted_attempts_person_service_started_at", "person", "service", "started_at"),
)
