"""Training sets and their examples: the lineage of every model trained from the flow's labels.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from signoff.store.schema import UtcDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "training_sets",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("flow", sa.String(63), nullable=False),
        sa.Column("window_start", UtcDateTime(), nullable=False),
        sa.Column("window_end", UtcDateTime(), nullable=False),
        sa.Column("validation_start", UtcDateTime(), nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=True),
        sa.Column("holdout", sa.Float(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_sets")),
    )
    op.create_index("ix_training_sets_flow", "training_sets", ["flow", "id"])
    op.create_table(
        "training_examples",
        sa.Column("training_set_id", Id, nullable=False),
        sa.Column("case_id", Id, nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("part", sa.String(10), nullable=False),
        sa.Column("labelled_at", UtcDateTime(), nullable=False),
        sa.Column("inclusion_probability", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["training_set_id"], ["training_sets.id"], name=op.f("fk_training_examples_training_set_id_training_sets")
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_training_examples_case_id_cases")),
        sa.PrimaryKeyConstraint("training_set_id", "case_id", name=op.f("pk_training_examples")),
    )
    op.create_index(op.f("ix_training_examples_case_id"), "training_examples", ["case_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_training_examples_case_id"), table_name="training_examples")
    op.drop_table("training_examples")
    op.drop_index("ix_training_sets_flow", table_name="training_sets")
    op.drop_table("training_sets")
