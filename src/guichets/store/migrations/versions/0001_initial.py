"""initial: runs, probes, kept pages

Revision ID: 0001
Revises:
Create Date: 2026-11-27

Instants are ``timestamptz`` on PostgreSQL and naive-UTC text on SQLite (see ``UTCDateTime``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hostname", sa.Text(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("catalogue_digest", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_table(
        "probes",
        sa.Column("probe_id", sa.Text(), nullable=False),
        sa.Column("run_id", sa.Text(), nullable=True),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("departement", sa.Text(), nullable=True),
        sa.Column("platform", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("counter", sa.Text(), nullable=True),
        sa.Column("period_key", sa.Text(), nullable=True),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=True),
        sa.Column("first_slot", sa.DateTime(timezone=True), nullable=True),
        sa.Column("slots_count", sa.Integer(), nullable=False),
        sa.Column("slots", sa.Text(), nullable=False),
        sa.Column("horizon_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("trail", sa.Text(), nullable=False),
        sa.Column("extra", sa.Text(), nullable=False),
        sa.Column("cpu_seconds", sa.Double(), nullable=False),
        sa.Column("robots_override", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "outcome IN ('available', 'unavailable', 'barrier', 'site_error', 'unrecognized')",
            name="ck_probes_outcome",
        ),
        sa.CheckConstraint(
            "category IS NULL OR category IN ('A', 'B', 'C', 'D', 'E')",
            name="ck_probes_category",
        ),
        sa.CheckConstraint("slots_count >= 0 AND requests >= 0", name="ck_probes_counts"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_probes_run_id_runs"),
        sa.PrimaryKeyConstraint("probe_id", name="pk_probes"),
        sa.UniqueConstraint("service", "period_key", name="uq_probes_service_period_key"),
    )
    op.create_index("ix_probes_service_started_at", "probes", ["service", "started_at"])
    op.create_index("ix_probes_started_at", "probes", ["started_at"])
    op.create_index("ix_probes_departement_started_at", "probes", ["departement", "started_at"])
    op.create_table(
        "kept_pages",
        sa.Column("probe_id", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["probe_id"], ["probes.probe_id"], name="fk_kept_pages_probe_id_probes"
        ),
        sa.PrimaryKeyConstraint("probe_id", name="pk_kept_pages"),
    )


def downgrade() -> None:
    op.drop_table("kept_pages")
    op.drop_index("ix_probes_departement_started_at", table_name="probes")
    op.drop_index("ix_probes_started_at", table_name="probes")
    op.drop_index("ix_probes_service_started_at", table_name="probes")
    op.drop_table("probes")
    op.drop_table("runs")
