"""The model registry: each model version's status, parent, training set, held-out metrics, stable fingerprint, who
registered it and who changed its status when. The versions recorded so far are the flow files' models: the newest of
each flow becomes its champion, the others are retired; none has lineage.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from signoff.store.schema import UtcDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Document = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    # Plain ADD COLUMN on both databases: no table rebuild on SQLite. The server default only fills the rows that
    # exist now; every insert names its status.
    op.add_column("model_versions", sa.Column("status", sa.String(20), nullable=False, server_default="champion"))
    if op.get_bind().dialect.name == "sqlite":  # SQLite adds a column's foreign key only inline
        op.execute("ALTER TABLE model_versions ADD COLUMN parent_id INTEGER REFERENCES model_versions (id)")
    else:
        op.add_column("model_versions", sa.Column("parent_id", Id, nullable=True))
        name = op.f("fk_model_versions_parent_id_model_versions")
        op.create_foreign_key(name, "model_versions", "model_versions", ["parent_id"], ["id"])
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE model_versions ADD COLUMN training_set_id INTEGER REFERENCES training_sets (id)")
    else:
        op.add_column("model_versions", sa.Column("training_set_id", Id, nullable=True))
        name = op.f("fk_model_versions_training_set_id_training_sets")
        op.create_foreign_key(name, "model_versions", "training_sets", ["training_set_id"], ["id"])
    op.add_column("model_versions", sa.Column("metrics", Document, nullable=True))
    op.add_column("model_versions", sa.Column("fingerprint", sa.String(64), nullable=True))
    op.add_column("model_versions", sa.Column("created_by", sa.String(200), nullable=True))
    op.add_column("model_versions", sa.Column("status_changed_at", UtcDateTime(), nullable=True))
    op.add_column("model_versions", sa.Column("status_changed_by", sa.String(200), nullable=True))
    # One champion per flow: the newest recorded version (the model its flow file named last); the others retired.
    op.execute(
        "UPDATE model_versions SET status = 'retired' "
        "WHERE id NOT IN (SELECT max(id) FROM model_versions GROUP BY flow)"
    )
    op.create_index("ix_model_versions_flow_fingerprint", "model_versions", ["flow", "fingerprint"], unique=True)
    op.create_index("ix_model_versions_flow_status", "model_versions", ["flow", "status"])


def downgrade() -> None:
    op.drop_index("ix_model_versions_flow_status", "model_versions")
    op.drop_index("ix_model_versions_flow_fingerprint", "model_versions")
    with op.batch_alter_table("model_versions") as batch:
        for column in (
            "status_changed_by",
            "status_changed_at",
            "created_by",
            "fingerprint",
            "metrics",
            "training_set_id",
            "parent_id",
            "status",
        ):
            batch.drop_column(column)
