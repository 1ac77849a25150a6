"""Active learning: the automatically decided cases offered to reviewers with spare capacity, each with the
probability that the draw chose it.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from signoff.store.schema import UtcDateTime

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "al_selections",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("case_id", Id, nullable=False),
        sa.Column("flow", sa.String(63), nullable=False),
        sa.Column("task_id", Id, nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("margin", sa.Float(), nullable=False),
        sa.Column("strategy", sa.String(20), nullable=False),
        sa.Column("pool_size", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_al_selections_case_id_cases")),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_al_selections_task_id_tasks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_al_selections")),
        sa.UniqueConstraint("case_id", name=op.f("uq_al_selections_case_id")),
    )
    op.create_index(op.f("ix_al_selections_flow"), "al_selections", ["flow"])


def downgrade() -> None:
    op.drop_index(op.f("ix_al_selections_flow"), table_name="al_selections")
    op.drop_table("al_selections")
