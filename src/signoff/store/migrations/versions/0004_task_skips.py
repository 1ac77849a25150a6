"""Skips: a reviewer may pass a task on (or mark it unsure) with a reason; they are not offered it again.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from signoff.store.schema import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "task_skips",
        sa.Column("task_id", Id, nullable=False),
        sa.Column("reviewer_id", Id, nullable=False),
        sa.Column("token", sa.Integer(), nullable=False),
        sa.Column("unsure", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_task_skips_task_id_tasks")),
        sa.ForeignKeyConstraint(["reviewer_id"], ["users.id"], name=op.f("fk_task_skips_reviewer_id_users")),
        sa.PrimaryKeyConstraint("task_id", "reviewer_id", name=op.f("pk_task_skips")),
    )


def downgrade() -> None:
    op.drop_table("task_skips")
