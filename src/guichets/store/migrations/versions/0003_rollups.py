"""rollups: what each service's probes of one Paris day add up to, and their details

Revision ID: 0003_rollups
Revises: 0002_evidence
Create Date: 2026-11-27

The tables start empty. A database that already holds probes gets its rollups from them the first
time a report reads a period: ``Store.rollups`` compares the count of probes with the rollups'
and rebuilds the days that disagree (see ``docs/method.md``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_rollups"
down_revision: str | None = "0002_evidence"
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
)


def upgrade() -> None:
    op.create_table(
        "daily_rollups",
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("departement", sa.Text(), nullable=True),
        sa.Column("site", sa.Text(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in _COUNTS),
        sa.Column("first_slot", sa.DateTime(timezone=True), nullable=True),
        sa.Column("slots_seen", sa.Integer(), nullable=False),
        sa.Column("leads", sa.Text(), nullable=False),
        sa.Column("censored", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("service", "day", name="pk_daily_rollups"),
    )
    op.create_index("ix_daily_rollups_day", "daily_rollups", ["day"])
    op.create_index("ix_daily_rollups_departement_day", "daily_rollups", ["departement", "day"])
    op.create_table(
        "daily_details",
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("probes", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("service", "day", "outcome", "detail", name="pk_daily_details"),
    )
    op.create_index("ix_daily_details_day", "daily_details", ["day"])


def downgrade() -> None:
    op.drop_index("ix_daily_details_day", table_name="daily_details")
    op.drop_table("daily_details")
    op.drop_index("ix_daily_rollups_departement_day", table_name="daily_rollups")
    op.drop_index("ix_daily_rollups_day", table_name="daily_rollups")
    op.drop_table("daily_rollups")
