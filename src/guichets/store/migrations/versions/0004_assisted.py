"""assisted: reads behind a captcha a person answered, apart from the robot's, and attempts

Revision ID: 0004_assisted
Revises: 0006_workers
Create Date: 2026-12-06

Probes gain ``assisted`` (false for every probe already stored: all were the robot's) and
``person`` (an opaque id, only on assisted probes); ``assisted_attempts`` holds each attempt made
through ``guichets assist`` (docs/human-assisted.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_assisted"
down_revision: str | None = "0006_workers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("probes") as batch:
        batch.add_column(
            sa.Column(
                "assisted",
                sa.Boolean(create_constraint=False),
                nullable=False,
                server_default=sa.false(),
            )
        )
        batch.add_column(sa.Column("person", sa.Text(), nullable=True))
        batch.create_check_constraint("person", "assisted OR person IS NULL")
        batch.create_index("ix_probes_person_started_at", ["person", "started_at"])
    op.create_table(
        "assisted_attempts",
        sa.Column("attempt_id", sa.Text(), nullable=False),
        sa.Column("person", sa.Text(), nullable=False),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("captcha_shown_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("passed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("wrong_answers", sa.Integer(), nullable=False),
        sa.Column("person_seconds", sa.Double(), nullable=False),
        sa.Column("reads", sa.Integer(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "state IN ('running', 'read', 'abandoned', 'refused', 'failed')",
            name="ck_assisted_attempts_state",
        ),
        sa.CheckConstraint(
            "answers >= wrong_answers AND wrong_answers >= 0 AND reads >= 0",
            name="ck_assisted_attempts_counts",
        ),
        sa.PrimaryKeyConstraint("attempt_id", name="pk_assisted_attempts"),
    )
    op.create_index(
        "ix_assisted_attempts_person_service_started_at",
        "assisted_attempts",
        ["person", "service", "started_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_assisted_attempts_person_service_started_at", "assisted_attempts")
    op.drop_table("assisted_attempts")
    with op.batch_alter_table("probes") as batch:
        batch.drop_index("ix_probes_person_started_at")
        batch.drop_constraint("person", type_="check")
        batch.drop_column("person")
        batch.drop_column("assisted")
