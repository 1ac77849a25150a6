"""Claim order: priority, then earliest due time, then age; an index for claims across all queues.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

OPEN = sa.text("status <> 'done'")


def upgrade() -> None:
    op.drop_index("ix_tasks_open", table_name="tasks")
    op.create_index(
        "ix_tasks_open",
        "tasks",
        ["flow", "queue", sa.text("priority DESC"), sa.text("(due_at IS NULL)"), "due_at", "id"],
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )
    op.create_index(
        "ix_tasks_open_any",
        "tasks",
        [sa.text("priority DESC"), sa.text("(due_at IS NULL)"), "due_at", "id"],
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_open_any", table_name="tasks")
    op.drop_index("ix_tasks_open", table_name="tasks")
    op.create_index(
        "ix_tasks_open",
        "tasks",
        ["flow", "queue", sa.text("priority DESC"), "id"],
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )
