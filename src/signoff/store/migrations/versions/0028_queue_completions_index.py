"""An index of tasks by flow, queue and completion time: the queue views find each queue's tasks completed in the
last hour by a range, and the queues themselves by walking the index's distinct (flow, queue) prefixes, rather
than by reading every task.

Revision ID: 0028
Revises: 0027
"""

from __future__ import annotations

from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tasks_flow_queue_completed", "tasks", ["flow", "queue", "completed_at"])


def downgrade() -> None:
    op.drop_index("ix_tasks_flow_queue_completed", table_name="tasks")
