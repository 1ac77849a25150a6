"""Indexes for the metrics' windows of review work: a flow's tasks by creation time, and reviews by submission time,
so that a window's tasks and reviews are found by a range rather than by reading every row.

Revision ID: 0025
Revises: 0024
"""

from __future__ import annotations

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tasks_flow_created", "tasks", ["flow", "created_at"])
    op.create_index("ix_reviews_created", "reviews", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_reviews_created", table_name="reviews")
    op.drop_index("ix_tasks_flow_created", table_name="tasks")
