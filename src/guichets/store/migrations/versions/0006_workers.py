"""workers: several machines on one schedule (workers, schedule periods, shared host gates), and
who probed each probe from where

Revision ID: 0006_workers
Revises: 0003_rollups
Create Date: 2026-12-06

The new columns of ``probes`` are null for every probe made before: those were made by
``guichets run`` alone, from one place.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_workers"
down_revision: str | None = "0003_rollups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("probes", sa.Column("worker", sa.Text(), nullable=True))
    op.add_column("probes", sa.Column("vantage", sa.Text(), nullable=True))
    op.add_column("probes", sa.Column("replicate_of", sa.Text(), nullable=True))
    op.create_table(
        "workers",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("vantage", sa.Text(), nullable=False),
        sa.Column("hostname", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stop_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_workers"),
    )
    op.create_table(
        "schedule_periods",
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("period_key", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("planned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=True),
        sa.Column("worker", sa.Text(), nullable=True),
        sa.Column("vantage", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("probe_id", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "state IN ('planned', 'probing', 'done', 'lost')",
            name="ck_schedule_periods_state",
        ),
        sa.CheckConstraint("role IN ('probe', 'replicate')", name="ck_schedule_periods_role"),
        sa.PrimaryKeyConstraint("service", "period_key", "role", name="pk_schedule_periods"),
    )
    op.create_index(
        "ix_schedule_periods_state_period_end", "schedule_periods", ["state", "period_end"]
    )
    op.create_table(
        "host_gates",
        sa.Column("host", sa.Text(), nullable=False),
        sa.Column("holder", sa.Text(), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_done", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retry_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("open_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("host", name="pk_host_gates"),
    )


def downgrade() -> None:
    op.drop_table("host_gates")
    op.drop_index("ix_schedule_periods_state_period_end", table_name="schedule_periods")
    op.drop_table("schedule_periods")
    op.drop_table("workers")
    with op.batch_alter_table("probes") as batch:
        batch.drop_column("replicate_of")
        batch.drop_column("vantage")
        batch.drop_column("worker")
