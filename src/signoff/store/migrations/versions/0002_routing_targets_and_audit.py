"""Routing targets (role, SLA), the random audit (inclusion probability) and task kinds.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from signoff.store.schema import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN on both databases: a batch (copy-and-move) on SQLite would rebuild the tasks table and
    # lose the DESC in the claim index.
    op.add_column("routes", sa.Column("role", sa.String(length=20), nullable=True))
    op.add_column("routes", sa.Column("sla", sa.Float(), nullable=True))
    op.add_column("routes", sa.Column("inclusion_probability", sa.Float(), nullable=True))
    op.add_column("tasks", sa.Column("kind", sa.String(length=20), nullable=False, server_default=sa.text("'review'")))
    op.add_column("tasks", sa.Column("due_at", UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("due_at")
        batch.drop_column("kind")
    with op.batch_alter_table("routes") as batch:
        batch.drop_column("inclusion_probability")
        batch.drop_column("sla")
        batch.drop_column("role")
