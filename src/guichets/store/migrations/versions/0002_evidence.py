"""evidence: WARC files, their records, the ledger (a hash chain per service) and its heads

Revision ID: 0002_evidence
Revises: 0001
Create Date: 2026-11-27

See ``docs/evidence.md``: every probe's request and response records sit in WARC files under the
data directory; these tables hold their SHA-256 digests and where they are, and the ledger commits
each probe to the previous one of its service.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_evidence"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evidence_files",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.Text(), nullable=True),
        sa.Column("hostname", sa.Text(), nullable=False),
        sa.Column("software", sa.Text(), nullable=False),
        sa.Column("clock", sa.Text(), nullable=False),
        sa.Column("pruned_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_evidence_files"),
    )
    op.create_table(
        "evidence_records",
        sa.Column("record_id", sa.Text(), nullable=False),
        sa.Column("probe_id", sa.Text(), nullable=True),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("file", sa.Text(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("pruned_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["probe_id"], ["probes.probe_id"], name="fk_evidence_records_probe_id_probes"
        ),
        sa.ForeignKeyConstraint(
            ["file"], ["evidence_files.name"], name="fk_evidence_records_file_evidence_files"
        ),
        sa.PrimaryKeyConstraint("record_id", name="pk_evidence_records"),
    )
    op.create_index(
        "ix_evidence_records_probe_id_ordinal", "evidence_records", ["probe_id", "ordinal"]
    )
    op.create_index("ix_evidence_records_file_position", "evidence_records", ["file", "position"])
    op.create_table(
        "evidence_ledger",
        sa.Column("probe_id", sa.Text(), nullable=False),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("records_sha256", sa.Text(), nullable=False),
        sa.Column("probe_sha256", sa.Text(), nullable=False),
        sa.Column("entry_sha256", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["probe_id"], ["probes.probe_id"], name="fk_evidence_ledger_probe_id_probes"
        ),
        sa.PrimaryKeyConstraint("probe_id", name="pk_evidence_ledger"),
        sa.UniqueConstraint("service", "seq", name="uq_evidence_ledger_service_seq"),
    )
    op.create_table(
        "evidence_heads",
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("entry_sha256", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("service", name="pk_evidence_heads"),
    )


def downgrade() -> None:
    op.drop_table("evidence_heads")
    op.drop_table("evidence_ledger")
    op.drop_index("ix_evidence_records_file_position", table_name="evidence_records")
    op.drop_index("ix_evidence_records_probe_id_ordinal", table_name="evidence_records")
    op.drop_table("evidence_records")
    op.drop_table("evidence_files")
