"""Cases held while their flow's remote model was down (status ``held``): a partial index finds them without reading
the flow's other cases, and stays empty while no model is down.

Revision ID: 0026
Revises: 0025
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

HELD = sa.text("status = 'held'")


def upgrade() -> None:
    op.create_index("ix_cases_held", "cases", ["flow", "id"], postgresql_where=HELD, sqlite_where=HELD)


def downgrade() -> None:
    op.drop_index("ix_cases_held", table_name="cases")
