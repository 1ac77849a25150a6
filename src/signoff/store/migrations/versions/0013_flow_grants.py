"""Roles per flow: a user's roles become grants (user, flow or "*" for every flow, role). Every existing user keeps
what they could do, as a grant of their role on "*".

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from signoff.store.schema import UtcDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "grants",
        sa.Column("user_id", Id, nullable=False),
        sa.Column("flow", sa.String(63), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_grants_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", "flow", "role", name=op.f("pk_grants")),
    )
    op.execute("INSERT INTO grants (user_id, flow, role, created_at) SELECT id, '*', role, created_at FROM users")
    op.drop_column("users", "role")  # SQLite 3.35+ drops a plain column in place


def downgrade() -> None:
    op.add_column("users", sa.Column("role", sa.String(20), nullable=False, server_default="intake"))
    # The broadest role each user held anywhere: one role per user is all the older schema can say.
    op.execute(
        "UPDATE users SET role = COALESCE((SELECT g.role FROM grants g WHERE g.user_id = users.id ORDER BY "
        "CASE g.role WHEN 'admin' THEN 0 WHEN 'lead' THEN 1 WHEN 'auditor' THEN 2 WHEN 'owner' THEN 3 "
        "WHEN 'reviewer' THEN 4 ELSE 5 END LIMIT 1), 'intake')"
    )
    op.drop_table("grants")
