"""Each audit seal names the version of the canonical encoding it hashed, so that the encoding can change without
making older seals unverifiable. Every seal made so far used version 1.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit_seals", sa.Column("encoding", sa.SmallInteger(), nullable=False, server_default="1"))


def downgrade() -> None:
    op.drop_column("audit_seals", "encoding")
