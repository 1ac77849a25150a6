"""Metric rollups: hourly cells of a flow's cases (verdicts and rules, drift bins) and the mark up to which each
scope is folded, and the drift references that can no longer change.

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from signoff.store.schema import UtcDateTime

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

Document = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "case_cells",
        sa.Column("flow", sa.String(63), nullable=False),
        sa.Column("scope", sa.String(80), nullable=False),
        sa.Column("hour", UtcDateTime(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("flow", "scope", "hour", "kind", "key", name=op.f("pk_case_cells")),
    )
    op.create_table(
        "rollup_marks",
        sa.Column("flow", sa.String(63), nullable=False),
        sa.Column("scope", sa.String(80), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("flow", "scope", name=op.f("pk_rollup_marks")),
    )
    op.create_table(
        "drift_references",
        sa.Column("flow", sa.String(63), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("document", Document, nullable=False),
        sa.PrimaryKeyConstraint("flow", "name", name=op.f("pk_drift_references")),
    )
    not_model = sa.text("decided_by <> 'model'")
    op.create_index(
        "ix_decisions_not_model", "decisions", ["created_at"], postgresql_where=not_model, sqlite_where=not_model
    )


def downgrade() -> None:
    op.drop_index("ix_decisions_not_model", table_name="decisions")
    op.drop_table("drift_references")
    op.drop_table("rollup_marks")
    op.drop_table("case_cells")
