"""Whom a case is about (the flow's entity field), indexed so that a reviewer sees earlier decisions on it;
audit events indexed by entity, for a case's decision record.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cases", sa.Column("entity", sa.String(200), nullable=True))
    op.create_index("ix_cases_flow_entity", "cases", ["flow", "entity", "id"])
    op.create_index("ix_audit_events_entity", "audit_events", ["entity", "entity_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_entity", table_name="audit_events")
    op.drop_index("ix_cases_flow_entity", table_name="cases")
    op.drop_column("cases", "entity")
