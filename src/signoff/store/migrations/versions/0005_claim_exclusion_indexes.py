"""Indexes for the claim's exclusions: what a reviewer skipped, reviewed, or holds.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

LEASED = sa.text("status = 'leased'")


def upgrade() -> None:
    op.create_index(
        "ix_tasks_leased_owner", "tasks", ["lease_owner", "case_id"], postgresql_where=LEASED, sqlite_where=LEASED
    )
    op.create_index("ix_task_skips_reviewer", "task_skips", ["reviewer_id", "task_id"])
    op.create_index("ix_reviews_reviewer", "reviews", ["reviewer_id", "case_id"])


def downgrade() -> None:
    op.drop_index("ix_reviews_reviewer", table_name="reviews")
    op.drop_index("ix_task_skips_reviewer", table_name="task_skips")
    op.drop_index("ix_tasks_leased_owner", table_name="tasks")
