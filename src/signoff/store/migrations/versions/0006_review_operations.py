"""Review operations: reviewer skills, lead assignment, four eyes (submitter, conflicts), gold tasks, pauses,
fatigue limits (reviews by time) and webhook delivery cursors.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from signoff.store.schema import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Document = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    # Plain ADD COLUMN (no table rebuild on SQLite, which would drop the expression indexes of tasks).
    op.add_column("users", sa.Column("skills", Document, nullable=True))
    op.add_column("cases", sa.Column("submitted_by", sa.String(200), nullable=True))
    op.create_index("ix_cases_submitted_by", "cases", ["submitted_by"])
    if op.get_bind().dialect.name == "sqlite":  # SQLite adds a column's foreign key only inline
        op.execute("ALTER TABLE tasks ADD COLUMN assignee INTEGER REFERENCES users (id)")
    else:
        op.add_column("tasks", sa.Column("assignee", Id, nullable=True))
        op.create_foreign_key(op.f("fk_tasks_assignee_users"), "tasks", "users", ["assignee"], ["id"])
    op.create_index("ix_reviews_reviewer_created", "reviews", ["reviewer_id", "created_at"])
    op.create_table(
        "conflicts",
        sa.Column("reviewer_id", Id, nullable=False),
        sa.Column("case_id", Id, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("marked_by", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["reviewer_id"], ["users.id"], name=op.f("fk_conflicts_reviewer_id_users")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_conflicts_case_id_cases")),
        sa.PrimaryKeyConstraint("reviewer_id", "case_id", name=op.f("pk_conflicts")),
    )
    op.create_table(
        "gold_answers",
        sa.Column("case_id", Id, nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_gold_answers_case_id_cases")),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_gold_answers")),
    )
    op.create_table(
        "reviewer_pauses",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("reviewer_id", Id, nullable=False),
        sa.Column("flow", sa.String(63), nullable=False),
        sa.Column("queue", sa.String(63), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("lifted_at", UtcDateTime(), nullable=True),
        sa.Column("lifted_by", sa.String(200), nullable=True),
        sa.ForeignKeyConstraint(["reviewer_id"], ["users.id"], name=op.f("fk_reviewer_pauses_reviewer_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviewer_pauses")),
    )
    op.create_index("ix_reviewer_pauses_reviewer_id", "reviewer_pauses", ["reviewer_id"])
    op.create_table(
        "webhook_cursors",
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("delivered_seq", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_webhook_cursors")),
    )


def downgrade() -> None:
    op.drop_table("webhook_cursors")
    op.drop_index("ix_reviewer_pauses_reviewer_id", table_name="reviewer_pauses")
    op.drop_table("reviewer_pauses")
    op.drop_table("gold_answers")
    op.drop_table("conflicts")
    op.drop_index("ix_reviews_reviewer_created", table_name="reviews")
    op.drop_column("tasks", "assignee")
    op.drop_index("ix_cases_submitted_by", table_name="cases")
    op.drop_column("cases", "submitted_by")
    op.drop_column("users", "skills")
