"""The lead page lists the latest escalations: a partial index over the escalation sweep's audit events, so that
reading them never scans the whole log (and costs the other events' inserts nothing).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_audit_events_escalation",
        "audit_events",
        ["id"],
        postgresql_where=sa.text("actor = 'escalation'"),
        sqlite_where=sa.text("actor = 'escalation'"),
    )


def downgrade() -> None:
    op.drop_index("ix_audit_events_escalation", table_name="audit_events")
