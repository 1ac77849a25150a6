"""Retrain runs: one row per retrain of a flow, its status, last step, heartbeat and what it produced.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from signoff.store.schema import UtcDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ACTIVE = sa.text("status IN ('queued', 'running')")


def upgrade() -> None:
    op.create_table(
        "retrain_runs",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("flow", sa.String(63), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("step", sa.String(20), nullable=True),
        sa.Column("attempt", sa.Integer(), server_default="0", nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=True),
        sa.Column("heartbeat_at", UtcDateTime(), nullable=True),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.Column("training_set_id", Id, sa.ForeignKey("training_sets.id"), nullable=True),
        sa.Column("model_version_id", Id, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("warning", sa.Text(), nullable=True),
        sa.Column("mlflow_run_id", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_version_id"], ["model_versions.id"], name=op.f("fk_retrain_runs_model_version_id_model_versions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retrain_runs")),
    )
    op.create_index("ix_retrain_runs_flow", "retrain_runs", ["flow", "id"])
    op.create_index(
        "ix_retrain_runs_active", "retrain_runs", ["flow"], unique=True, postgresql_where=ACTIVE, sqlite_where=ACTIVE
    )


def downgrade() -> None:
    op.drop_index("ix_retrain_runs_active", table_name="retrain_runs")
    op.drop_index("ix_retrain_runs_flow", table_name="retrain_runs")
    op.drop_table("retrain_runs")
