"""alerts: what the alert rules raised, one row per episode

Revision ID: 0005_alerts
Revises: 0004_assisted
Create Date: 2026-12-06

The table starts empty; ``guichets alerts check`` (and every run, when it starts) replays the
recent probes through the rules, so a database from before the alerts gets the episodes still
open (``docs/alerts.md``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_alerts"
down_revision: str | None = "0004_assisted"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("service", sa.Text(), nullable=True),
        sa.Column("platform", sa.Text(), nullable=True),
        sa.Column("departement", sa.Text(), nullable=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opened_by", sa.Text(), nullable=False),
        sa.Column("closed_by", sa.Text(), nullable=True),
        sa.Column("figures", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('closed', 'blind', 'layout_changed', 'stalled')", name="ck_alerts_kind"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
    )
    op.create_index("ix_alerts_service_opened_at", "alerts", ["service", "opened_at"])
    op.create_index("ix_alerts_closed_at", "alerts", ["closed_at"])


def downgrade() -> None:
    op.drop_index("ix_alerts_closed_at", table_name="alerts")
    op.drop_index("ix_alerts_service_opened_at", table_name="alerts")
    op.drop_table("alerts")
