"""Shadow and canary: the scores a challenger or the champion gives a case without effect, and a canary's share of
cases with the field that keeps an entity's cases together.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from signoff.store.schema import UtcDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Document = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "shadow_predictions",
        sa.Column("model_version_id", Id, nullable=False),
        sa.Column("case_id", Id, nullable=False),
        sa.Column("probabilities", Document, nullable=True),
        sa.Column("label", sa.String(100), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name=op.f("fk_shadow_predictions_model_version_id_model_versions"),
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_shadow_predictions_case_id_cases")),
        sa.PrimaryKeyConstraint("model_version_id", "case_id", name=op.f("pk_shadow_predictions")),
    )
    op.add_column("model_versions", sa.Column("canary_share", sa.Float(), nullable=True))
    op.add_column("model_versions", sa.Column("canary_sticky_by", sa.String(63), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("canary_sticky_by")
        batch.drop_column("canary_share")
    op.drop_table("shadow_predictions")
