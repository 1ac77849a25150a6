"""Webhook deliveries: each message sent to a webhook (its stable id, the sealed events it carries, its attempts,
last error and status, a dead letter after the webhook's max_attempts); the cursor now marks the events through
which deliveries have been logged, and the log keeps the attempts.

Revision ID: 0023
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from signoff.store.schema import UtcDateTime

revision = "0023"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("webhook", sa.String(63), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("delivered_at", UtcDateTime(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index("ix_webhook_deliveries_webhook_status", "webhook_deliveries", ["webhook", "status", "first_seq"])
    op.create_index("ix_webhook_deliveries_first_seq", "webhook_deliveries", ["first_seq"])
    # In place on both databases (SQLite 3.25+ renames, 3.35+ drops a plain column).
    op.execute("ALTER TABLE webhook_cursors RENAME COLUMN delivered_seq TO logged_seq")
    op.drop_column("webhook_cursors", "attempts")
    op.drop_column("webhook_cursors", "last_error")


def downgrade() -> None:
    op.add_column("webhook_cursors", sa.Column("last_error", sa.Text(), nullable=True))
    op.add_column("webhook_cursors", sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
    op.execute("ALTER TABLE webhook_cursors RENAME COLUMN logged_seq TO delivered_seq")
    op.drop_index("ix_webhook_deliveries_first_seq", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_webhook_status", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
