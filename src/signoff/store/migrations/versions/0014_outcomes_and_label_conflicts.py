"""Outcomes (ground truth that arrives later, one per case and source) and label conflicts (disagreeing labels of a
case, one per case and kind, with their resolution).

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from signoff.store.schema import UtcDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Document = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "outcomes",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("case_id", Id, nullable=False),
        sa.Column("flow", sa.String(63), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("source", sa.String(63), nullable=False),
        sa.Column("observed_at", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_outcomes_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcomes")),
        sa.UniqueConstraint("case_id", "source", name=op.f("uq_outcomes_case_id")),
    )
    op.create_index("ix_outcomes_flow", "outcomes", ["flow"])
    op.create_table(
        "label_conflicts",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("flow", sa.String(63), nullable=False),
        sa.Column("case_id", Id, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("details", Document, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("resolved_label", sa.String(100), nullable=True),
        sa.Column("resolved_by", sa.String(200), nullable=True),
        sa.Column("resolved_at", UtcDateTime(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_label_conflicts_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_label_conflicts")),
        sa.UniqueConstraint("case_id", "kind", name=op.f("uq_label_conflicts_case_id")),
    )
    op.create_index("ix_label_conflicts_flow", "label_conflicts", ["flow"])


def downgrade() -> None:
    op.drop_table("label_conflicts")
    op.drop_table("outcomes")
